"""Routing's routes, one module an area; each route parses, authorizes, calls `services.routing.service` and
shapes the answer."""

from services.routing.routes import internal, providers, work_events, work_orders

routers = [providers.router, work_events.router, work_orders.router, internal.router]
