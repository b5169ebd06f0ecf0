"""The in-portal feed: a user's own notifications, unread counts, mark as read."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from services.notifications.models import Notification
from services.notifications.service import unread_count
from shared.auth import CurrentUser
from shared.db import utcnow
from shared.http import decode_cursor, encode_cursor
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    request_number: str | None
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


@router.get("/notifications", tags=["notifications"])
async def list_notifications(user: CurrentUser, db: SessionDep, unread: bool | None = None, limit: int = 50,
                             cursor: str | None = None) -> dict:
    limit = max(1, min(limit, 200))
    query = select(Notification).where(Notification.user_id == user.user_id).order_by(Notification.id.desc())
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    if (after := decode_cursor(cursor)) is not None:
        query = query.where(Notification.id < int(after.get("id", 0)))
    rows = list((await db.execute(query.limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [NotificationOut.model_validate(n) for n in rows],
            "next_cursor": encode_cursor({"id": rows[-1].id}) if more else None,
            "unread_count": await unread_count(db, user.user_id)}


@router.get("/notifications/unread-count", tags=["notifications"])
async def get_unread_count(user: CurrentUser, db: SessionDep) -> dict:  # `unread_count` is the helper above
    """`{unread: n}`: the number the portal shows beside Notifications in its header."""
    count = (await db.execute(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.user_id, Notification.read_at.is_(None)))).scalar_one()
    return {"unread": count}


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut, tags=["notifications"])
async def mark_read(notification_id: int, user: CurrentUser, db: SessionDep):
    row = await db.get(Notification, notification_id)
    if row is None or row.user_id != user.user_id:
        raise HTTPException(404, "notification not found")
    if row.read_at is None:
        row.read_at = utcnow()
        await db.commit()
    return row
