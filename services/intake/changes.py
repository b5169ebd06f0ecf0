"""The change feed: timeline entries after a cursor, in the caller's own scope. The portal's live updates
poll it (only while a page is open) and resume from the last id they saw (`Last-Event-ID`)."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import func, select

from services.intake.deps import ActiveUser
from services.intake.models import ServiceRequest, TimelineEntry
from shared.contracts.enums import Role
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")
# Provider-billing events are not the customer's to see (API.md, "What a customer sees").
PROVIDER_BILLING_KINDS = ("invoice_submitted", "payment_approved", "paid", "provider_invoice", "payment")


@router.get("/changes", tags=["requests"])
async def changes(user: ActiveUser, db: SessionDep, after: int | None = None, limit: int = 200) -> dict:
    """`{items: [{id, number, kind, status}], last_id}`: what changed after timeline entry `after`, oldest
    first. Without `after`, no items and the current `last_id`, the cursor to start from."""
    if after is not None and not 0 <= after < 2**62:
        raise HTTPException(422, "after must be a timeline id")
    query = select(TimelineEntry.id, TimelineEntry.request_number, TimelineEntry.kind, TimelineEntry.status)
    if user.role == Role.customer:
        query = (query.join(ServiceRequest, ServiceRequest.number == TimelineEntry.request_number)
                 .where(ServiceRequest.customer_id == user.customer_id,
                        TimelineEntry.kind.not_in(PROVIDER_BILLING_KINDS)))
    elif user.role == Role.provider:
        query = (query.join(ServiceRequest, ServiceRequest.number == TimelineEntry.request_number)
                 .where(ServiceRequest.provider_id == user.provider_id))
    if after is None:
        last = (await db.execute(select(func.max(TimelineEntry.id)))).scalar_one()
        return {"items": [], "last_id": last or 0}
    rows = (await db.execute(query.where(TimelineEntry.id > after).order_by(TimelineEntry.id)
                             .limit(max(1, min(limit, 500))))).all()
    items = [{"id": r.id, "number": r.request_number, "kind": r.kind, "status": r.status} for r in rows]
    return {"items": items, "last_id": items[-1]["id"] if items else after}
