"""Routing's API: providers, teams, the work-event actions (one or many), and providers' work orders."""
from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from sqlalchemy import and_, exists, not_, or_, select

from services.routing.models import Offer, Provider, Team, TeamMember, WorkOrder, idempotency_keys
from services.routing.schemas import (
    AssignIn,
    AssignTeamIn,
    BulkIn,
    BulkOut,
    BulkResult,
    DeleteIn,
    NotesIn,
    ProviderIn,
    ProviderOut,
    ProviderPage,
    ScheduleIn,
    TeamIn,
    TeamOut,
    TeamPage,
    WorkOrderCompleteIn,
    WorkOrderOut,
    WorkOrderPage,
)
from shared.auth import CurrentUser, Principal, need
from shared.contracts import names
from shared.contracts.enums import OfferKind, Role
from shared.contracts.models import AssignCommand, CancelCommand, Command, CompleteCommand, WorkOrderCommand
from shared.contracts.views import public_state
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, RequestStateOut, decode_cursor, errors, page, update_request
from shared.idempotency import Idempotency
from shared.internal import internal_get, require_service
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")
internal = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(require_service)])
idempotency = Idempotency(idempotency_keys)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
DISPATCH = (Role.dispatcher, Role.admin)
BILLING = (Role.accounts_receivable,)
# Updates in flight at once for one bulk action. Each waits on two activity round trips (record, notify), so more
# in flight hides latency: bench/bulk.py publishing 500 on a busy 2-core machine took 46 s at 16, 23-41 s at 48,
# 39 s at 64 (the figures move with the machine's load).
BULK_CONCURRENCY = 48
log = logging.getLogger("fieldops.routing")
# What every lifecycle action answers: the request's state after it, or why it was refused.
TRANSITION: dict[str, Any] = {"response_model": RequestStateOut, "responses": errors(403, 404, 409)}


# --- providers and teams ------------------------------------------------------------------------
@router.post("/providers", status_code=201, response_model=ProviderOut, tags=["providers"], responses=errors(403))
async def create_provider(body: ProviderIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    need(user, *DISPATCH)
    where = f"{user.user_id}:providers"
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    return await idempotency.store_created(db, key, where, body, Provider(name=body.name, email=body.email),
                                           ProviderOut)


@router.get("/providers", response_model=ProviderPage, tags=["providers"], responses=errors(403))
async def list_providers(user: CurrentUser, db: SessionDep, q: Annotated[str | None, Query(max_length=200)] = None,
                         limit: Limit = 50, cursor: Cursor = None):
    need(user, *DISPATCH, *BILLING)
    query = select(Provider).order_by(Provider.id).limit(limit + 1)
    if q:
        query = query.where(Provider.name.ilike(f"%{q}%"))
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(Provider.id > after["id"])
    rows = list((await db.execute(query)).scalars())
    return page(rows, limit, ProviderOut.model_validate, lambda p: {"id": p.id})


async def team_out(db, team: Team) -> TeamOut:
    members = (await db.execute(select(TeamMember.provider_id).where(TeamMember.team_id == team.id)
                                .order_by(TeamMember.provider_id))).scalars()
    return TeamOut(id=team.id, name=team.name, provider_ids=list(members), created_at=team.created_at)


@router.post("/teams", status_code=201, response_model=TeamOut, tags=["providers"], responses=errors(403))
async def create_team(body: TeamIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    need(user, *DISPATCH)
    provider_ids = list(dict.fromkeys(body.provider_ids))
    found = set((await db.execute(select(Provider.id).where(Provider.id.in_(provider_ids)))).scalars())
    if missing := [p for p in provider_ids if p not in found]:
        raise HTTPException(422, f"unknown provider ids: {missing}")
    where = f"{user.user_id}:teams"
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    team = Team(name=body.name)
    db.add(team)
    await db.flush()
    for provider_id in provider_ids:
        db.add(TeamMember(team_id=team.id, provider_id=provider_id))
    await db.flush()
    out = await team_out(db, team)
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    return out


@router.get("/teams", response_model=TeamPage, tags=["providers"], responses=errors(403))
async def list_teams(user: CurrentUser, db: SessionDep, limit: Limit = 200, cursor: Cursor = None):
    """Teams are few: the default page is the largest, so one call usually answers every team."""
    need(user, *DISPATCH)
    query = select(Team).order_by(Team.id).limit(limit + 1)
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(Team.id > after["id"])
    teams = list((await db.execute(query)).scalars())
    listing = page(teams, limit, lambda t: t, lambda t: {"id": t.id})
    return {**listing, "items": [await team_out(db, t) for t in listing["items"]]}


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


async def perform(temporal, user: Principal, action: str, number: str, *, targets: list[int],
                  team_id: int | None = None, notes: str | None = None, reason: str | None = None,
                  key: str | None = None) -> dict:
    """One work-event action on one request, as a workflow Update; shared by the single and bulk endpoints."""
    actor = user.actor()
    if action == "publish":
        update, command = names.PUBLISH, Command(actor=actor, notes=notes)
    elif action == "assign":
        update, command = names.ASSIGN, AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.provider,
                                                  provider_id=targets[0])
    elif action == "assign-team":
        update, command = names.ASSIGN, AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.team,
                                                  team_id=team_id, provider_ids=targets)
    elif action == "send-to-marketplace":
        update, command = names.ASSIGN, AssignCommand(actor=actor, notes=notes, offer_kind=OfferKind.marketplace)
    elif action == "delete":
        update = names.CANCEL
        command = CancelCommand(actor=actor, reason=reason or "deleted by dispatcher", delete=True)
    elif action == "approve-payment":
        update, command = names.APPROVE_PAYMENT, Command(actor=actor, notes=notes)
    elif action == "invoiced":
        update, command = names.MARK_INVOICED, Command(actor=actor, notes=notes)
    elif action == "invoice-not-required":
        update, command = names.MARK_INVOICE_NOT_REQUIRED, Command(actor=actor, notes=notes)
    else:
        raise HTTPException(422, f"unknown action {action}")
    return public_state(await update_request(temporal, number, update, command, key))


