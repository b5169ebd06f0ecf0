"""Service requests: create, list, read, timeline, notes and cancel."""

from __future__ import annotations

import contextlib
import json

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from temporalio.service import RPCError

from services.intake import views
from services.intake.models import Asset, Customer, ServiceRequest, Site, TimelineEntry
from services.intake.schemas import (
    CancelIn,
    NoteIn,
    RequestIn,
    RequestOut,
    RequestPage,
    Search,
    Sort,
    Statuses,
    TimelineOut,
    TimelinePage,
)
from services.intake.service import (
    format_request_number,
    idempotency,
    load_visible,
    next_number,
    refreshed,
    scope,
    search_requests,
    start_workflow,
)
from shared.auth import CurrentUser, need
from shared.contracts import names
from shared.contracts.enums import Priority, Role, Status
from shared.contracts.models import CancelCommand, NoteAdded
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, errors, update_request
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.post("/requests", status_code=201, response_model=RequestOut, tags=["requests"], responses=errors(403, 404))
async def create_request(
    body: RequestIn,
    user: CurrentUser,
    db: SessionDep,
    state: StateDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
    if user.role == Role.customer:
        if body.customer_id != user.customer_id:
            raise HTTPException(404, "customer not found")
    else:
        need(user, Role.dispatcher, Role.admin)
        if await db.get(Customer, body.customer_id) is None:
            raise HTTPException(404, "customer not found")
    asset = await db.get(Asset, body.asset_id)
    if asset is None or (asset.customer_id != body.customer_id and user.role == Role.customer):
        raise HTTPException(404, "asset not found")
    if asset.customer_id != body.customer_id:
        raise HTTPException(422, "asset_id is not an asset of this customer")
    if replay := await idempotency.replay(db, key, scope(user, "requests"), body):
        # A first attempt may have died between its commit and starting the workflow: make sure it runs.
        number = json.loads(bytes(replay.body))["number"]
        first = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one()
        await start_workflow(temporal, state.settings.clocks(), first, user)
        return replay
    site = await db.get(Site, asset.site_id) if asset.site_id else None
    number = format_request_number(await next_number(db, "service_request"))
    now = utcnow()
    row = ServiceRequest(
        number=number,
        customer_id=body.customer_id,
        asset_id=asset.id,
        site_id=asset.site_id,
        kind=body.kind.value,
        priority=body.priority.value,
        summary=body.summary,
        detail=body.detail,
        status=Status.draft.value,
        created_by=user.user_id,
        created_at=now,
        updated_at=now,
        search_text=" ".join(
            filter(
                None,
                [
                    number,
                    asset.name,
                    asset.serial_number,
                    site.name if site else None,
                    site.address if site else None,
                    body.summary,
                ],
            )
        ).lower(),
    )
    db.add(row)
    await db.flush()
    out = RequestOut.model_validate(row)
    await idempotency.remember(db, key, scope(user, "requests"), body, 201, out)
    await db.commit()
    await start_workflow(temporal, state.settings.clocks(), row, user)
    return out


@router.get("/requests", response_model=RequestPage, tags=["requests"])
async def list_requests(
    user: CurrentUser,
    db: SessionDep,
    q: Search = None,
    status: Statuses = None,
    priority: Priority | None = None,
    customer_id: Id | None = None,
    sort: Sort = "-created_at",
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Newest first by default; `q` finds a part of the number, summary, asset, serial number or site; `status`
    may repeat. A customer sees its own requests, a provider those it holds."""
    return await search_requests(
        db,
        user,
        q=q,
        status=status,
        priority=priority,
        customer_id=customer_id,
        provider_id=None,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


@router.get("/requests/{number}", response_model=RequestOut, tags=["requests"], responses=errors(404))
async def get_request(number: str, user: CurrentUser, db: SessionDep):
    return views.request_out(user, await load_visible(db, user, number))


@router.get("/requests/{number}/timeline", response_model=TimelinePage, tags=["requests"], responses=errors(404))
async def timeline(number: str, user: CurrentUser, db: SessionDep):
    """Every entry at once, oldest first (`next_cursor` is always null)."""
    await load_visible(db, user, number)
    rows = (
        await db.execute(
            select(TimelineEntry)
            .where(TimelineEntry.request_number == number)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    ).scalars()
    return {"items": views.timeline_out(user, rows), "next_cursor": None}


@router.post(
    "/requests/{number}/notes", status_code=201, response_model=TimelineOut, tags=["requests"], responses=errors(404)
)
async def add_note(
    number: str, body: NoteIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None
):
    row = await load_visible(db, user, number)
    where = scope(user, f"notes:{number}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    entry = TimelineEntry(
        request_number=number,
        kind="note",
        status=row.status,
        actor_user_id=user.user_id,
        actor_role=user.role.value,
        actor_name=user.name or user.email,
        detail={"body": body.body},
        at=utcnow(),
    )
    db.add(entry)
    await db.flush()
    out = views.timeline_out(user, [entry])[0]
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    # The workflow sends the emails, once, even if this process dies right after. If the request's workflow has
    # ended, the note is kept and nobody is emailed.
    with contextlib.suppress(RPCError):
        await temporal.get_workflow_handle(names.request_workflow_id(number)).signal(
            names.NOTE_ADDED, NoteAdded(actor=user.actor(), note_id=entry.id, body=body.body)
        )
    return out


@router.post("/requests/{number}/cancel", response_model=RequestOut, tags=["requests"], responses=errors(403, 404, 409))
async def cancel(
    number: str, body: CancelIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None
):
    need(user, Role.customer, Role.dispatcher, Role.admin)
    await load_visible(db, user, number)
    try:
        await update_request(temporal, number, names.CANCEL, CancelCommand(actor=user.actor(), reason=body.reason), key)
    except HTTPException as exc:
        raise views.refusal(user, exc) from exc
    return views.request_out(user, await refreshed(db, number))
