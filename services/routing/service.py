"""Routing's logic, called by its routes and its activities alike: providers' teams, the work-event actions as
workflow Updates, the work orders a provider may see, and keeping work orders in step with the workflow."""

from __future__ import annotations

import asyncio
import logging

from fastapi import HTTPException
from sqlalchemy import and_, exists, not_, or_, select

from services.routing.models import (
    FIRST_WORK_ORDER,
    Offer,
    Provider,
    Team,
    TeamMember,
    WorkOrder,
    counters,
    idempotency_keys,
)
from services.routing.schemas import BulkResult, TeamOut, WorkOrderCompleteIn, WorkOrderOut
from shared.auth import Principal, need
from shared.contracts import names
from shared.contracts.enums import OfferKind, Role
from shared.contracts.models import (
    AssignCommand,
    CancelCommand,
    Command,
    CompleteCommand,
    IssueWorkOrder,
    UpdateWorkOrder,
    WorkOrderCommand,
    WorkOrderIssued,
)
from shared.contracts.views import public_state
from shared.counters import next_value
from shared.db import utcnow
from shared.http import decode_cursor, page, update_request
from shared.idempotency import Idempotency
from shared.internal import internal_get

idempotency = Idempotency(idempotency_keys)
DISPATCH = (Role.dispatcher, Role.admin)
BILLING = (Role.accounts_receivable,)
# Updates in flight at once for one bulk action. Each waits on two activity round trips (record, notify), so more
# in flight hides latency: bench/bulk.py publishing 500 on a busy 2-core machine took 46 s at 16, 23-41 s at 48,
# 39 s at 64 (the figures move with the machine's load).
BULK_CONCURRENCY = 48
log = logging.getLogger("fieldops.routing")


# --- providers and teams ------------------------------------------------------------------------
async def team_out(db, team: Team) -> TeamOut:
    members = (
        await db.execute(
            select(TeamMember.provider_id).where(TeamMember.team_id == team.id).order_by(TeamMember.provider_id)
        )
    ).scalars()
    return TeamOut(id=team.id, name=team.name, provider_ids=list(members), created_at=team.created_at)


# --- work-event actions ---------------------------------------------------------------------------
def need_for(user: Principal, action: str) -> None:
    need(user, *(BILLING if action in ("invoiced", "invoice-not-required") else DISPATCH))


async def resolve_target(db, action: str, provider_id: int | None, team_id: int | None) -> list[int]:
    """Check the provider or team an action names; a team resolves to its members."""
    if action == "assign":
        if provider_id is None or await db.get(Provider, provider_id) is None:
            raise HTTPException(422, "provider_id must name an existing provider")
        return [provider_id]
    if action == "assign-team":
        if team_id is None or await db.get(Team, team_id) is None:
            raise HTTPException(422, "team_id must name an existing team")
        return list((await db.execute(select(TeamMember.provider_id).where(TeamMember.team_id == team_id))).scalars())
    return []


async def perform(
    temporal,
    user: Principal,
    action: str,
    number: str,
    *,
    targets: list[int],
    team_id: int | None = None,
    notes: str | None = None,
    reason: str | None = None,
    key: str | None = None,
) -> dict:
    """One work-event action on one request, as a workflow Update; shared by the single and bulk endpoints."""
    actor = user.actor()
    if action == "publish":
        update, command = names.PUBLISH, Command(actor=actor, notes=notes)
    elif action == "assign":
        update, command = (
            names.ASSIGN,
            AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.provider, provider_id=targets[0]),
        )
    elif action == "assign-team":
        update, command = (
            names.ASSIGN,
            AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.team, team_id=team_id, provider_ids=targets),
        )
    elif action == "send-to-marketplace":
        update, command = names.ASSIGN, AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.marketplace)
    elif action == "delete":
        update, command = (
            names.CANCEL,
            CancelCommand(actor=actor, reason=reason or "deleted by dispatcher", delete=True),
        )
    elif action == "approve-payment":
        update, command = names.APPROVE_PAYMENT, Command(actor=actor, notes=notes)
    elif action == "invoiced":
        update, command = names.MARK_INVOICED, Command(actor=actor, notes=notes)
    elif action == "invoice-not-required":
        update, command = names.MARK_INVOICE_NOT_REQUIRED, Command(actor=actor, notes=notes)
    else:
        raise HTTPException(422, f"unknown action {action}")
    return public_state(await update_request(temporal, number, update, command, key))


