"""The change feed: timeline entries after a cursor, in the caller's own scope. The portal's live updates
poll it (only while a page is open) and resume from the last id they saw (`Last-Event-ID`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from services.intake.models import ServiceRequest, TimelineEntry
from services.intake.schemas import Changes
from shared.auth import CurrentUser
from shared.contracts import customer_view
from shared.contracts.enums import Role
from shared.http import MAX_ID
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")


@router.get("/changes", response_model=Changes, tags=["requests"])
async def changes(
    user: CurrentUser,
    db: SessionDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="a timeline entry's id")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="entries at most, 1 to 500")] = 200,
):
    """`{items: [{id, number, kind, status}], last_id}`: what changed after timeline entry `after`, oldest
    first. Without `after`, no items and the current `last_id`, the cursor to start from. A customer is not
    told of the provider's invoice and payment (customer_view); `last_id` still moves past them."""
    customer = user.role == Role.customer
    query = select(
        TimelineEntry.id,
        TimelineEntry.request_number,
        TimelineEntry.kind,
        TimelineEntry.status,
        *((TimelineEntry.detail,) if customer else ()),
    )
    if customer:
        query = query.join(ServiceRequest, ServiceRequest.number == TimelineEntry.request_number).where(
            ServiceRequest.customer_id == user.customer_id
        )
    elif user.role == Role.provider:
        query = query.join(ServiceRequest, ServiceRequest.number == TimelineEntry.request_number).where(
            ServiceRequest.provider_id == user.provider_id
        )
    if after is None:
        last = (await db.execute(select(func.max(TimelineEntry.id)))).scalar_one()
        return {"items": [], "last_id": last or 0}
    rows = (await db.execute(query.where(TimelineEntry.id > after).order_by(TimelineEntry.id).limit(limit))).all()
    items = [
        {
            "id": r.id,
            "number": r.request_number,
            "kind": r.kind,
            "status": customer_view.status(r.status) if customer else r.status,
        }
        for r in rows
        if not customer or customer_view.shows_event(r.kind, r.status, r.detail)
    ]
    return {"items": items, "last_id": rows[-1].id if rows else after}
