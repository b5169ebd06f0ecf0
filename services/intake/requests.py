"""Service requests: create, search, read, timeline, notes, cancel, attachments and recommendations."""
from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import RedirectResponse
from sqlalchemy import and_, or_, select
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.intake import views
from services.intake.customers import IdempotencyKey, idempotency, like_pattern, scope
from services.intake.deps import ActiveUser
from services.intake.models import Asset, Attachment, Customer, RecommendationRow, ServiceRequest, Site, TimelineEntry
from services.intake.schemas import (
    AttachmentCompleteIn,
    AttachmentCreated,
    AttachmentIn,
    AttachmentOut,
    AttachmentPage,
    CancelIn,
    NoteIn,
    RecommendationIn,
    RecommendationOut,
    RecommendationPage,
    RequestIn,
    RequestOut,
    RequestPage,
    RespondIn,
    TimelineOut,
    TimelinePage,
)
from services.intake.service import format_request_number, next_number
from services.intake.storage import MAX_BYTES, allowed_content_type, family, sniff, storage
from shared.auth import Principal, need
from shared.contracts import names
from shared.contracts.enums import BillingStatus, Kind, Priority, Role, Status
from shared.contracts.models import CancelCommand, NoteAdded, RecommendCommand, RespondCommand, StartRequest
from shared.contracts.search import CUSTOMER_KEY, PRIORITY_KEY, SLA_KEY, STATUS_KEY
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, decode_cursor, encode_cursor, errors, parse_money, update_request
from shared.internal import require_service
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")
internal = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(require_service)])
STAFF = (Role.dispatcher, Role.admin, Role.accounts_receivable)
SORTS = {"created_at", "-created_at", "updated_at", "-updated_at"}
Search = Annotated[str | None, Query(max_length=200, description="a part of what is sought, any case")]
Statuses = Annotated[list[str] | None, Query(max_length=20, description="one or more statuses")]
Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at"]


def visible(user: Principal, row: ServiceRequest) -> bool:
    if user.role in STAFF:
        return True
    if user.role == Role.customer:
        return row.customer_id == user.customer_id
    return user.role == Role.provider and row.provider_id is not None and row.provider_id == user.provider_id


async def load_visible(db, user: Principal, number: str) -> ServiceRequest:
    row = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one_or_none()
    if row is None or not visible(user, row):
        raise HTTPException(404, f"request {number} not found")
    return row


@router.post("/requests", status_code=201, response_model=RequestOut, tags=["requests"], responses=errors(403, 404))
async def create_request(body: RequestIn, user: ActiveUser, db: SessionDep, state: StateDep, temporal: TemporalDep,
                         key: IdempotencyKey = None):
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
        number=number, customer_id=body.customer_id, asset_id=asset.id, site_id=asset.site_id, kind=body.kind.value,
        priority=body.priority.value, summary=body.summary, detail=body.detail, status=Status.draft.value,
        created_by=user.user_id, created_at=now, updated_at=now,
        search_text=" ".join(filter(None, [number, asset.name, asset.serial_number, site.name if site else None,
                                            site.address if site else None, body.summary])).lower(),
    )
    db.add(row)
    await db.flush()
    out = RequestOut.model_validate(row)
    await idempotency.remember(db, key, scope(user, "requests"), body, 201, out)
    await db.commit()
    await start_workflow(temporal, state.settings.clocks(), row, user)
    return out


async def start_workflow(temporal, clocks, row: ServiceRequest, user: Principal) -> None:
    """Start (or find already started) the request's workflow; the id makes a repeat harmless, and a workflow
    that has already ended (paid or cancelled) is never started again."""
    start = StartRequest(number=row.number, customer_id=row.customer_id, asset_id=row.asset_id, kind=Kind(row.kind),
                         priority=Priority(row.priority), summary=row.summary, created_at=row.created_at,
                         actor=user.actor(), clocks=clocks)
    with contextlib.suppress(WorkflowAlreadyStartedError):  # it ran and ended
        await temporal.start_workflow(
            names.SERVICE_REQUEST_WORKFLOW, start, id=names.request_workflow_id(row.number),
            task_queue=names.WORKFLOW_TASK_QUEUE, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(STATUS_KEY, Status.draft.value), SearchAttributePair(PRIORITY_KEY, row.priority),
                SearchAttributePair(CUSTOMER_KEY, str(row.customer_id)), SearchAttributePair(SLA_KEY, False)]),
        )


