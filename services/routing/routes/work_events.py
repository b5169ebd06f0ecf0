"""The work-event actions on requests, one at a time or many at once: each a workflow Update."""

from __future__ import annotations

from fastapi import APIRouter

from services.routing import service
from services.routing.schemas import AssignIn, AssignTeamIn, BulkIn, BulkOut, DeleteIn, NotesIn
from services.routing.service import single
from shared.auth import CurrentUser
from shared.http import TRANSITION, errors
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, TemporalDep

router = APIRouter(prefix="/api/v1")


# A result carries `detail` only when it failed and `status` only when it succeeded (docs/api.md).
@router.post(
    "/work-events/bulk",
    response_model=BulkOut,
    response_model_exclude_none=True,
    tags=["work-events"],
    responses=errors(403),
)
async def bulk(body: BulkIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep):
    """Every request gets its own result: one failure never stops the others."""
    service.need_for(user, body.action)
    targets = await service.resolve_target(db, body.action, body.provider_id, body.team_id)
    results = await service.bulk(
        temporal, user, body.action, body.numbers, targets=targets, team_id=body.team_id, reason=body.reason
    )
    return BulkOut(results=results)


@router.post("/work-events/{number}/assign", tags=["work-events"], **TRANSITION)
async def assign(
    number: str, body: AssignIn, user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None
):
    return await single(db, temporal, user, "assign", number, provider_id=body.provider_id, notes=body.notes, key=key)


@router.post("/work-events/{number}/assign-team", tags=["work-events"], **TRANSITION)
async def assign_team(
    number: str,
    body: AssignTeamIn,
    user: CurrentUser,
    db: SessionDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
    return await single(db, temporal, user, "assign-team", number, team_id=body.team_id, notes=body.notes, key=key)


@router.post("/work-events/{number}/delete", tags=["work-events"], **TRANSITION)
async def delete(
    number: str,
    user: CurrentUser,
    db: SessionDep,
    temporal: TemporalDep,
    body: DeleteIn | None = None,
    key: IdempotencyKey = None,
):
    return await single(db, temporal, user, "delete", number, reason=body.reason if body else None, key=key)


def _notes_route(action: str) -> None:
    """A work-event action that takes nothing but optional notes: one route each, built alike."""

    async def route(
        number: str,
        user: CurrentUser,
        db: SessionDep,
        temporal: TemporalDep,
        body: NotesIn | None = None,
        key: IdempotencyKey = None,
    ):
        return await single(db, temporal, user, action, number, notes=body.notes if body else None, key=key)

    route.__name__ = action.replace("-", "_")  # the operation ids stay those of named functions
    router.post(f"/work-events/{{number}}/{action}", tags=["work-events"], **TRANSITION)(route)


for _action in ("publish", "send-to-marketplace", "approve-payment", "invoiced", "invoice-not-required"):
    _notes_route(_action)