async def single(db, temporal, user: Principal, action: str, number: str, *, provider_id: int | None = None,
                 team_id: int | None = None, notes: str | None = None, reason: str | None = None,
                 key: str | None = None) -> dict:
    need_for(user, action)
    targets = await resolve_target(db, action, provider_id, team_id)
    return await perform(temporal, user, action, number, targets=targets, team_id=team_id, notes=notes,
                         reason=reason, key=key)


@router.post("/work-events/bulk", response_model=BulkOut, tags=["work-events"], responses=errors(403))
async def bulk(body: BulkIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep):
    """Every request gets its own result: one failure never stops the others."""
    need_for(user, body.action)
    targets = await resolve_target(db, body.action, body.provider_id, body.team_id)
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(number: str) -> BulkResult:
        async with gate:
            try:
                state = await perform(temporal, user, body.action, number, targets=targets, team_id=body.team_id,
                                      reason=body.reason)
                return BulkResult(number=number, ok=True, status=state["status"])
            except HTTPException as exc:
                return BulkResult(number=number, ok=False, detail=str(exc.detail))
            except Exception:  # noqa: BLE001 - whatever goes wrong with one request is that request's result
                log.exception("bulk %s failed for %s", body.action, number)  # the cause stays in the log
                return BulkResult(number=number, ok=False, detail=f"could not {body.action} {number}; try again")

    results = await asyncio.gather(*(one(n) for n in dict.fromkeys(body.numbers)))
    return {"results": [r.model_dump(exclude_none=True) for r in results]}


@router.post("/work-events/{number}/publish", tags=["work-events"], **TRANSITION)
async def publish(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep, body: NotesIn | None = None,
                  key: IdempotencyKey = None):
    return await single(db, temporal, user, "publish", number, notes=body.notes if body else None, key=key)


@router.post("/work-events/{number}/assign", tags=["work-events"], **TRANSITION)
async def assign(number: str, body: AssignIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                 key: IdempotencyKey = None):
    return await single(db, temporal, user, "assign", number, provider_id=body.provider_id, notes=body.notes, key=key)


@router.post("/work-events/{number}/assign-team", tags=["work-events"], **TRANSITION)
async def assign_team(number: str, body: AssignTeamIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                      key: IdempotencyKey = None):
    return await single(db, temporal, user, "assign-team", number, team_id=body.team_id, notes=body.notes, key=key)


@router.post("/work-events/{number}/send-to-marketplace", tags=["work-events"], **TRANSITION)
async def send_to_marketplace(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                              body: NotesIn | None = None, key: IdempotencyKey = None):
    return await single(db, temporal, user, "send-to-marketplace", number, notes=body.notes if body else None, key=key)


@router.post("/work-events/{number}/delete", tags=["work-events"], **TRANSITION)
async def delete(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep, body: DeleteIn | None = None,
                 key: IdempotencyKey = None):
    return await single(db, temporal, user, "delete", number, reason=body.reason if body else None, key=key)


@router.post("/work-events/{number}/approve-payment", tags=["work-events"], **TRANSITION)
async def approve_payment(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                          body: NotesIn | None = None, key: IdempotencyKey = None):
    return await single(db, temporal, user, "approve-payment", number, notes=body.notes if body else None, key=key)


@router.post("/work-events/{number}/invoiced", tags=["work-events"], **TRANSITION)
async def invoiced(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep, body: NotesIn | None = None,
                   key: IdempotencyKey = None):
    return await single(db, temporal, user, "invoiced", number, notes=body.notes if body else None, key=key)


@router.post("/work-events/{number}/invoice-not-required", tags=["work-events"], **TRANSITION)
async def invoice_not_required(number: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                               body: NotesIn | None = None, key: IdempotencyKey = None):
    return await single(db, temporal, user, "invoice-not-required", number, notes=body.notes if body else None,
                         key=key)


