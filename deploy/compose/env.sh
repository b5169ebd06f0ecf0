# The settings docker-compose.yml gives every fieldops container (also used to generate routes.yml).
export FIELDOPS_INTAKE_URL=http://intake:8101
export FIELDOPS_ROUTING_URL=http://routing:8102
export FIELDOPS_INVOICING_URL=http://invoicing:8103
export FIELDOPS_NOTIFICATIONS_URL=http://notifications:8104
export FIELDOPS_WEB_URL=http://web:8105
