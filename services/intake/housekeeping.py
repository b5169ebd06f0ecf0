"""Uploads that were started and never completed: their presigned URLs expired long ago, so nobody can finish
them. Each one is removed from S3 (an unfinished multipart upload is aborted, which frees its parts) and then
from the table. Run by the upload-sweep Schedule; safe to run twice or to retry, since each step finds what
is left."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import Attachment
from services.intake.storage import Storage

BATCH = 500  # rows per run: a backlog is worked off by the following runs


async def sweep_abandoned_uploads(db: AsyncSession, store: Storage, started_before: datetime) -> list[str]:
    rows = (
        (
            await db.execute(
                select(Attachment)
                .where(Attachment.status == "pending", Attachment.created_at < started_before)
                .order_by(Attachment.created_at)
                .limit(BATCH)
            )
        )
        .scalars()
        .all()
    )
    swept = []
    for row in rows:
        if row.upload_id:
            await store.abort_multipart(row.object_key, row.upload_id)
        await store.delete(row.object_key)  # S3 answers a delete of a missing key with success
        await db.delete(row)
        await db.commit()  # row by row: a crash midway keeps what was done
        swept.append(row.id)
    return swept
