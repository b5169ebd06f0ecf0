"""One module per area of the portal, each with its own `router`; templates/<area>/ holds its screens."""

from services.web.pages import (
    account,
    admin,
    assets,
    auth,
    billing,
    customers,
    home,
    invoices,
    overview,
    providers,
    request_page,
    requests,
    work_events,
)

# Order matters only where paths overlap: /requests/new (requests) before /requests/{number} (request_page).
ROUTERS = [
    auth.router,
    home.router,
    overview.router,
    requests.router,
    request_page.router,
    invoices.router,
    assets.router,
    account.router,
    customers.router,
    work_events.router,
    billing.router,
    admin.router,
    providers.router,
]
