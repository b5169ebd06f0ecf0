"""The in-portal feed: a user's own notifications, unread counts, mark as read."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from services.notifications.models import Notification
from services.notifications.schemas import NotificationOut, NotificationPage, UnreadCount
from services.notifications.service import unread_count
from shared.auth import CurrentUser
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, errors, id_page
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")


@router.get("/notifications", response_model=NotificationPage, tags=["notifications"])
async def list_notifications(
    user: CurrentUser, db: SessionDep, unread: bool | None = None, limit: Limit = 50, cursor: Cursor = None
):
    """The caller's own notifications, newest first; `unread=true` or `false` filters them."""
    query = select(Notification).where(Notification.user_id == user.user_id)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    listing = await id_page(
        db, query, Notification.id, limit, cursor, NotificationOut.model_validate, newest_first=True
    )
    return {**listing, "unread_count": await unread_count(db, user.user_id)}


@router.get("/notifications/unread-count", response_model=UnreadCount, tags=["notifications"])
async def get_unread_count(user: CurrentUser, db: SessionDep):  # `unread_count` names service.py's count
    """`{unread: n}`: the number the portal shows beside Notifications in its header."""
    return {"unread": await unread_count(db, user.user_id)}


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    tags=["notifications"],
    responses=errors(404),
)
async def mark_read(notification_id: Id, user: CurrentUser, db: SessionDep):
    row = await db.get(Notification, notification_id)
    if row is None or row.user_id != user.user_id:
        raise HTTPException(404, "notification not found")
    if row.read_at is None:
        row.read_at = utcnow()
        await db.commit()
    return row
