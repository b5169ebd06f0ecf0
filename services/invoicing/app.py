"""The invoicing service: provider invoices, payment approval and runs, customer invoices and PDFs."""

from services.invoicing import activities, routes
from shared.service_app import create_app

app = create_app("invoicing", routes.routers, activities.build)
