from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from shared.http import Id, Moment, Page

# A request's number (SR-000123) or a work order's (600010001), as a caller may send them.
RequestNumber = Annotated[str, Field(min_length=1, max_length=40)]


class ProviderIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["FixIt Ltd"])
    email: EmailStr


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    email: str
    created_at: datetime


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    provider_ids: list[Id] = Field(min_length=1, max_length=500)


class TeamOut(BaseModel):
    id: int
    name: str
    provider_ids: list[int]
    created_at: datetime


class AssignIn(BaseModel):
    provider_id: Id
    notes: str | None = Field(default=None, max_length=10000)


class AssignTeamIn(BaseModel):
    team_id: Id
    notes: str | None = Field(default=None, max_length=10000)


class NotesIn(BaseModel):
    notes: str | None = Field(default=None, max_length=10000)


class DeleteIn(BaseModel):
    reason: str = Field(default="deleted by dispatcher", min_length=1, max_length=1000)


BulkAction = Literal[
    "publish",
    "assign",
    "assign-team",
    "send-to-marketplace",
    "delete",
    "invoiced",
    "invoice-not-required",
    "approve-payment",
]


class BulkIn(BaseModel):
    action: BulkAction
    numbers: list[RequestNumber] = Field(min_length=1, max_length=1000)
    provider_id: Id | None = None
    team_id: Id | None = None
    reason: str | None = Field(default=None, max_length=1000)


class BulkResult(BaseModel):
    number: str
    ok: bool
    detail: str | None = None
    status: str | None = None


class ScheduleIn(BaseModel):
    scheduled_for: Moment
    notes: str | None = Field(default=None, max_length=10000)


class WorkOrderCompleteIn(BaseModel):
    notes: str = Field(min_length=1, max_length=20000)
    # A UUID: it becomes part of a path on intake's internal API.
    invoice_attachment_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")


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


class BulkOut(BaseModel):
    """One result per request number sent, in the order sent (repeats once)."""

    results: list[BulkResult]


class ProviderPage(Page[ProviderOut]):
    pass


class TeamPage(Page[TeamOut]):
    pass


class WorkOrderPage(Page[WorkOrderOut]):
    pass
