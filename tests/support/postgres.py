"""PostgreSQL for the tests: a testcontainers server where a Docker engine answers, otherwise the local
server (127.0.0.1:5432, trust auth). The PostgreSQL tests never skip."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import psycopg

from shared.settings import SERVICES

LOCAL_ADMIN_URL = os.environ.get("FIELDOPS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextmanager
def postgres_server():
    """Yields an admin URL (postgresql://...) of a server the tests may create databases on."""
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    yield LOCAL_ADMIN_URL


@contextmanager
def service_databases(admin_url: str):
    """One fresh database per service; dropped afterwards. Yields {service: sqlalchemy url}."""
    suffix = uuid.uuid4().hex[:8]
    names = {service: f"fieldops_test_{service}_{suffix}" for service in SERVICES}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield {service: f"{base}/{name}" for service, name in names.items()}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
