"""One module per area of the portal, each with its own `router`; templates/<area>/ holds its screens."""
from services.web.pages import (
    account, assets, auth, customers, home, invoices, overview, providers, requests, work_events, admin,
)

ROUTERS = [auth.router, home.router, overview.router, requests.router, invoices.router, assets.router,
           account.router, customers.router, work_events.router, admin.router, providers.router]
