"""The notifications service: email through SMTP and the in-portal feed, each message sent once."""
from services.notifications import activities, api
from shared.service_app import create_app

app = create_app("notifications", [api.router], activities.build)
