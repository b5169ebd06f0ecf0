"""`/`: each person's start page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from services.web.session import PortalDep

router = APIRouter()
START = {
    "customer": "/overview",
    "provider": "/work-orders",
    "dispatcher": "/customers",
    "accounts_receivable": "/customers",
    "admin": "/customers",
}


@router.get("/")
async def home(portal: PortalDep):
    return RedirectResponse(START.get(portal.role, "/overview"), status_code=303)
