"""A provider's recommendations on a request, and the customer's answer to each."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from services.intake import views
from services.intake.models import RecommendationRow
from services.intake.schemas import RecommendationIn, RecommendationOut, RecommendationPage, RespondIn
from services.intake.service import idempotency, load_visible, scope
from shared.auth import CurrentUser, need
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import RecommendCommand, RespondCommand
from shared.http import Id, errors, parse_money, update_request
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.post(
    "/requests/{number}/recommendations",
    status_code=201,
    response_model=RecommendationOut,
    tags=["recommendations"],
    responses=errors(403, 404, 409),
)
async def recommend(
    number: str,
    body: RecommendationIn,
    user: CurrentUser,
    db: SessionDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
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
    row = RecommendationRow(
        request_number=number,
        provider_id=user.provider_id,
        summary=body.summary,
        detail=body.detail,
        estimated_cost=body.estimated_cost,
        created_by=user.user_id,
    )
    db.add(row)
    await db.commit()
    try:
        await update_request(
            temporal,
            number,
            names.RECOMMEND,
            RecommendCommand(
                actor=user.actor(), recommendation_id=row.id, summary=body.summary, estimated_cost=body.estimated_cost
            ),
        )
    except HTTPException:
        await db.delete(row)
        await db.commit()
        raise
    out = RecommendationOut.model_validate(row)
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    return out


@router.get(
    "/requests/{number}/recommendations",
    response_model=RecommendationPage,
    tags=["recommendations"],
    responses=errors(404),
)
async def list_recommendations(number: str, user: CurrentUser, db: SessionDep):
    await load_visible(db, user, number)
    rows = (
        await db.execute(
            select(RecommendationRow).where(RecommendationRow.request_number == number).order_by(RecommendationRow.id)
        )
    ).scalars()
    return {"items": [RecommendationOut.model_validate(r) for r in rows], "next_cursor": None}


@router.post(
    "/requests/{number}/recommendations/{rec_id}/respond",
    response_model=RecommendationOut,
    tags=["recommendations"],
    responses=errors(403, 404, 409),
)
async def respond(
    number: str,
    rec_id: Id,
    body: RespondIn,
    user: CurrentUser,
    db: SessionDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
    need(user, Role.customer)
    await load_visible(db, user, number)
    row = await db.get(RecommendationRow, rec_id)
    if row is None or row.request_number != number:
        raise HTTPException(404, "recommendation not found")
    try:
        await update_request(
            temporal,
            number,
            names.RESPOND,
            RespondCommand(actor=user.actor(), recommendation_id=rec_id, decision=body.decision, comment=body.comment),
            key,
        )
    except HTTPException as exc:
        raise views.refusal(user, exc) from exc
    db.expire_all()
    return await db.get(RecommendationRow, rec_id)
