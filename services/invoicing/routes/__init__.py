"""Invoicing's routes, one module an area; each route parses, authorizes, calls `services.invoicing.service` and
shapes the answer."""

from services.invoicing.routes import invoices, payments, provider_invoices

routers = [provider_invoices.router, payments.router, invoices.router]
