"""Intake's request dependencies: the signed-in user, checked against the users table on every call."""
from __future__ import annotations

from shared.auth import CurrentUser
from shared.http import decode_cursor, page

# Every service's dependency: in intake it reads the users table itself (app.state.is_current, see app.py).
ActiveUser = CurrentUser


async def id_page(db, query, column, limit: int, cursor: str | None, out) -> dict:
    """One page of an id-ordered list: `{"items", "next_cursor"}`, keyset-paged on `column` (the primary key).
    `limit` is the route's `Limit` (1 to 200) and `cursor` its `Cursor`."""
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(column > after["id"])
    rows = list((await db.execute(query.order_by(column).limit(limit + 1))).scalars())
    return page(rows, limit, out, lambda row: {"id": row.id})
