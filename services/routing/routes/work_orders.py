"""Providers' work orders: the three views, one work order, and the provider's actions on it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException

from services.routing import service
from services.routing.schemas import NotesIn, ScheduleIn, WorkOrderCompleteIn, WorkOrderOut, WorkOrderPage
from services.routing.service import PROVIDER_UPDATES, load_work_order, provider_action
from shared.auth import CurrentUser, need
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import WorkOrderCommand
from shared.http import TRANSITION, Cursor, Limit, RequestStateOut, errors
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.get("/work-orders", response_model=WorkOrderPage, tags=["work-orders"], responses=errors(403))
async def list_work_orders(
    user: CurrentUser,
    db: SessionDep,
    view: Literal["waiting", "accepted", "completed"] = "waiting",
    limit: Limit = 50,
    cursor: Cursor = None,
):
    need(user, Role.provider)
    if user.provider_id is None:
        raise HTTPException(403, "this account is not linked to a provider")
    return await service.work_orders_page(db, user.provider_id, view, limit, cursor)


@router.get("/work-orders/{wo}", response_model=WorkOrderOut, tags=["work-orders"], responses=errors(403, 404))
async def get_work_order(wo: str, user: CurrentUser, db: SessionDep):
    return await load_work_order(db, user, wo)


def _provider_route(path: str, update: str):
    async def route(
        wo: str,
        user: CurrentUser,
        db: SessionDep,
        temporal: TemporalDep,
        body: NotesIn | None = None,
        key: IdempotencyKey = None,
    ):
        command = WorkOrderCommand(actor=user.actor(), work_order_number=wo, notes=body.notes if body else None)
        return await provider_action(db, temporal, user, wo, update, command, key)

    route.__name__ = f"work_order_{update}"
    router.post(f"/work-orders/{{wo}}/{path}", tags=["work-orders"], **TRANSITION)(route)


for _path, _update in PROVIDER_UPDATES.items():
    _provider_route(_path, _update)


@router.post("/work-orders/{wo}/schedule", tags=["work-orders"], **TRANSITION)
async def schedule(
    wo: str, body: ScheduleIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None
):
    command = WorkOrderCommand(
        actor=user.actor(), work_order_number=wo, notes=body.notes, scheduled_for=body.scheduled_for
    )
    return await provider_action(db, temporal, user, wo, names.SCHEDULE, command, key)


@router.post(
    "/work-orders/{wo}/complete",
    response_model=RequestStateOut,
    tags=["work-orders"],
    responses=errors(403, 404, 409, 503),
)
async def complete(
    wo: str,
    body: WorkOrderCompleteIn,
    user: CurrentUser,
    db: SessionDep,
    state: StateDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
    return await service.complete(db, temporal, state.settings, user, wo, body, key)
