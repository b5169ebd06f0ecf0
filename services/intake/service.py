"""Intake's logic, called by its routes, its activities and the CLI alike: accounts and tokens, requests (their
numbers, workflows, visibility and search), customers' counts, and the read copy the workflow keeps."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fastapi import HTTPException, Request
from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.intake import views
from services.intake.models import (
    RecommendationRow,
    ServiceRequest,
    TimelineEntry,
    User,
    counters,
    idempotency_keys,
)
from services.intake.schemas import Counts, TokenOut, UserIn
from shared.auth import Principal, hash_password, issue_refresh_token, issue_token
from shared.contracts import customer_view, names
from shared.contracts.enums import BUCKETS, BillingStatus, Kind, OfferKind, Priority, Role, Status
from shared.contracts.messages import describe, portal_path
from shared.contracts.models import Audience, Recipient, RecordTransition, RequestState, StartRequest
from shared.contracts.search import CUSTOMER_KEY, PRIORITY_KEY, SLA_KEY, STATUS_KEY
from shared.counters import next_value
from shared.http import decode_cursor, page
from shared.idempotency import Idempotency

idempotency = Idempotency(idempotency_keys)
STAFF = (Role.dispatcher, Role.admin, Role.accounts_receivable)
SORTS = {"created_at", "-created_at", "updated_at", "-updated_at"}


# --- accounts and tokens ------------------------------------------------------------------------
def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=Role(user.role),
        email=user.email,
        name=user.full_name,
        customer_id=user.customer_id,
        provider_id=user.provider_id,
        org_admin=user.org_admin,
        token_version=user.token_version,
    )


def token_pair(user: User, session_started: int | None = None) -> TokenOut:
    principal = principal_of(user)
    token, ttl = issue_token(principal)
    refresh, refresh_ttl = issue_refresh_token(principal, session_started)
    return TokenOut(access_token=token, expires_in=ttl, refresh_token=refresh, refresh_expires_in=refresh_ttl)


async def create_user(db, body: UserIn) -> User:
    """Shared by `POST /users` and the CLI's create-admin."""
    user = User(
        email=body.email.lower(),
        password_hash=hash_password(body.password),
        full_name=body.full_name,
        role=body.role.value,
        customer_id=body.customer_id,
        provider_id=body.provider_id,
        org_admin=body.org_admin,
        phone=body.phone,
        notification_email=body.notification_email,
    )
    db.add(user)
    await db.flush()
    return user


async def is_current(engine: AsyncEngine, principal: Principal) -> bool:
    """Whether the token's user is still active, of the token's role, and the token of its current version: three
    columns read on a pooled connection, no ORM session. Asked on every call to every service, it cost intake
    3.1 ms of CPU per call through a session and an ORM `get`, most of it the database round trips."""
    async with engine.connect() as connection:
        user = (
            await connection.execute(
                select(User.active, User.token_version, User.role).where(User.id == principal.user_id)
            )
        ).one_or_none()
    return (
        user is not None
        and user.active
        and user.token_version == principal.token_version
        and user.role == principal.role.value
    )


async def token_is_current(request: Request, principal: Principal, token: str) -> bool:
    """Intake's own answer for `shared.auth.current_principal`: from its users table, no hop."""
    return await is_current(request.app.state.svc.db.engine, principal)


# --- requests ------------------------------------------------------------------------------------
def scope(user: Principal, what: str) -> str:
    return f"{user.user_id}:{what}"


def like_pattern(q: str) -> str:
    """A substring pattern for LIKE in which the user's own % and _ match themselves."""
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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


async def start_workflow(temporal, clocks, row: ServiceRequest, user: Principal) -> None:
    """Start (or find already started) the request's workflow; the id makes a repeat harmless, and a workflow
    that has already ended (paid or cancelled) is never started again."""
    start = StartRequest(
        number=row.number,
        customer_id=row.customer_id,
        asset_id=row.asset_id,
        kind=Kind(row.kind),
        priority=Priority(row.priority),
        summary=row.summary,
        created_at=row.created_at,
        actor=user.actor(),
        clocks=clocks,
    )
    with contextlib.suppress(WorkflowAlreadyStartedError):  # it ran and ended
        await temporal.start_workflow(
            names.SERVICE_REQUEST_WORKFLOW,
            start,
            id=names.request_workflow_id(row.number),
            task_queue=names.WORKFLOW_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(STATUS_KEY, Status.draft.value),
                    SearchAttributePair(PRIORITY_KEY, row.priority),
                    SearchAttributePair(CUSTOMER_KEY, str(row.customer_id)),
                    SearchAttributePair(SLA_KEY, False),
                ]
            ),
        )


async def search_requests(
    db,
    user: Principal,
    *,
    q: str | None,
    status: list[str] | None,
    priority: Priority | None,
    customer_id: int | None,
    provider_id: int | None,
    sort: str,
    limit: int,
    cursor: str | None,
    console: ConsoleFilters | None = None,
) -> dict:
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
    return page(
        rows,
        limit,
        lambda r: views.request_out(user, r),
        lambda last: {"v": getattr(last, sort.lstrip("-")).isoformat(), "id": last.id},
    )


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
        for column, first, last in (
            (ServiceRequest.created_at, self.created_from, self.created_to),
            (ServiceRequest.due_at, self.due_from, self.due_to),
        ):
            if first is not None:
                query = query.where(column >= datetime.combine(first, time.min, UTC))
            if last is not None and last < date.max:
                query = query.where(column < datetime.combine(last + timedelta(days=1), time.min, UTC))
        if self.sla_breached is not None:
            query = query.where(ServiceRequest.sla_breached == self.sla_breached)
        if self.billing_status is not None:
            query = query.where(ServiceRequest.billing_status == self.billing_status.value)
        return query


