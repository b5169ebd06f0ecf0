"""Idempotency-Key on creating POSTs: the same key and body answers the first response again; the same key
with another body is a 422. Each service keeps its own table (`idempotency_keys`); a key is kept for a day.

Two identical requests at the same instant both find no key and both create: the second's insert of the key
then violates the key's primary key (it waits for the first's commit to learn that), its transaction is rolled
back, and it answers with the first's response (`IdempotentReplay`, answered by the app factory)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime, utcnow

KEEP_KEYS_FOR = timedelta(hours=24)
# The header every creating or acting route takes: `key: IdempotencyKey = None`.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class IdempotentReplay(Exception):
    """The same request won the race: `response` is its answer, given again (create_app answers with it)."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__("answered by an earlier request with the same Idempotency-Key")
        self.response = response


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(200), primary_key=True),  # user id, method and path
        Column("key", String(200), primary_key=True),
        Column("body_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    )


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(jsonable_encoder(body), sort_keys=True).encode()).hexdigest()


class Idempotency:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def replay(self, db: AsyncSession, key: str | None, scope: str, body: Any) -> JSONResponse | None:
        """The first response to this key, or None when the key is new (or expired)."""
        if not key:
            return None
        t = self.table
        row = (
            await db.execute(
                select(t).where(t.c.scope == scope, t.c.key == key, t.c.created_at > utcnow() - KEEP_KEYS_FOR)
            )
        ).first()
        if row is None:
            return None
        if row.body_hash != body_hash(body):
            raise HTTPException(422, "Idempotency-Key was already used with a different body")
        return JSONResponse(json.loads(row.response), status_code=row.status_code)

    async def remember(
        self, db: AsyncSession, key: str | None, scope: str, body: Any, status_code: int, response: Any
    ) -> None:
        """Stage the answer in the caller's transaction, so it is kept exactly when the creation is. When the
        same key was stored meanwhile, the caller's work is rolled back and the first answer given instead."""
        if not key:
            return
        t = self.table
        try:
            # An expired use of the key makes way for this one.
            await db.execute(
                delete(t).where(t.c.scope == scope, t.c.key == key, t.c.created_at <= utcnow() - KEEP_KEYS_FOR)
            )
            stored = json.dumps(jsonable_encoder(response))
            await db.execute(
                t.insert().values(
                    scope=scope, key=key, body_hash=body_hash(body), status_code=status_code, response=stored
                )
            )
        except IntegrityError as exc:
            await self.lost_race(db, key, scope, body, exc)

    async def lost_race(self, db: AsyncSession, key: str, scope: str, body: Any, exc: IntegrityError) -> None:
        """After a unique violation: the first answer if a twin request stored this key, else the error again."""
        await db.rollback()
        first = await self.replay(db, key, scope, body)
        if first is None:
            raise exc  # another constraint; not ours to answer
        raise IdempotentReplay(first) from exc

    async def store_created(self, db: AsyncSession, key: str | None, scope: str, body: Any, row: Any, out_model: Any):
        """Insert a created row, remember the 201 answer under the key in the same transaction, commit."""
        try:
            db.add(row)
            await db.flush()
            out = out_model.model_validate(row)
            await self.remember(db, key, scope, body, 201, out)
            await db.commit()
        except IntegrityError as exc:
            if not key:
                raise
            await self.lost_race(db, key, scope, body, exc)
        return out
