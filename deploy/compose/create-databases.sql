-- One database per service (Temporal's auto-setup makes its own).
CREATE DATABASE fieldops_intake;
CREATE DATABASE fieldops_routing;
CREATE DATABASE fieldops_invoicing;
CREATE DATABASE fieldops_notifications;