async def refreshed(db, number: str) -> ServiceRequest:
    db.expire_all()
    return (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one()


# --- customers -----------------------------------------------------------------------------------
async def bucket_counts(db, customer_ids: list[int]) -> dict[int, Counts]:
    """The five dashboard buckets, counted from the read copy in one grouped query."""
    if not customer_ids:
        return {}
    columns = [
        func.sum(case((ServiceRequest.status.in_([s.value for s in statuses]), 1), else_=0)).label(bucket)
        for bucket, statuses in BUCKETS.items()
    ]
    rows = await db.execute(
        select(ServiceRequest.customer_id, *columns)
        .where(ServiceRequest.customer_id.in_(customer_ids))
        .group_by(ServiceRequest.customer_id)
    )
    return {row.customer_id: Counts(**{b: int(getattr(row, b) or 0) for b in BUCKETS}) for row in rows}


async def next_number(db: AsyncSession, name: str) -> int:
    return await next_value(db, counters, name)


def format_request_number(value: int) -> str:
    return f"SR-{value:06d}"


# --- the read copy the workflow keeps (through activities) -------------------------------------


def apply_state(row: ServiceRequest, state: RequestState) -> None:
    row.status = state.status.value
    row.billing_status = state.billing_status.value
    row.work_order_number = state.work_order_number
    row.provider_id = state.provider_id
    row.scheduled_for = state.scheduled_for
    row.payment_reference = state.payment_reference
    row.accept_by = state.accept_by
    row.due_at = state.due_at
    row.sla_breached = state.sla_breached
    row.version = state.version


async def record_transition(db: AsyncSession, inp: RecordTransition) -> list[Recipient]:
    """Write the read copy and the timeline entry of one workflow event; idempotent on the event's seq."""
    state, event = inp.state, inp.event
    row = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == state.number))).scalar_one()
    if state.version > row.version:
        apply_state(row, state)
        row.updated_at = event.at
    exists = (
        await db.execute(
            select(TimelineEntry.id).where(TimelineEntry.request_number == state.number, TimelineEntry.seq == event.seq)
        )
    ).first()
    if not exists:
        if event.kind == "note" and event.detail.get("note_id"):
            # The note was written when it was posted; the event only gives it its place in order.
            await db.execute(
                update(TimelineEntry).where(TimelineEntry.id == event.detail["note_id"]).values(seq=event.seq)
            )
        else:
            db.add(
                TimelineEntry(
                    request_number=state.number,
                    seq=event.seq,
                    kind=event.kind,
                    status=event.status.value,
                    previous_status=event.previous_status.value if event.previous_status else None,
                    actor_user_id=event.actor.user_id,
                    actor_role=event.actor.role.value if event.actor.role else None,
                    actor_name=event.actor.name,
                    detail=event.detail,
                    at=event.at,
                )
            )
        if event.kind == "response":
            await db.execute(
                update(RecommendationRow)
                .where(RecommendationRow.id == event.detail["recommendation_id"])
                .values(decision=event.detail["decision"], comment=event.detail.get("comment"), responded_at=event.at)
            )
    await db.commit()
    return addressed(inp, await recipients(db, state, audiences_of(inp)))


def addressed(inp: RecordTransition, people: list[User]) -> list[Recipient]:
    """Who hears of an event and what each reads: the customer's contacts in the customer's words, and never of
    the provider's invoice or payment (customer_view); everyone else the event's own words (Deliver). Every
    email links to the portal page of the event."""
    state, event = inp.state, inp.event
    path = portal_path(state, event)
    customer_hears = customer_view.shows_event(event.kind, event.status.value, event.detail)
    customer_words: tuple[str, str] | None = None
    found = []
    for user in people:
        recipient = Recipient(
            user_id=user.id, email=user.notification_email or user.email, name=user.full_name, path=path
        )
        if user.role == Role.customer.value:
            if not customer_hears:
                continue
            customer_words = customer_words or describe(state, event, customer=True)
            recipient.subject, recipient.body = customer_words
        found.append(recipient)
    return found


def audiences_of(inp: RecordTransition) -> list[Audience]:
    """Who hears of an event: the workflow's audiences, and the dispatchers on every decline (docs/api.md), whatever
    the offer was (the workflow names nobody for a marketplace decline)."""
    audiences = list(inp.audiences)
    if inp.event.kind == "decline" and "dispatchers" not in audiences:
        audiences.append("dispatchers")
    return audiences


async def recipients(db: AsyncSession, state: RequestState, audiences: list[Audience]) -> list[User]:
    conditions: list[ColumnElement[bool]] = []
    for audience in audiences:
        if audience == "customer":
            conditions.append((User.role == Role.customer.value) & (User.customer_id == state.customer_id))
        elif audience == "provider" and state.provider_id is not None:
            conditions.append((User.role == Role.provider.value) & (User.provider_id == state.provider_id))
        elif audience == "offer" and state.offer_kind is not None:
            if state.offer_kind == OfferKind.marketplace:
                conditions.append(User.role == Role.provider.value)
            else:
                target = [state.offer_target_id] if state.offer_target_id is not None else []
                ids = state.offer_provider_ids or target
                conditions.append((User.role == Role.provider.value) & (User.provider_id.in_(ids)))
        elif audience == "dispatchers":
            conditions.append(User.role == Role.dispatcher.value)
        elif audience == "accounts_receivable":
            conditions.append(User.role == Role.accounts_receivable.value)
    if not conditions:
        return []
    return list(
        (await db.execute(select(User).where(User.active.is_(True), or_(*conditions)).order_by(User.id))).scalars()
    )
