"""The notification feed's response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.http import Page


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    request_number: str | None
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(Page[NotificationOut]):
    unread_count: int


class UnreadCount(BaseModel):
    unread: int
