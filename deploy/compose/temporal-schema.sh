#!/bin/sh
# Temporal's two databases on the compose PostgreSQL, brought to the schema version this admin-tools image
# carries (the same version as the server image). Safe to run on every `docker compose up`: an existing database is
# kept, setup-schema skips a schema already past 0.0, update-schema applies only what is missing.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
schemas=/etc/temporal/schema/postgresql/v12

tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" --db "$db" "$@"; }

until nc -z "$POSTGRES_SEEDS" "$port"; do echo "temporal-schema: waiting for PostgreSQL"; sleep 1; done

for target in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db="${target%%:*}"
  kind="${target##*:}"
  tool create || echo "temporal-schema: database $db is already there"
  tool setup-schema -v 0.0
  tool update-schema -d "$schemas/$kind/versioned"
done
echo "temporal-schema: done"