async def single(
    db,
    temporal,
    user: Principal,
    action: str,
    number: str,
    *,
    provider_id: int | None = None,
    team_id: int | None = None,
    notes: str | None = None,
    reason: str | None = None,
    key: str | None = None,
) -> dict:
    need_for(user, action)
    targets = await resolve_target(db, action, provider_id, team_id)
    return await perform(
        temporal, user, action, number, targets=targets, team_id=team_id, notes=notes, reason=reason, key=key
    )


async def bulk(
    temporal,
    user: Principal,
    action: str,
    numbers: list[str],
    *,
    targets: list[int],
    team_id: int | None,
    reason: str | None,
) -> list[BulkResult]:
    """Every request gets its own result: one failure never stops the others."""
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(number: str) -> BulkResult:
        async with gate:
            try:
                state = await perform(temporal, user, action, number, targets=targets, team_id=team_id, reason=reason)
                return BulkResult(number=number, ok=True, status=state["status"])
            except HTTPException as exc:
                return BulkResult(number=number, ok=False, detail=str(exc.detail))
            except Exception:  # noqa: BLE001 - whatever goes wrong with one request is that request's result
                log.exception("bulk %s failed for %s", action, number)  # the cause stays in the log
                return BulkResult(number=number, ok=False, detail=f"could not {action} {number}; try again")

    return list(await asyncio.gather(*(one(n) for n in dict.fromkeys(numbers))))


# --- providers' work orders ------------------------------------------------------------------------
def offered_to(provider_id: int):
    """Offered to this provider (directly, through a team, or on the marketplace) and not declined by it."""
    mine = and_(Offer.work_order_number == WorkOrder.number, Offer.provider_id == provider_id)
    return or_(
        and_(WorkOrder.offer_kind == OfferKind.marketplace.value, not_(exists().where(mine))),
        exists().where(mine, Offer.declined_at.is_(None)),
    )


async def work_orders_page(db, provider_id: int, view: str, limit: int, cursor: str | None) -> dict:
    """A provider's work orders in one of its three views, newest number first."""
    if view == "waiting":
        query = select(WorkOrder).where(WorkOrder.status == "offered", offered_to(provider_id))
    elif view == "accepted":
        query = select(WorkOrder).where(WorkOrder.accepted_by == provider_id, WorkOrder.status == "accepted")
    else:
        query = select(WorkOrder).where(
            WorkOrder.accepted_by == provider_id, WorkOrder.status.in_(["completed", "paid"])
        )
    if (after := decode_cursor(cursor, n=str)) is not None:
        query = query.where(WorkOrder.number < after["n"])
    rows = list((await db.execute(query.order_by(WorkOrder.number.desc()).limit(limit + 1))).scalars())
    return page(rows, limit, WorkOrderOut.model_validate, lambda w: {"n": w.number})


async def load_work_order(db, user: Principal, number: str) -> WorkOrder:
    need(user, Role.provider)
    row = await db.get(WorkOrder, number)
    if row is None:
        raise HTTPException(404, f"work order {number} not found")
    if row.accepted_by == user.provider_id:
        return row
    offered = (
        row.offer_kind == OfferKind.marketplace.value
        or (
            await db.execute(
                select(Offer).where(Offer.work_order_number == number, Offer.provider_id == user.provider_id)
            )
        ).first()
        is not None
    )
    if not offered:
        raise HTTPException(404, f"work order {number} not found")
    return row


