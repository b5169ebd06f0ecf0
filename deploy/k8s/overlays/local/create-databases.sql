-- One database per service, made when the PostgreSQL volume is first initialised. Temporal's own two databases
-- (temporal, temporal_visibility) are made by the temporal-schema job of docker-compose.yml.
CREATE DATABASE fieldops_intake;
CREATE DATABASE fieldops_routing;
CREATE DATABASE fieldops_invoicing;
CREATE DATABASE fieldops_notifications;