# --- providers' work orders ------------------------------------------------------------------------
def offered_to(provider_id: int):
    """Offered to this provider (directly, through a team, or on the marketplace) and not declined by it."""
    mine = and_(Offer.work_order_number == WorkOrder.number, Offer.provider_id == provider_id)
    return or_(
        and_(WorkOrder.offer_kind == OfferKind.marketplace.value, not_(exists().where(mine))),
        exists().where(mine, Offer.declined_at.is_(None)),
    )


@router.get("/work-orders", response_model=WorkOrderPage, tags=["work-orders"], responses=errors(403))
async def list_work_orders(user: CurrentUser, db: SessionDep,
                           view: Literal["waiting", "accepted", "completed"] = "waiting",
                           limit: Limit = 50, cursor: Cursor = None):
    need(user, Role.provider)
    if user.provider_id is None:
        raise HTTPException(403, "this account is not linked to a provider")
    if view == "waiting":
        query = select(WorkOrder).where(WorkOrder.status == "offered", offered_to(user.provider_id))
    elif view == "accepted":
        query = select(WorkOrder).where(WorkOrder.accepted_by == user.provider_id, WorkOrder.status == "accepted")
    else:
        query = select(WorkOrder).where(WorkOrder.accepted_by == user.provider_id,
                                        WorkOrder.status.in_(["completed", "paid"]))
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
    offered = row.offer_kind == OfferKind.marketplace.value or (await db.execute(select(Offer).where(
        Offer.work_order_number == number, Offer.provider_id == user.provider_id))).first() is not None
    if not offered:
        raise HTTPException(404, f"work order {number} not found")
    return row


@router.get("/work-orders/{wo}", response_model=WorkOrderOut, tags=["work-orders"], responses=errors(403, 404))
async def get_work_order(wo: str, user: CurrentUser, db: SessionDep):
    return await load_work_order(db, user, wo)


PROVIDER_UPDATES = {"accept": names.ACCEPT, "decline": names.DECLINE, "start": names.START_WORK,
                    "await-parts": names.AWAIT_PARTS, "resume": names.RESUME,
                    "ready-for-return": names.READY_FOR_RETURN}


async def provider_action(db, temporal, user: Principal, wo: str, action: str, command: WorkOrderCommand,
                          key: str | None) -> dict:
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


def _provider_route(path: str, update: str):
    async def route(wo: str, user: CurrentUser, db: SessionDep, temporal: TemporalDep, body: NotesIn | None = None,
                    key: IdempotencyKey = None):
        command = WorkOrderCommand(actor=user.actor(), work_order_number=wo, notes=body.notes if body else None)
        return await provider_action(db, temporal, user, wo, update, command, key)

    route.__name__ = f"work_order_{update}"
    router.post(f"/work-orders/{{wo}}/{path}", tags=["work-orders"], **TRANSITION)(route)


for _path, _update in PROVIDER_UPDATES.items():
    _provider_route(_path, _update)


@router.post("/work-orders/{wo}/schedule", tags=["work-orders"], **TRANSITION)
async def schedule(wo: str, body: ScheduleIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep,
                   key: IdempotencyKey = None):
    command = WorkOrderCommand(actor=user.actor(), work_order_number=wo, notes=body.notes,
                               scheduled_for=body.scheduled_for)
    return await provider_action(db, temporal, user, wo, names.SCHEDULE, command, key)


@router.post("/work-orders/{wo}/complete", response_model=RequestStateOut, tags=["work-orders"],
             responses=errors(403, 404, 409, 503))
async def complete(wo: str, body: WorkOrderCompleteIn, user: CurrentUser, db: SessionDep, state: StateDep,
                   temporal: TemporalDep, key: IdempotencyKey = None):
    row = await load_work_order(db, user, wo)
    attachment = await internal_get(state.settings, "intake",
                                    f"requests/{row.request_number}/attachments/{body.invoice_attachment_id}")
    if attachment is None:
        raise HTTPException(422, "invoice_attachment_id is not an attachment of this request")
    if attachment["status"] != "stored":
        raise HTTPException(422, "the invoice attachment's upload is not complete")
    if attachment["kind"] != "provider_invoice":
        raise HTTPException(422, "invoice_attachment_id must be an attachment of kind provider_invoice")
    command = CompleteCommand(actor=user.actor(), work_order_number=wo, notes=body.notes,
                              invoice_attachment_id=body.invoice_attachment_id)
    return public_state(await update_request(temporal, row.request_number, names.COMPLETE, command, key))


# --- internal -----------------------------------------------------------------------------------
@internal.get("/providers/{provider_id}", response_model=ProviderOut)
async def internal_provider(provider_id: Id, db: SessionDep):
    provider = await db.get(Provider, provider_id)
    if provider is None:
        raise HTTPException(404, "provider not found")
    return provider


@internal.get("/work-orders/{wo}", response_model=WorkOrderOut)
async def internal_work_order(wo: str, db: SessionDep):
    row = await db.get(WorkOrder, wo)
    if row is None:
        raise HTTPException(404, "work order not found")
    return row