async def search_requests(db, user: Principal, *, q: str | None, status: list[str] | None, priority: Priority | None,
                          customer_id: int | None, provider_id: int | None, sort: str, limit: int,
                          cursor: str | None, console: ConsoleFilters | None = None) -> dict:
    if sort not in SORTS:
        raise HTTPException(422, f"sort must be one of {', '.join(sorted(SORTS))}")
    valid = {s.value for s in Status}
    for s in status or []:
        if s not in valid:
            raise HTTPException(422, f"unknown status {s}")
    status = views.status_filter(user, status)
    column = getattr(ServiceRequest, sort.lstrip("-"))
    descending = sort.startswith("-")
    query = select(ServiceRequest)
    if user.role == Role.customer:
        query = query.where(ServiceRequest.customer_id == user.customer_id)
    elif user.role == Role.provider:
        query = query.where(ServiceRequest.provider_id == user.provider_id)
    if customer_id is not None:
        query = query.where(ServiceRequest.customer_id == customer_id)
    if provider_id is not None:
        query = query.where(ServiceRequest.provider_id == provider_id)
    if status:
        query = query.where(ServiceRequest.status.in_(status))
    if priority is not None:
        query = query.where(ServiceRequest.priority == priority.value)
    if q:
        query = query.where(ServiceRequest.search_text.like(like_pattern(q.lower()), escape="\\"))
    if console is not None:
        query = console.apply(query)
    if (after := decode_cursor(cursor, v=datetime, id=int)) is not None:
        value, last_id = after["v"], after["id"]
        if descending:
            query = query.where(or_(column < value, and_(column == value, ServiceRequest.id < last_id)))
        else:
            query = query.where(or_(column > value, and_(column == value, ServiceRequest.id > last_id)))
    order = (column.desc(), ServiceRequest.id.desc()) if descending else (column.asc(), ServiceRequest.id.asc())
    rows = list((await db.execute(query.order_by(*order).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor({"v": getattr(last, sort.lstrip("-")).isoformat(), "id": last.id})
    return {"items": [views.request_out(user, r) for r in rows], "next_cursor": next_cursor}


@router.get("/requests", response_model=RequestPage, tags=["requests"])
async def list_requests(user: ActiveUser, db: SessionDep, q: Search = None, status: Statuses = None,
                        priority: Priority | None = None, customer_id: Id | None = None, sort: Sort = "-created_at",
                        limit: Limit = 50, cursor: Cursor = None):
    """Newest first by default; `q` finds a part of the number, summary, asset, serial number or site; `status`
    may repeat. A customer sees its own requests, a provider those it holds."""
    return await search_requests(db, user, q=q, status=status, priority=priority, customer_id=customer_id,
                                 provider_id=None, sort=sort, limit=limit, cursor=cursor)


@dataclass
class ConsoleFilters:
    """The operators' console's own filters: created and due date ranges (whole UTC days, both ends included),
    SLA breached or not, and the customer's billing status."""

    created_from: date | None = None
    created_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    sla_breached: bool | None = None
    billing_status: BillingStatus | None = None

    def apply(self, query):
        for column, first, last in ((ServiceRequest.created_at, self.created_from, self.created_to),
                                    (ServiceRequest.due_at, self.due_from, self.due_to)):
            if first is not None:
                query = query.where(column >= datetime.combine(first, time.min, UTC))
            if last is not None and last < date.max:
                query = query.where(column < datetime.combine(last + timedelta(days=1), time.min, UTC))
        if self.sla_breached is not None:
            query = query.where(ServiceRequest.sla_breached == self.sla_breached)
        if self.billing_status is not None:
            query = query.where(ServiceRequest.billing_status == self.billing_status.value)
        return query


@router.get("/work-events", response_model=RequestPage, tags=["work-events"], responses=errors(403))
async def list_work_events(user: ActiveUser, db: SessionDep, q: Search = None, status: Statuses = None,
                           priority: Priority | None = None, customer_id: Id | None = None,
                           provider_id: Id | None = None, created_from: date | None = None,
                           created_to: date | None = None, due_from: date | None = None, due_to: date | None = None,
                           sla_breached: bool | None = None, billing_status: BillingStatus | None = None,
                           sort: Sort = "-created_at", limit: Limit = 50, cursor: Cursor = None):
    """The operators' console list (served here, beside the read copy it filters). Besides the request list's
    filters: `created_from`/`created_to`, `due_from`/`due_to` (dates, both ends included), `sla_breached`
    (true/false) and `billing_status`."""
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    console = ConsoleFilters(created_from, created_to, due_from, due_to, sla_breached, billing_status)
    return await search_requests(db, user, q=q, status=status, priority=priority, customer_id=customer_id,
                                 provider_id=provider_id, sort=sort, limit=limit, cursor=cursor, console=console)


@router.get("/requests/{number}", response_model=RequestOut, tags=["requests"], responses=errors(404))
async def get_request(number: str, user: ActiveUser, db: SessionDep):
    return views.request_out(user, await load_visible(db, user, number))


@router.get("/requests/{number}/timeline", response_model=TimelinePage, tags=["requests"], responses=errors(404))
async def timeline(number: str, user: ActiveUser, db: SessionDep):
    """Every entry at once, oldest first (`next_cursor` is always null)."""
    await load_visible(db, user, number)
    rows = (await db.execute(select(TimelineEntry).where(TimelineEntry.request_number == number)
                             .order_by(TimelineEntry.at, TimelineEntry.id))).scalars()
    return {"items": views.timeline_out(user, rows), "next_cursor": None}


@router.post("/requests/{number}/notes", status_code=201, response_model=TimelineOut, tags=["requests"],
             responses=errors(404))
async def add_note(number: str, body: NoteIn, user: ActiveUser, db: SessionDep, temporal: TemporalDep,
                   key: IdempotencyKey = None):
    row = await load_visible(db, user, number)
    where = scope(user, f"notes:{number}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    entry = TimelineEntry(request_number=number, kind="note", status=row.status, actor_user_id=user.user_id,
                          actor_role=user.role.value, actor_name=user.name or user.email, detail={"body": body.body},
                          at=utcnow())
    db.add(entry)
    await db.flush()
    out = views.timeline_out(user, [entry])[0]
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    # The workflow sends the emails, once, even if this process dies right after; if the request's workflow has
    # ended, the note is kept and nobody is emailed.
    with contextlib.suppress(RPCError):
        await temporal.get_workflow_handle(names.request_workflow_id(number)).signal(
            names.NOTE_ADDED, NoteAdded(actor=user.actor(), note_id=entry.id, body=body.body))
    return out


@router.post("/requests/{number}/cancel", response_model=RequestOut, tags=["requests"],
             responses=errors(403, 404, 409))
async def cancel(number: str, body: CancelIn, user: ActiveUser, db: SessionDep, temporal: TemporalDep,
                 key: IdempotencyKey = None):
    need(user, Role.customer, Role.dispatcher, Role.admin)
    await load_visible(db, user, number)
    try:
        await update_request(temporal, number, names.CANCEL, CancelCommand(actor=user.actor(), reason=body.reason), key)
    except HTTPException as exc:
        raise views.refusal(user, exc) from exc
    return views.request_out(user, await refreshed(db, number))


async def refreshed(db, number: str) -> ServiceRequest:
    db.expire_all()
    return (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one()


# --- attachments -----------------------------------------------------------------------------------
@router.post("/requests/{number}/attachments", status_code=201, response_model=AttachmentCreated,
             tags=["attachments"], responses=errors(403, 404, 503))
async def create_attachment(number: str, body: AttachmentIn, user: ActiveUser, db: SessionDep, state: StateDep,
                            key: IdempotencyKey = None):
    await load_visible(db, user, number)
    if body.size_bytes > MAX_BYTES:
        raise HTTPException(413, "an attachment may be at most 500 MB")
    if not allowed_content_type(body.content_type):
        raise HTTPException(422, "only images, PDF and spreadsheets may be attached")
    if body.kind == "provider_invoice" and user.role != Role.provider:
        raise HTTPException(403, "only the provider attaches its invoice")
    where = scope(user, f"attachments:{number}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    attachment_id = str(uuid.uuid4())
    object_key = f"requests/{number}/{attachment_id}"
    upload, upload_id = await storage(state).presign_upload(object_key, body.content_type, body.size_bytes)
    row = Attachment(id=attachment_id, request_number=number, filename=body.filename, content_type=body.content_type,
                     size_bytes=body.size_bytes, kind=body.kind, object_key=object_key, upload_id=upload_id,
                     uploaded_by=user.user_id)
    db.add(row)
    await db.flush()
    out = {"id": attachment_id, "upload": upload, **AttachmentOut.model_validate(row).model_dump(mode="json")}
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    return out


@router.post("/requests/{number}/attachments/{attachment_id}/complete", response_model=AttachmentOut,
             tags=["attachments"], responses=errors(404, 409, 503))
async def complete_attachment(number: str, attachment_id: str, body: AttachmentCompleteIn, user: ActiveUser,
                              db: SessionDep, state: StateDep):
    await load_visible(db, user, number)
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number or row.uploaded_by != user.user_id:
        raise HTTPException(404, "attachment not found")
    if row.status == "stored":
        return row
    store = storage(state)
    if row.upload_id:
        if not body.parts:
            raise HTTPException(422, "a multipart upload is completed with its parts and their etags")
        try:
            await store.complete_multipart(row.object_key, row.upload_id, [p.model_dump() for p in body.parts])
        except HTTPException:
            raise  # the store is down: its 503 as it is
        except Exception as exc:  # botocore's ClientError: wrong or missing parts
            raise HTTPException(422, f"the parts could not be assembled: {exc}") from exc
    size = await store.size(row.object_key)
    if size is None:
        raise HTTPException(409, "nothing was uploaded yet")
    problem = None
    if size != row.size_bytes:
        problem = f"the stored file has {size} bytes, not the {row.size_bytes} announced"
    elif sniff(await store.head_bytes(row.object_key)) != family(row.content_type):
        problem = "the file's content is not an image, a PDF or a spreadsheet of the announced type"
    if problem:
        await store.delete(row.object_key)
        await db.delete(row)
        await db.commit()
        raise HTTPException(422, f"{problem}; the upload was removed")
    row.status = "stored"
    db.add(TimelineEntry(request_number=number, kind="attachment", actor_user_id=user.user_id,
                         actor_role=user.role.value, actor_name=user.name or user.email, at=utcnow(),
                         detail={"attachment_id": row.id, "filename": row.filename, "kind": row.kind}))
    await db.commit()
    return row


@router.get("/requests/{number}/attachments", response_model=AttachmentPage, tags=["attachments"],
            responses=errors(404))
async def list_attachments(number: str, user: ActiveUser, db: SessionDep):
    await load_visible(db, user, number)
    stored = select(Attachment).where(Attachment.request_number == number, Attachment.status == "stored")
    rows = (await db.execute(stored.order_by(Attachment.created_at))).scalars()
    return {"items": views.attachments_out(user, rows), "next_cursor": None}


@router.get("/requests/{number}/attachments/{attachment_id}/download", tags=["attachments"], status_code=307,
            response_class=RedirectResponse,
            responses={307: {"description": "to a short-lived link that downloads the file"}, **errors(404, 503)})
async def download_attachment(number: str, attachment_id: str, user: ActiveUser, db: SessionDep, state: StateDep):
    await load_visible(db, user, number)
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number or row.status != "stored" or not views.shows_attachment(user, row):
        raise HTTPException(404, "attachment not found")
    return RedirectResponse(await storage(state).download_url(row.object_key, row.filename), status_code=307)


# --- recommendations -------------------------------------------------------------------------------
@router.post("/requests/{number}/recommendations", status_code=201, response_model=RecommendationOut,
             tags=["recommendations"], responses=errors(403, 404, 409))
async def recommend(number: str, body: RecommendationIn, user: ActiveUser, db: SessionDep, temporal: TemporalDep,
                    key: IdempotencyKey = None):
    need(user, Role.provider)
    await load_visible(db, user, number)
    if body.estimated_cost is not None:
        try:
            parse_money(body.estimated_cost, "estimated_cost")
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    where = scope(user, f"recommendations:{number}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    row = RecommendationRow(request_number=number, provider_id=user.provider_id, summary=body.summary,
                            detail=body.detail, estimated_cost=body.estimated_cost, created_by=user.user_id)
    db.add(row)
    await db.commit()
    try:
        await update_request(temporal, number, names.RECOMMEND, RecommendCommand(
            actor=user.actor(), recommendation_id=row.id, summary=body.summary, estimated_cost=body.estimated_cost))
    except HTTPException:
        await db.delete(row)
        await db.commit()
        raise
    out = RecommendationOut.model_validate(row)
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    return out


@router.get("/requests/{number}/recommendations", response_model=RecommendationPage, tags=["recommendations"],
            responses=errors(404))
async def list_recommendations(number: str, user: ActiveUser, db: SessionDep):
    await load_visible(db, user, number)
    rows = (await db.execute(select(RecommendationRow).where(RecommendationRow.request_number == number)
                             .order_by(RecommendationRow.id))).scalars()
    return {"items": [RecommendationOut.model_validate(r) for r in rows], "next_cursor": None}


@router.post("/requests/{number}/recommendations/{rec_id}/respond", response_model=RecommendationOut,
             tags=["recommendations"], responses=errors(403, 404, 409))
async def respond(number: str, rec_id: Id, body: RespondIn, user: ActiveUser, db: SessionDep, temporal: TemporalDep,
                  key: IdempotencyKey = None):
    need(user, Role.customer)
    await load_visible(db, user, number)
    row = await db.get(RecommendationRow, rec_id)
    if row is None or row.request_number != number:
        raise HTTPException(404, "recommendation not found")
    try:
        await update_request(temporal, number, names.RESPOND, RespondCommand(
            actor=user.actor(), recommendation_id=rec_id, decision=body.decision, comment=body.comment), key)
    except HTTPException as exc:
        raise views.refusal(user, exc) from exc
    db.expire_all()
    return await db.get(RecommendationRow, rec_id)


# --- internal: what the other services ask of intake -------------------------------------------
@internal.get("/requests/{number}", response_model=RequestOut)
async def internal_request(number: str, db: SessionDep):
    row = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, "request not found")
    return row


@internal.get("/requests/{number}/attachments/{attachment_id}", response_model=AttachmentOut)
async def internal_attachment(number: str, attachment_id: str, db: SessionDep):
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number:
        raise HTTPException(404, "attachment not found")
    return row
