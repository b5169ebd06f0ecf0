"""The words of each notification, made from an event: pure, so the workflow can call it."""
from __future__ import annotations

from shared.contracts.models import RequestState, TimelineEvent

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


def describe(state: RequestState, event: TimelineEvent) -> tuple[str, str]:
    number = state.number
    detail = event.detail
    if event.kind == "status_change":
        subject = f"{number} {HEADLINES.get(event.status.value, event.status.value)}"
        lines = [f"Service request {number} is now {event.status.value}."]
        if event.previous_status:
            lines.append(f"It was {event.previous_status.value}.")
    elif event.kind == "note":
        subject = f"{number}: a new note from {event.actor.name}"
        lines = [detail.get("body", "")]
    elif event.kind == "recommendation":
        subject = f"{number}: the technician recommends {detail.get('summary', '')}"
        lines = ["Please approve, decline or ask for clarification in the portal."]
    elif event.kind == "reminder":
        subject = f"{number}: a recommendation is waiting for your answer"
        lines = [f"Recommendation: {detail.get('summary', '')}"]
    elif event.kind == "response":
        subject = f"{number}: the customer answered a recommendation ({detail.get('decision')})"
        lines = [detail.get("comment") or ""]
    elif event.kind == "sla_breached":
        subject = f"{number} is past its due time"
        lines = [f"It was due at {detail.get('due_at')} and is {event.status.value}."]
    elif event.kind == "invoice":
        subject = f"{number}: billing is {detail.get('billing_status')}"
        lines = [f"Invoice {detail.get('invoice_number', '')} total {detail.get('total', '')}".strip()]
    elif event.kind == "payment":
        subject = f"{number}: payment received"
        lines = [f"Amount {detail.get('amount')}"]
    elif event.kind == "decline":
        subject = f"{number}: a provider declined work order {detail.get('work_order_number')}"
        lines = []
    else:
        subject = f"{number}: {event.kind}"
        lines = []
    for key in ("work_order_number", "declined_work_order_number", "scheduled_for", "payment_reference", "reason",
                "notes"):
        if detail.get(key) and event.kind != "decline":
            lines.append(f"{key.replace('_', ' ').capitalize()}: {detail[key]}")
    lines.append(f"By {event.actor.name} at {event.at.isoformat()}.")
    return subject, "\n".join(line for line in lines if line)
