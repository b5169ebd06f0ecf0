"""Inputs and outputs of the workflow, its updates and signals, and the activities it calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.contracts.clocks import Clocks
from shared.contracts.enums import BillingStatus, Kind, OfferKind, Priority, Role, Status


class Actor(BaseModel):
    """Who caused an event; `user_id=None` is the system itself (a timer, a payment run)."""

    user_id: int | None = None
    role: Role | None = None
    name: str = "fieldops"
    customer_id: int | None = None
    provider_id: int | None = None


SYSTEM = Actor()


# --- workflow input and state ----------------------------------------------------------------
class StartRequest(BaseModel):
    number: str
    customer_id: int
    asset_id: int
    kind: Kind
    priority: Priority
    summary: str
    created_at: datetime
    actor: Actor
    clocks: Clocks


class Recommendation(BaseModel):
    id: int
    summary: str
    estimated_cost: str | None = None
    provider_id: int | None = None
    posted_at: datetime
    decision: Literal["approve", "decline", "clarify"] | None = None
    responded_at: datetime | None = None
    reminded: bool = False


class RequestState(BaseModel):
    number: str
    customer_id: int
    kind: Kind
    priority: Priority
    status: Status = Status.draft
    billing_status: BillingStatus = BillingStatus.pending
    version: int = 0
    created_at: datetime
    # The current offer and who holds the work.
    assignments: int = 0
    offer_kind: OfferKind | None = None
    offer_target_id: int | None = None
    offer_provider_ids: list[int] = Field(default_factory=list)
    declined_provider_ids: list[int] = Field(default_factory=list)
    work_order_number: str | None = None
    provider_id: int | None = None
    scheduled_for: datetime | None = None
    accept_by: datetime | None = None
    # SLA: due_at moves later by the time spent in awaiting_parts.
    due_at: datetime | None = None
    paused_at: datetime | None = None
    sla_breached: bool = False
    invoice_number: str | None = None
    payment_reference: str | None = None
    customer_invoice_id: int | None = None
    cancel_reason: str | None = None
    recommendations: list[Recommendation] = Field(default_factory=list)


# --- update and signal inputs ----------------------------------------------------------------
class Command(BaseModel):
    actor: Actor
    notes: str | None = None


class AssignCommand(Command):
    offer_kind: OfferKind
    provider_id: int | None = None
    team_id: int | None = None
    provider_ids: list[int] = Field(default_factory=list)


class WorkOrderCommand(Command):
    work_order_number: str
    scheduled_for: datetime | None = None


class CompleteCommand(WorkOrderCommand):
    invoice_attachment_id: str


class SubmitInvoiceCommand(WorkOrderCommand):
    invoice_number: str


class CancelCommand(Command):
    reason: str
    # A dispatcher's delete: allowed only before a provider accepts; kept as a cancelled request.
    delete: bool = False


class CustomerPaymentCommand(Command):
    invoice_id: int
    amount: str
    paid_at: datetime


class RecommendCommand(Command):
    recommendation_id: int
    summary: str
    estimated_cost: str | None = None


class RespondCommand(Command):
    recommendation_id: int
    decision: Literal["approve", "decline", "clarify"]
    comment: str | None = None


class NoteAdded(BaseModel):
    actor: Actor
    note_id: int
    body: str


class PaymentMade(BaseModel):
    work_order_number: str
    reference: str
    amount: str
    paid_at: datetime


# --- activities ------------------------------------------------------------------------------
Audience = Literal["customer", "provider", "offer", "dispatchers", "accounts_receivable"]


class TimelineEvent(BaseModel):
    seq: int
    kind: str  # status_change, note, recommendation, response, invoice, payment, sla_breached, reminder
    at: datetime
    actor: Actor
    status: Status
    previous_status: Status | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class RecordTransition(BaseModel):
    state: RequestState
    event: TimelineEvent
    audiences: list[Audience] = Field(default_factory=list)


class Recipient(BaseModel):
    user_id: int
    email: str
    name: str = ""
    # This reader's own words, when they differ from the event's (Deliver.subject and .body, the operators'
    # words): the customer's (shared/contracts/customer_view.py). Absent in events recorded before they existed.
    subject: str | None = None
    body: str | None = None
    # The portal page the email links to (messages.portal_path); without it, the request's page.
    path: str | None = None


class Recipients(BaseModel):
    items: list[Recipient] = Field(default_factory=list)


class IssueWorkOrder(BaseModel):
    request_number: str
    assignment: int  # the n-th assignment of this request: the natural idempotency key
    offer_kind: OfferKind
    provider_id: int | None = None
    team_id: int | None = None
    provider_ids: list[int] = Field(default_factory=list)
    customer_id: int
    priority: Priority
    summary: str


class WorkOrderIssued(BaseModel):
    number: str


WorkOrderStatus = Literal["offered", "accepted", "completed", "paid", "voided", "withdrawn", "declined"]


class UpdateWorkOrder(BaseModel):
    number: str
    status: WorkOrderStatus
    provider_id: int | None = None


class MarkProviderInvoice(BaseModel):
    work_order_number: str
    status: Literal["submitted", "approved"]


class CollectApproved(BaseModel):
    run_id: str
    started_at: datetime


class Payment(BaseModel):
    request_number: str
    work_order_number: str
    reference: str
    amount: str
    paid_at: datetime


class CollectedPayments(BaseModel):
    items: list[Payment] = Field(default_factory=list)


class IssueCustomerInvoice(BaseModel):
    request_number: str
    customer_id: int
    work_order_number: str | None
    issued_at: datetime


class CustomerInvoiceIssued(BaseModel):
    id: int
    number: str
    total: str


class SettleCustomerInvoice(BaseModel):
    invoice_id: int
    amount: str
    paid_at: datetime


class Deliver(BaseModel):
    key: str  # unique per event: the same key is never sent twice
    request_number: str | None = None
    recipients: list[Recipient]
    subject: str
    body: str


class UploadSweepInput(BaseModel):
    # An upload still pending this long after it was started will never be completed: its URLs expired long ago.
    abandoned_after: timedelta  # FIELDOPS_UPLOAD_ABANDONED_AFTER, passed in by the Schedule


class SweepAbandonedUploads(BaseModel):
    started_before: datetime


class UploadsSwept(BaseModel):
    attachment_ids: list[str] = []


class PaymentRunInput(BaseModel):
    run_id: str = ""  # empty for scheduled runs: the workflow id names the run
    requested_by: Actor = SYSTEM


class PaymentRunResult(BaseModel):
    run_id: str
    payments: list[Payment] = Field(default_factory=list)
