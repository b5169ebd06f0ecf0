"""The routing service: providers, teams, work orders and offers, the work-event console."""

from services.routing import activities, routes
from shared.service_app import create_app

app = create_app("routing", routes.routers, activities.build)
