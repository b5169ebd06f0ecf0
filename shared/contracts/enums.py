from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    customer = "customer"
    provider = "provider"
    dispatcher = "dispatcher"
    accounts_receivable = "accounts_receivable"
    admin = "admin"


class Kind(StrEnum):
    walk_in = "walk_in"
    service_call = "service_call"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Status(StrEnum):
    draft = "draft"
    published = "published"
    waiting_acceptance = "waiting_acceptance"
    accepted = "accepted"
    scheduled = "scheduled"
    in_progress = "in_progress"
    awaiting_parts = "awaiting_parts"
    ready_for_return = "ready_for_return"
    completed = "completed"
    invoice_submitted = "invoice_submitted"
    payment_approved = "payment_approved"
    paid = "paid"
    cancelled = "cancelled"


class BillingStatus(StrEnum):
    pending = "pending"
    invoiced = "invoiced"
    paid = "paid"
    not_required = "not_required"


class OfferKind(StrEnum):
    provider = "provider"
    team = "team"
    marketplace = "marketplace"


# The five dashboard buckets of docs/api.md.
BUCKETS: dict[str, tuple[Status, ...]] = {
    "draft": (Status.draft,),
    "published": (Status.published,),
    "assigned": (Status.waiting_acceptance,),
    "in_progress": (
        Status.accepted,
        Status.scheduled,
        Status.in_progress,
        Status.awaiting_parts,
        Status.ready_for_return,
    ),
    "completed": (Status.completed, Status.invoice_submitted, Status.payment_approved, Status.paid),
}

# Statuses in which a provider holds the work (accepted and not yet completed).
WORKING = BUCKETS["in_progress"]
# Completed and everything after it.
DONE = BUCKETS["completed"]
