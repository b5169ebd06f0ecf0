"""The customer's overview: recent requests, outstanding invoices, latest notifications, quick links."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from services.web.session import PortalDep, check_csrf, need_role
from services.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])


@router.get("/overview")
async def overview(request: Request, portal: PortalDep):
    need_role(portal, "customer")
    return render(request, "overview.html", {"nav": "overview", "data": await portal.get("/me/overview")})
