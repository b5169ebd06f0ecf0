"""What a customer sees of its requests: the one place that decides it (docs/api.md, "What a customer sees").

The operator sits between its customers and the providers: a provider invoices the operator and is paid by it,
and that is none of the customer's business. So, to a customer,
- the provider-billing statuses (`invoice_submitted`, `payment_approved`, `paid`) read `completed`;
- a request carries no `payment_reference`;
- the events of the provider's invoice and payment (and the provider's copy of its invoice, an attachment of
  kind `provider_invoice`) are not shown, and nobody tells the customer of them.
The customer's own billing (`billing_status`, its invoices and payments) is shown as it is. Everyone else
(operators, the assigned provider) sees everything.

Pure and free of I/O: the services, the workflow sandbox and the portal may all import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

COMPLETED = "completed"
PROVIDER_BILLING_STATUSES = frozenset({"invoice_submitted", "payment_approved", "paid"})
# What a customer's `status=completed` filter means among the stored statuses.
COMPLETED_FOR_CUSTOMER = (COMPLETED, *sorted(PROVIDER_BILLING_STATUSES))
# Request fields of the provider's invoice and payment: null in a customer's answers.
HIDDEN_REQUEST_FIELDS = ("payment_reference",)
# Keys of an event's detail that point at the provider's invoice or payment (the completion names the invoice copy).
HIDDEN_DETAIL_KEYS = frozenset({"invoice_attachment_id", "invoice_number", "payment_reference", "amount", "paid_at"})
# Detail keys of the customer's own billing events (its invoice number, total, amount paid): kept for them.
OWN_BILLING_KINDS = frozenset({"invoice", "payment"})
PROVIDER_INVOICE_ATTACHMENT = "provider_invoice"


def status(value: str | None) -> str | None:
    """A request's status as its customer reads it."""
    return COMPLETED if value in PROVIDER_BILLING_STATUSES else value


def statuses_matching(requested: Iterable[str]) -> list[str]:
    """The stored statuses a customer's status filter stands for: `completed` (or any status it hides) finds
    every request the customer sees as completed."""
    found: list[str] = []
    for value in requested:
        for stored in COMPLETED_FOR_CUSTOMER if status(value) == COMPLETED else (value,):
            if stored not in found:
                found.append(stored)
    return found


def request(data: dict[str, Any]) -> dict[str, Any]:
    """A request (a dict of its public fields) as its customer sees it."""
    seen = {**data, "status": status(data.get("status"))}
    for field in HIDDEN_REQUEST_FIELDS:
        if field in seen:
            seen[field] = None
    return seen


def shows_attachment(kind: str | None) -> bool:
    return kind != PROVIDER_INVOICE_ATTACHMENT


def shows_event(kind: str, event_status: str | None, detail: dict[str, Any] | None) -> bool:
    """Whether a customer sees (and hears of) a timeline event: not the provider's invoice or payment."""
    if kind == "status_change" and event_status in PROVIDER_BILLING_STATUSES:
        return False
    return kind != "attachment" or shows_attachment((detail or {}).get("kind"))


def event(entry: dict[str, Any]) -> dict[str, Any] | None:
    """A timeline entry (a dict with kind, status, previous_status, detail) as its customer sees it, or None
    when the customer does not see it at all."""
    detail = entry.get("detail") or {}
    if not shows_event(entry["kind"], entry.get("status"), detail):
        return None
    if entry["kind"] not in OWN_BILLING_KINDS:
        detail = {key: value for key, value in detail.items() if key not in HIDDEN_DETAIL_KEYS}
    seen = {**entry, "status": status(entry.get("status")), "detail": detail}
    if "previous_status" in entry:
        seen["previous_status"] = status(entry["previous_status"])
    return seen


_STATUS_IN_TEXT = re.compile(r"\b(status is )(" + "|".join(sorted(PROVIDER_BILLING_STATUSES)) + r")\b")


def message(text: str) -> str:
    """An error's detail as a customer reads it: "its status is paid" says "its status is completed"."""
    return _STATUS_IN_TEXT.sub(rf"\g<1>{COMPLETED}", text)
