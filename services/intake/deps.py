"""Intake's request dependencies: the signed-in user, checked against the users table on every call."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException

from services.intake.models import User
from shared.auth import CurrentUser, Principal
from shared.http import decode_cursor, encode_cursor
from shared.service_app import SessionDep


async def active_principal(token_user: CurrentUser, db: SessionDep) -> Principal:
    user = await db.get(User, token_user.user_id)
    if user is None or not user.active or user.token_version != token_user.token_version:
        raise HTTPException(401, "this account is deactivated or the token was revoked",
                            headers={"WWW-Authenticate": "Bearer"})
    return token_user


ActiveUser = Annotated[Principal, Depends(active_principal)]


async def id_page(db, query, column, limit: int, cursor: str | None, out) -> dict:
    """One page of an id-ordered list: `{"items", "next_cursor"}`, keyset-paged on `column` (the primary key)."""
    limit = max(1, min(limit, 200))
    if (after := decode_cursor(cursor)) is not None:
        try:
            query = query.where(column > int(after.get("id", 0)))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "invalid cursor") from exc
    rows = list((await db.execute(query.order_by(column).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [out(r) for r in rows], "next_cursor": encode_cursor({"id": rows[-1].id}) if more else None}