PROVIDER_UPDATES = {
    "accept": names.ACCEPT,
    "decline": names.DECLINE,
    "start": names.START_WORK,
    "await-parts": names.AWAIT_PARTS,
    "resume": names.RESUME,
    "ready-for-return": names.READY_FOR_RETURN,
}


async def provider_action(
    db, temporal, user: Principal, wo: str, action: str, command: WorkOrderCommand, key: str | None
) -> dict:
    row = await load_work_order(db, user, wo)
    state = public_state(await update_request(temporal, row.request_number, action, command, key))
    if action == names.DECLINE:
        if user.provider_id is None:
            raise HTTPException(403, "only a provider declines an offer")
        await record_decline(db, wo, user.provider_id)
    return state


async def record_decline(db, wo: str, provider_id: int) -> None:
    """A team or marketplace offer stays open for the others; it leaves the decliner's waiting view."""
    offer = await db.get(Offer, (wo, provider_id))
    if offer is None:
        db.add(Offer(work_order_number=wo, provider_id=provider_id, declined_at=utcnow()))
    elif offer.declined_at is None:
        offer.declined_at = utcnow()
    await db.commit()


async def complete(
    db, temporal, settings, user: Principal, wo: str, body: WorkOrderCompleteIn, key: str | None
) -> dict:
    """Complete a work order with the provider's invoice, which must be a stored attachment of the request."""
    row = await load_work_order(db, user, wo)
    attachment = await internal_get(
        settings, "intake", f"requests/{row.request_number}/attachments/{body.invoice_attachment_id}"
    )
    if attachment is None:
        raise HTTPException(422, "invoice_attachment_id is not an attachment of this request")
    if attachment["status"] != "stored":
        raise HTTPException(422, "the invoice attachment's upload is not complete")
    if attachment["kind"] != "provider_invoice":
        raise HTTPException(422, "invoice_attachment_id must be an attachment of kind provider_invoice")
    command = CompleteCommand(
        actor=user.actor(), work_order_number=wo, notes=body.notes, invoice_attachment_id=body.invoice_attachment_id
    )
    return public_state(await update_request(temporal, row.request_number, names.COMPLETE, command, key))


# --- what the workflow asks (through activities) ---------------------------------------------------
async def issue_work_order(db, inp: IssueWorkOrder) -> WorkOrderIssued:
    # (request, assignment) is the natural key: a retried activity gets the number it got the first time.
    existing = (
        await db.execute(
            select(WorkOrder.number).where(
                WorkOrder.request_number == inp.request_number, WorkOrder.assignment == inp.assignment
            )
        )
    ).scalar()
    if existing:
        return WorkOrderIssued(number=existing)
    number = str(await next_value(db, counters, "work_order", FIRST_WORK_ORDER))
    db.add(
        WorkOrder(
            number=number,
            request_number=inp.request_number,
            assignment=inp.assignment,
            offer_kind=inp.offer_kind.value,
            provider_id=inp.provider_id,
            team_id=inp.team_id,
            customer_id=inp.customer_id,
            priority=inp.priority.value,
            summary=inp.summary,
        )
    )
    await db.flush()
    offered = [inp.provider_id] if inp.offer_kind == OfferKind.provider else inp.provider_ids
    for provider_id in dict.fromkeys(p for p in offered if p is not None):
        db.add(Offer(work_order_number=number, provider_id=provider_id))
    await db.commit()
    return WorkOrderIssued(number=number)


async def update_work_order(db, inp: UpdateWorkOrder) -> None:
    row = await db.get(WorkOrder, inp.number)
    if row is None:
        raise LookupError(f"work order {inp.number} not found")
    row.status = inp.status
    if inp.status == "accepted":
        row.accepted_by = inp.provider_id
    row.updated_at = utcnow()
    await db.commit()
