"""Intake's public request and response bodies (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from shared.contracts.enums import Kind, Priority, Role
from shared.http import Id, Page

# The request lists' query parameters.
Search = Annotated[str | None, Query(max_length=200, description="a part of what is sought, any case")]
Statuses = Annotated[list[str] | None, Query(max_length=20, description="one or more statuses")]
Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at"]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    # For the portal's working-day session: trade it at POST /auth/refresh for a new pair.
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=4000)


class UserIn(BaseModel):
    email: EmailStr
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=8, max_length=200)
    customer_id: Id | None = None
    provider_id: Id | None = None
    org_admin: bool = False
    phone: str | None = Field(default=None, max_length=50)
    notification_email: EmailStr | None = None


class UserOut(Out):
    id: int
    email: str
    full_name: str
    role: Role
    phone: str | None
    notification_email: str | None
    customer_id: int | None
    provider_id: int | None
    org_admin: bool
    active: bool
    created_at: datetime


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    notification_email: EmailStr | None = None


class PasswordChangeIn(BaseModel):
    """`POST /me/password`: the signed-in person changes its own password, giving the current one."""

    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class AccountRequestIn(BaseModel):
    """An organisation admin asks for a new contact account (`create`) or a deactivation (`deactivate`)."""

    action: Literal["create", "deactivate"]
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    org_admin: bool = False
    user_id: Id | None = None
    reason: str | None = Field(default=None, max_length=2000)


class AccountRequestOut(Out):
    id: int
    customer_id: int
    action: str
    email: str | None
    full_name: str | None
    phone: str | None
    org_admin: bool
    user_id: int | None
    reason: str | None
    status: str
    requested_by: int
    decided_by: int | None
    decision_comment: str | None
    created_at: datetime
    decided_at: datetime | None


class DecisionIn(BaseModel):
    comment: str | None = Field(default=None, max_length=2000)


class PasswordResetIn(BaseModel):
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    token: str = Field(min_length=10, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)
    # The portal signs the person in at once: with `sign_in: true` the answer is 200 with a token pair.
    sign_in: bool = False


class CustomerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Foods"])
    email: EmailStr | None = None


class Counts(BaseModel):
    draft: int = 0
    published: int = 0
    assigned: int = 0
    in_progress: int = 0
    completed: int = 0


class CustomerOut(Out):
    id: int
    name: str
    email: str | None
    created_at: datetime
    counts: Counts = Counts()


class SiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)


class SiteOut(Out):
    id: int
    customer_id: int
    name: str
    address: str


class AssetIn(BaseModel):
    customer_id: Id
    site_id: Id | None = None
    site: SiteIn | None = None  # a new site made inline with the asset, instead of site_id
    name: str = Field(min_length=1, max_length=200, examples=["Chiller 3"])
    serial_number: str = Field(min_length=1, max_length=100, examples=["SN-44817"])
    model: str | None = Field(default=None, max_length=200)


class AssetOut(Out):
    id: int
    customer_id: int
    site_id: int | None
    name: str
    serial_number: str
    model: str | None
    created_at: datetime


class RequestIn(BaseModel):
    customer_id: Id
    asset_id: Id
    kind: Kind
    priority: Priority
    summary: str = Field(min_length=1, max_length=300, examples=["Chiller 3 trips on high pressure"])
    detail: str | None = Field(default=None, max_length=20000)

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("summary must not be blank")
        return value.strip()


class RequestOut(Out):
    id: int
    number: str
    customer_id: int
    asset_id: int
    site_id: int | None
    kind: Kind
    priority: Priority
    summary: str
    detail: str | None
    status: str
    billing_status: str
    work_order_number: str | None
    provider_id: int | None
    scheduled_for: datetime | None
    payment_reference: str | None
    accept_by: datetime | None
    due_at: datetime | None
    sla_breached: bool
    created_at: datetime
    updated_at: datetime


class AssetRequestOut(RequestOut):
    """A past request on an asset's page, with the asset's serial number and the site it was raised at."""

    serial_number: str
    site_name: str | None = None
    site_address: str | None = None


class AssetDetail(AssetOut):
    site: SiteOut | None = None
    requests: list[AssetRequestOut] = []


class TimelineOut(Out):
    id: int
    kind: str
    status: str | None
    previous_status: str | None
    actor_user_id: int | None
    actor_role: str | None
    actor_name: str
    detail: dict[str, Any]
    at: datetime


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10000, examples=["The site is open from 7 am."])


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, examples=["fixed it ourselves"])


class AttachmentIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=100)
    size_bytes: int = Field(gt=0)
    kind: Literal["photo", "document", "provider_invoice"] = "document"

    @field_validator("filename")
    @classmethod
    def _safe_filename(cls, value: str) -> str:
        # The name ends up in a Content-Disposition header of the download: no paths, quotes or control characters.
        name = value.replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(c for c in name if c.isprintable() and c not in '";').strip()
        if not name or name in (".", ".."):
            raise ValueError("filename must name a file")
        return name

    @field_validator("content_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.split(";", 1)[0].strip().lower()


class AttachmentOut(Out):
    id: str
    request_number: str
    filename: str
    content_type: str
    size_bytes: int
    kind: str
    status: str
    uploaded_by: int
    created_at: datetime


class PartIn(BaseModel):
    part_number: int = Field(ge=1, le=10000)
    etag: str = Field(min_length=1, max_length=200)


class AttachmentCompleteIn(BaseModel):
    """Empty for a single upload; a multipart upload names its parts and the etag S3 answered for each."""

    parts: list[PartIn] | None = None


class UploadPart(BaseModel):
    part_number: int
    url: str


class SingleUpload(BaseModel):
    """Where the browser sends the file, straight to the store: one PUT to `url` with `headers`."""

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]


class MultipartUpload(BaseModel):
    """A large file goes up in parts: one PUT per part (`part_size` bytes each) to each part's `url`, then
    `complete` with the parts' ETags."""

    method: Literal["PUT"] = "PUT"
    part_size: int
    parts: list[UploadPart]


