"""The intake service: accounts, customers, sites, assets, requests. `uvicorn services.intake.app:app`"""

from services.intake import activities, routes, service
from shared.service_app import create_app

app = create_app("intake", routes.routers, activities.build)
# Every authenticated call checks its token against intake's own users table (see shared.auth.current_principal).
app.state.is_current = service.token_is_current
