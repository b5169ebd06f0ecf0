"""The intake service: accounts, customers, sites, assets, requests. `uvicorn services.intake.app:app`"""
from services.intake import accounts, activities, changes, customers, openapi, overview, requests
from shared.service_app import create_app

app = create_app(
    "intake",
    [overview.router, accounts.router, accounts.internal, customers.router, requests.router, requests.internal,
     changes.router, openapi.router],
    activities.build,
)
# Every authenticated call checks its token against intake's own users table (see shared.auth.current_principal).
app.state.is_current = accounts.token_is_current
