"""The account screens: profile, password, notifications, and an organisation admin's contacts."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from services.web.client import ServiceDown
from services.web.session import PortalDep, check_csrf

router = APIRouter(dependencies=[Depends(check_csrf)])


@router.get("/notifications/unread")
async def unread_badge(portal: PortalDep):
    """The header's unread count: a small part every page loads and refreshes when something changes."""
    try:
        count = (await portal.get("/notifications/unread-count"))["unread"]
    except ServiceDown:
        return HTMLResponse("")
    label = f'<span class="badge" aria-label="{count} unread">{count}</span>' if count else ""
    return HTMLResponse(label)
