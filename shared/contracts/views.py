"""The public view of a request's state, as the transition endpoints answer it."""

from __future__ import annotations

from shared.contracts.models import RequestState

PUBLIC_FIELDS = {
    "number",
    "status",
    "billing_status",
    "customer_id",
    "priority",
    "kind",
    "work_order_number",
    "provider_id",
    "scheduled_for",
    "payment_reference",
    "accept_by",
    "due_at",
    "sla_breached",
}


def public_state(state: RequestState) -> dict:
    return state.model_dump(mode="json", include=PUBLIC_FIELDS)
