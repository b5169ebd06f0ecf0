"""Idempotency-Key on creating POSTs: the same key and body answers the first response again; the same key
with another body is a 422. Each service keeps its own table (`idempotency_keys`)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime, utcnow


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys", metadata,
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
        if not key:
            return None
        row = (await db.execute(select(self.table).where(self.table.c.scope == scope, self.table.c.key == key))).first()
        if row is None:
            return None
        if row.body_hash != body_hash(body):
            raise HTTPException(422, "Idempotency-Key was already used with a different body")
        return JSONResponse(json.loads(row.response), status_code=row.status_code)

    async def remember(self, db: AsyncSession, key: str | None, scope: str, body: Any, status_code: int,
                       response: Any) -> None:
        """Stage the answer in the caller's transaction, so it is kept exactly when the creation is."""
        if not key:
            return
        await db.execute(self.table.insert().values(
            scope=scope, key=key, body_hash=body_hash(body), status_code=status_code,
            response=json.dumps(jsonable_encoder(response))))

    async def store_created(self, db: AsyncSession, key: str | None, scope: str, body: Any, row: Any, out_model: Any):
        """Insert a created row, remember the 201 answer under the key in the same transaction, commit."""
        db.add(row)
        await db.flush()
        out = out_model.model_validate(row)
        await self.remember(db, key, scope, body, 201, out)
        await db.commit()
        return out
