"""The words of each notification, made from an event: pure, so the workflow can call it.

Two readers: the operators and providers (the default, the words of shared/contracts/wording.py's STATUS_WORDS),
and the request's customer (`customer=True`: CUSTOMER_STATUS_WORDS and only what shared/contracts/customer_view.py
lets a customer see). People's words, never raw status values. The link into the portal is added to each email
by the notifications service, to the page `portal_path` names."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts import customer_view
from shared.contracts.models import RequestState, TimelineEvent
from shared.contracts.wording import status_words

# What the operators and providers read of a status change, after "Request SR-000145 ".
HEADLINES = {
    "draft": "was received",
    "published": "is ready for routing",
    "waiting_acceptance": "was offered to a provider",
    "accepted": "was accepted by a provider",
    "scheduled": "was scheduled",
    "in_progress": "is in progress",
    "awaiting_parts": "is waiting for parts",
    "ready_for_return": "is ready for pick-up",
    "completed": "was completed",
    "invoice_submitted": "has a provider invoice",
    "payment_approved": "has its provider payment approved",
    "paid": "was paid",
    "cancelled": "was cancelled",
}
DECISIONS = {"approve": "approved", "decline": "declined", "clarify": "asked for clarification on"}
# Event details worth a line of the message, with their labels.
DETAIL_LINES = {
    "work_order_number": "Work order number",
    "declined_work_order_number": "Declined work order number",
    "scheduled_for": "Scheduled for",
    "payment_reference": "Payment reference",
    "reason": "Reason",
    "notes": "Notes",
}
TIMES = {"scheduled_for", "due_at", "paid_at"}


def when(value: datetime | str | None) -> str:
    """A moment as people read it: 15 Jan 2030, 09:00 UTC."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%d %b %Y, %H:%M UTC")


def portal_path(state: RequestState, event: TimelineEvent) -> str:
    """The portal page an event's email links to: the request's page, or for a recommendation (and its
    reminder) the page that answers it."""
    recommendation_id = event.detail.get("recommendation_id")
    if event.kind in ("recommendation", "reminder") and recommendation_id is not None:
        return f"/requests/{state.number}/recommendations/{recommendation_id}"
    return f"/requests/{state.number}"


def describe(state: RequestState, event: TimelineEvent, customer: bool = False) -> tuple[str, str]:
    """(subject, body) of one event's message; `customer` for the request's customer, who must also be allowed
    to see the event at all (customer_view.shows_event)."""
    number = state.number
    detail = event.detail
    if customer:
        seen = customer_view.event({"kind": event.kind, "status": event.status.value, "detail": detail})
        detail = seen["detail"] if seen is not None else {}
    request = f"Your request {number}" if customer else f"Request {number}"

    def words(status) -> str:
        return status_words(status.value, customer=customer)

    lines: list[str] = []
    if event.kind == "status_change":
        if customer:
            subject = (
                f"{request} was received"
                if event.previous_status is None
                else f"{request} is now {words(event.status).lower()}"
            )
        else:
            subject = f"{request} {HEADLINES.get(event.status.value, 'is now ' + words(event.status).lower())}"
        line = f"Status: {words(event.status)}"
        if event.previous_status and words(event.previous_status) != words(event.status):
            line += f" (before: {words(event.previous_status)})"
        lines += [f"{subject}.", line + "."]
    elif event.kind == "note":
        subject = f"{request}: a new note from {event.actor.name}"
        lines.append(detail.get("body", ""))
    elif event.kind == "recommendation":
        subject = f"{request}: the technician recommends {detail.get('summary', '')}"
        if detail.get("estimated_cost"):
            lines.append(f"Estimated cost: {detail['estimated_cost']}")
        lines.append("Approve it, decline it or ask for clarification in the portal (the link is below).")
    elif event.kind == "reminder":
        subject = f"{request}: a recommendation is waiting for your answer"
        lines += [
            f"Recommendation: {detail.get('summary', '')}",
            "Approve it, decline it or ask for clarification in the portal (the link is below).",
        ]
    elif event.kind == "response":
        decision = DECISIONS.get(detail.get("decision", ""), "answered")
        summary = next((r.summary for r in state.recommendations if r.id == detail.get("recommendation_id")), "")
        subject = f"{request}: the customer {decision} a recommendation"
        lines += [f"Recommendation: {summary}" if summary else "", detail.get("comment") or ""]
    elif event.kind == "sla_breached":
        subject = f"{request} is past its due time"
        lines.append(f"It was due {when(detail.get('due_at'))} and is {words(event.status).lower()}.")
    elif event.kind == "invoice" and detail.get("billing_status") == "not_required":
        subject = f"{request} needs no invoice"
    elif event.kind == "invoice":
        subject = f"{request}: invoice {detail.get('invoice_number', '')} was issued".replace("  ", " ")
        if detail.get("total"):
            lines.append(f"Total: {detail['total']}")
    elif event.kind == "payment":
        subject = f"{request}: {'your payment was received' if customer else 'the customer paid its invoice'}"
        if detail.get("amount"):
            lines.append(f"Amount: {detail['amount']}")
    elif event.kind == "decline":
        subject = f"{request}: a provider declined work order {detail.get('work_order_number')}"
    else:
        subject = f"{request}: {event.kind.replace('_', ' ')}"
    if event.kind != "decline":
        for key, label in DETAIL_LINES.items():
            if detail.get(key):
                lines.append(f"{label}: {when(detail[key]) if key in TIMES else detail[key]}")
    lines.append(f"By {event.actor.name}, {when(event.at)}.")
    return subject, "\n".join(line for line in lines if line)