class AttachmentCreated(AttachmentOut):
    upload: SingleUpload | MultipartUpload


class RecommendationIn(BaseModel):
    summary: str = Field(min_length=1, max_length=300)
    detail: str | None = Field(default=None, max_length=10000)
    estimated_cost: str | None = None


class RespondIn(BaseModel):
    decision: Literal["approve", "decline", "clarify"]
    comment: str | None = Field(default=None, max_length=10000)


class RecommendationOut(Out):
    id: int
    request_number: str
    provider_id: int | None
    summary: str
    detail: str | None
    estimated_cost: str | None
    decision: str | None
    comment: str | None
    created_at: datetime
    responded_at: datetime | None


class OverviewInvoices(BaseModel):
    items: list[dict[str, Any]]
    total_outstanding: str


class OverviewNotifications(BaseModel):
    items: list[dict[str, Any]]
    unread_count: int


class Overview(BaseModel):
    """A customer's start page: its latest requests, the five bucket counts, what it owes, what is new."""

    customer_id: int
    counts: Counts
    recent_requests: list[RequestOut]
    outstanding_invoices: OverviewInvoices
    notifications: OverviewNotifications
    unavailable: list[str] = []  # sections whose service did not answer; the rest is still shown


class ResetRequested(BaseModel):
    detail: str = Field(examples=["if the address has an account, a reset link is on its way"])


class Change(BaseModel):
    id: int = Field(description="the timeline entry's id: send the last one seen as `after`")
    number: str = Field(examples=["SR-000123"])
    kind: str = Field(examples=["status"])
    status: str | None


class Changes(BaseModel):
    items: list[Change]
    last_id: int


class UserPage(Page[UserOut]):
    pass


class AccountRequestPage(Page[AccountRequestOut]):
    pass


class CustomerPage(Page[CustomerOut]):
    pass


class SitePage(Page[SiteOut]):
    pass


class AssetPage(Page[AssetOut]):
    pass


class RequestPage(Page[RequestOut]):
    pass


class TimelinePage(Page[TimelineOut]):
    pass


class AttachmentPage(Page[AttachmentOut]):
    pass


class RecommendationPage(Page[RecommendationOut]):
    pass
