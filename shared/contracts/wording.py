"""The words people read for each status: the portal's pages and the emails use these, never raw values.

No I/O: safe to import anywhere, the workflow sandbox included."""

from __future__ import annotations

STATUS_WORDS = {
    "draft": "Submitted",
    "published": "Ready for routing",
    "waiting_acceptance": "Waiting for a technician",
    "accepted": "Accepted by a technician",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "awaiting_parts": "Awaiting parts",
    "ready_for_return": "Ready for return",
    "completed": "Completed",
    "invoice_submitted": "Provider invoice submitted",
    "payment_approved": "Provider payment approved",
    "paid": "Provider paid",
    "cancelled": "Cancelled",
}

# What a customer reads: the provider-billing steps are "Completed" to them (docs/api.md, "What a customer sees").
CUSTOMER_STATUS_WORDS = {
    **STATUS_WORDS,
    "published": "Submitted",
    "invoice_submitted": "Completed",
    "payment_approved": "Completed",
    "paid": "Completed",
}

BILLING_WORDS = {
    "pending": "Not yet invoiced",
    "invoiced": "Invoiced",
    "paid": "Paid",
    "not_required": "No invoice needed",
}
PRIORITY_WORDS = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
KIND_WORDS = {"walk_in": "Walk-in repair", "service_call": "Service call"}
ROLE_WORDS = {
    "customer": "Customer",
    "provider": "Service provider",
    "dispatcher": "Dispatcher",
    "accounts_receivable": "Accounts receivable",
    "admin": "Administrator",
}
BUCKET_WORDS = {
    "draft": "Draft",
    "published": "Published",
    "assigned": "Assigned",
    "in_progress": "In progress",
    "completed": "Completed",
}

# The status ribbon of a request's page: the steps of the customer guide, and which statuses sit on each.
RIBBON = (
    ("Draft", ("draft", "published", "waiting_acceptance", "accepted")),
    ("Scheduled", ("scheduled",)),
    ("In Progress", ("in_progress",)),
    ("Awaiting Parts", ("awaiting_parts",)),
    ("Ready for Return", ("ready_for_return",)),
    ("Completed", ("completed", "invoice_submitted", "payment_approved", "paid")),
)


def status_words(status: str, customer: bool = False) -> str:
    words = CUSTOMER_STATUS_WORDS if customer else STATUS_WORDS
    return words.get(status, status.replace("_", " ").capitalize())
