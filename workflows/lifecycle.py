"""The lifecycle as data: for each action on a request, the statuses it is allowed from, the status it moves to
and who is told. Pure (no Temporal), so the workflow reads it and tests check it on its own.

Checks that need more than the status (who holds the work, which work order, the billing status) stay in the
workflow's validators; this table is what they and the transitions share.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import names
from shared.contracts.enums import DONE, WORKING, Status
from shared.contracts.models import Audience

BEFORE_ACCEPT = (Status.draft, Status.published, Status.waiting_acceptance)
ASSIGNABLE = (Status.published, Status.waiting_acceptance, Status.accepted, Status.scheduled)
NOT_CANCELLED = tuple(s for s in Status if s != Status.cancelled)
# The customer's invoice is made from the provider's, so that one must be in first.
INVOICED_FROM = tuple(s for s in DONE if s != Status.completed)
# The acceptance window ran out: a timer's transition, not an action anybody sends.
OFFER_EXPIRED = "offer_expired"


@dataclass(frozen=True)
class Step:
    verb: str  # as in "cannot {verb} SR-000001: its status is ..."
    allowed: tuple[Status, ...]
    target: Status | None  # None: the status stays (the event is about something else)
    audiences: tuple[Audience, ...]
    kind: str = "status_change"  # the timeline event it records
    why: str = ""  # said with a refusal

    def allows(self, status: Status) -> bool:
        return status in self.allowed


BILLING_WHY = "billing starts once the work is completed"

STEPS: dict[str, Step] = {
    # dispatcher
    names.PUBLISH: Step("publish", (Status.draft,), Status.published, ("customer",)),
    names.ASSIGN: Step("assign", ASSIGNABLE, Status.waiting_acceptance, ("customer", "offer")),
    names.APPROVE_PAYMENT: Step(
        "approve payment for", (Status.invoice_submitted,), Status.payment_approved, ("customer", "provider")
    ),
    # The provider who held the work, or else those it was offered to, are told too (see the workflow).
    names.CANCEL: Step("cancel", BEFORE_ACCEPT + WORKING, Status.cancelled, ("customer", "dispatchers")),
    # provider
    names.ACCEPT: Step("accept", (Status.waiting_acceptance,), Status.accepted, ("customer", "dispatchers")),
    # The last one the offer was open to declines: back to the dispatcher (others' declines change nothing).
    names.DECLINE: Step("decline", (Status.waiting_acceptance,), Status.published, ("customer", "dispatchers")),
    names.SCHEDULE: Step("schedule", (Status.accepted, Status.scheduled), Status.scheduled, ("customer",)),
    names.START_WORK: Step("start", (Status.accepted, Status.scheduled), Status.in_progress, ("customer",)),
    names.AWAIT_PARTS: Step("await parts for", (Status.in_progress,), Status.awaiting_parts, ("customer",)),
    names.RESUME: Step("resume", (Status.awaiting_parts,), Status.in_progress, ("customer",)),
    names.READY_FOR_RETURN: Step(
        "mark ready for return", (Status.in_progress,), Status.ready_for_return, ("customer",)
    ),
    names.COMPLETE: Step(
        "complete", (Status.in_progress, Status.ready_for_return), Status.completed, ("customer", "dispatchers")
    ),
    names.SUBMIT_INVOICE: Step(
        "submit an invoice for",
        (Status.completed,),
        Status.invoice_submitted,
        ("customer", "dispatchers"),
        why="an invoice is submitted once the work is completed",
    ),
    # facts from elsewhere
    names.PAYMENT_MADE: Step(
        "record the payment of", (Status.payment_approved,), Status.paid, ("customer", "provider")
    ),
    OFFER_EXPIRED: Step(
        "withdraw the offer of", (Status.waiting_acceptance,), Status.published, ("customer", "dispatchers")
    ),
    # events that leave the status as it is
    names.RECOMMEND: Step("post a recommendation on", WORKING, None, ("customer",), kind="recommendation"),
    names.RESPOND: Step(
        "respond to a recommendation on", NOT_CANCELLED, None, ("provider", "dispatchers"), kind="response"
    ),
    names.MARK_INVOICED: Step("mark invoiced", INVOICED_FROM, None, ("customer",), kind="invoice", why=BILLING_WHY),
    names.MARK_INVOICE_NOT_REQUIRED: Step(
        "mark invoice not required for", DONE, None, ("customer",), kind="invoice", why=BILLING_WHY
    ),
    names.RECORD_CUSTOMER_PAYMENT: Step("record a payment for", DONE, None, ("customer",), kind="payment"),
}


def step(name: str) -> Step:
    return STEPS[name]


def after(name: str, status: Status) -> Status | None:
    """The status `name` leaves a request in that is now `status`, or None where it is not allowed."""
    s = STEPS[name]
    if not s.allows(status):
        return None
    return s.target or status
