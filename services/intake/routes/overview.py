"""`GET /me/overview`: a customer's start page, gathered from intake and, over HTTP, invoicing and notifications.

The other services are asked through their public routes with the caller's own bearer token, so they apply the
same scoping to the customer as when it asks them itself; nothing here widens what the customer may see."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select

from services.intake import views
from services.intake.models import ServiceRequest
from services.intake.schemas import Counts, Overview, OverviewInvoices, OverviewNotifications
from services.intake.service import bucket_counts
from shared.auth import CurrentUser, bearer, need
from shared.contracts.enums import Role
from shared.http import errors
from shared.internal import UNANSWERED, call
from shared.service_app import SessionDep, StateDep

router = APIRouter(prefix="/api/v1")
RECENT = 10
TIMEOUT = 5


async def _ask(url: str, token: str | None) -> dict | None:
    try:
        response = await call("GET", url, {"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    except UNANSWERED:
        return None
    return response.json() if response.status_code == 200 else None


@router.get("/me/overview", response_model=Overview, tags=["accounts"], responses=errors(403))
async def overview(
    user: CurrentUser, db: SessionDep, state: StateDep, token: Annotated[str | None, Depends(bearer)]
) -> Overview:
    """Customer: the ten most recently changed requests, the five dashboard counts, outstanding invoices with
    their total, and the latest notifications with the unread count. A section whose service does not answer
    is empty and named in `unavailable`."""
    need(user, Role.customer)
    customer_id = user.customer_id
    if customer_id is None:
        raise HTTPException(403, "this account is not linked to a customer")
    settings = state.settings
    invoices_call = _ask(f"{settings.service_url('invoicing')}/api/v1/invoices?status=outstanding&limit=200", token)
    notifications_call = _ask(f"{settings.service_url('notifications')}/api/v1/notifications?limit=10", token)
    invoices, notifications = await asyncio.gather(invoices_call, notifications_call)
    rows = (
        await db.execute(
            select(ServiceRequest)
            .where(ServiceRequest.customer_id == user.customer_id)
            .order_by(ServiceRequest.updated_at.desc(), ServiceRequest.id.desc())
            .limit(RECENT)
        )
    ).scalars()
    counts = (await bucket_counts(db, [customer_id])).get(customer_id, Counts())
    unavailable = [
        name for name, answer in (("invoicing", invoices), ("notifications", notifications)) if answer is None
    ]
    invoice_items = (invoices or {}).get("items", [])
    total = sum((Decimal(i["total"]) for i in invoice_items), Decimal("0"))
    return Overview(
        customer_id=customer_id,
        counts=counts,
        recent_requests=[views.request_out(user, r) for r in rows],
        outstanding_invoices=OverviewInvoices(items=invoice_items, total_outstanding=f"{total:.2f}"),
        notifications=OverviewNotifications(
            items=(notifications or {}).get("items", []), unread_count=(notifications or {}).get("unread_count", 0)
        ),
        unavailable=unavailable,
    )
