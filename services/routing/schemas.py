from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class ProviderIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    email: str
    created_at: datetime


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    provider_ids: list[int] = Field(min_length=1, max_length=500)


class TeamOut(BaseModel):
    id: int
    name: str
    provider_ids: list[int]
    created_at: datetime


class AssignIn(BaseModel):
    provider_id: int
    notes: str | None = Field(default=None, max_length=10000)


class AssignTeamIn(BaseModel):
    team_id: int
    notes: str | None = Field(default=None, max_length=10000)


class NotesIn(BaseModel):
    notes: str | None = Field(default=None, max_length=10000)


class DeleteIn(BaseModel):
    reason: str = Field(default="deleted by dispatcher", min_length=1, max_length=1000)


BulkAction = Literal["publish", "assign", "assign-team", "send-to-marketplace", "delete", "invoiced",
                     "invoice-not-required", "approve-payment"]


class BulkIn(BaseModel):
    action: BulkAction
    numbers: list[str] = Field(min_length=1, max_length=1000)
    provider_id: int | None = None
    team_id: int | None = None
    reason: str | None = Field(default=None, max_length=1000)


class BulkResult(BaseModel):
    number: str
    ok: bool
    detail: str | None = None
    status: str | None = None


class ScheduleIn(BaseModel):
    scheduled_for: datetime
    notes: str | None = Field(default=None, max_length=10000)


class CompleteIn(BaseModel):
    notes: str = Field(min_length=1, max_length=20000)
    invoice_attachment_id: str = Field(min_length=1, max_length=36)


class WorkOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    request_number: str
    offer_kind: str
    provider_id: int | None
    team_id: int | None
    status: str
    accepted_by: int | None
    customer_id: int
    priority: str
    summary: str
    created_at: datetime
    updated_at: datetime
