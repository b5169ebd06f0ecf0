"""Intake's routes, one module an area; each route parses, authorizes, calls `services.intake.service` and shapes
the answer. The order is the order routes are matched in."""

from services.intake.routes import (
    accounts,
    attachments,
    changes,
    customers,
    internal,
    openapi,
    overview,
    recommendations,
    requests,
    work_events,
)

routers = [
    overview.router,
    accounts.router,
    customers.router,
    requests.router,
    work_events.router,
    attachments.router,
    recommendations.router,
    internal.router,
    changes.router,
    openapi.router,
]
