"""Providers and teams: dispatchers create them; dispatchers and billing list them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from services.routing.models import Provider, Team, TeamMember
from services.routing.schemas import ProviderIn, ProviderOut, ProviderPage, TeamIn, TeamOut, TeamPage
from services.routing.service import BILLING, DISPATCH, idempotency, team_out
from shared.auth import CurrentUser, need
from shared.http import Cursor, Limit, errors, id_page
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")


@router.post("/providers", status_code=201, response_model=ProviderOut, tags=["providers"], responses=errors(403))
async def create_provider(body: ProviderIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    need(user, *DISPATCH)
    where = f"{user.user_id}:providers"
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    return await idempotency.store_created(
        db, key, where, body, Provider(name=body.name, email=body.email), ProviderOut
    )


@router.get("/providers", response_model=ProviderPage, tags=["providers"], responses=errors(403))
async def list_providers(
    user: CurrentUser,
    db: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    need(user, *DISPATCH, *BILLING)
    query = select(Provider)
    if q:
        query = query.where(Provider.name.ilike(f"%{q}%"))
    return await id_page(db, query, Provider.id, limit, cursor, ProviderOut.model_validate)


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
    listing = await id_page(db, select(Team), Team.id, limit, cursor, lambda t: t)
    return {**listing, "items": [await team_out(db, t) for t in listing["items"]]}
