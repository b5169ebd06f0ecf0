"""The notifications service: email through SMTP and the in-portal feed, each message sent once."""

from services.notifications import activities, routes
from shared.service_app import create_app

app = create_app("notifications", routes.routers, activities.build)
