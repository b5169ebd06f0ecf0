"""Notifications' routes; each route parses, authorizes, calls `services.notifications.service` and shapes the
answer."""

from services.notifications.routes import notifications

routers = [notifications.router]
