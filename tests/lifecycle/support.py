"""Helpers for the lifecycle tests through the gateway: a request in a given state, extra providers, and the
table of which action each status allows."""

from __future__ import annotations

import email
import email.policy
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import Api, Cast, User

WORKING = {"accepted", "scheduled", "in_progress", "awaiting_parts", "ready_for_return"}
BEFORE_ACCEPT = {"draft", "published", "waiting_acceptance"}
ASSIGNABLE = {"published", "waiting_acceptance", "accepted", "scheduled"}
PROVIDER_BILLING = {"invoice_submitted", "payment_approved", "paid"}
DONE = {"completed"} | PROVIDER_BILLING

# action -> the statuses in which docs/api.md allows it (billing actions: while billing is still pending).
ALLOWED: dict[str, set[str]] = {
    "publish": {"draft"},
    "assign": ASSIGNABLE,
    "assign-team": ASSIGNABLE,
    "send-to-marketplace": ASSIGNABLE,
    "approve-payment": {"invoice_submitted"},
    "invoiced": DONE - {"completed"},  # the provider's invoice must be in first
    "invoice-not-required": DONE,
    "accept": {"waiting_acceptance"},
    "decline": {"waiting_acceptance"},
    "schedule": {"accepted", "scheduled"},
    "start": {"accepted", "scheduled"},
    "await-parts": {"in_progress"},
    "resume": {"awaiting_parts"},
    "ready-for-return": {"in_progress"},  # and walk-in only
    "complete": {"in_progress", "ready_for_return"},
    "submit": {"completed"},
    "customer-cancel": BEFORE_ACCEPT,
    "dispatcher-cancel": BEFORE_ACCEPT | WORKING,
}
PROVIDER_ACTIONS = {
    "accept",
    "decline",
    "schedule",
    "start",
    "await-parts",
    "resume",
    "ready-for-return",
    "complete",
    "submit",
}


async def new_request(cast: Cast, kind: str = "service_call", priority: str = "normal", **extra) -> dict:
    return await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": kind,
            "priority": priority,
            "summary": f"Fault {uuid.uuid4().hex[:6]}",
            **extra,
        },
        expect=201,
    )


async def another_provider(api: Api, cast: Cast, name: str = "Second Co") -> User:
    org = await cast.dispatcher.post("/providers", {"name": name, "email": "desk@second.example"}, expect=201)
    return await api.make_user(cast.admin, "provider", provider_id=org["id"])


async def offered(cast: Cast, kind: str = "service_call", priority: str = "normal") -> tuple[str, str]:
    """A published request offered to the cast's provider: (request number, work order number)."""
    number = (await new_request(cast, kind, priority))["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    assigned = await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    return number, assigned["work_order_number"]


async def attempt(
    api: Api,
    cast: Cast,
    action: str,
    number: str,
    wo: str | None,
    attachment_id: str | None = None,
    team_id: int | None = None,
) -> httpx.Response:
    """Send one lifecycle action as the role that may send it; answers the raw response."""
    d, p, ar = cast.dispatcher.headers, cast.provider.headers, cast.receivable.headers
    post = api.http.post
    if action in ("publish", "send-to-marketplace", "approve-payment"):
        return await post(f"/work-events/{number}/{action}", headers=d, json={})
    if action == "assign":
        return await post(f"/work-events/{number}/assign", headers=d, json={"provider_id": cast.provider_id})
    if action == "assign-team":
        return await post(f"/work-events/{number}/assign-team", headers=d, json={"team_id": team_id})
    if action in ("invoiced", "invoice-not-required"):
        return await post(f"/work-events/{number}/{action}", headers=ar, json={})
    if action == "customer-cancel":
        return await post(f"/requests/{number}/cancel", headers=cast.customer.headers, json={"reason": "probe"})
    if action == "dispatcher-cancel":
        return await post(f"/requests/{number}/cancel", headers=d, json={"reason": "probe"})
    if action == "schedule":
        return await post(f"/work-orders/{wo}/schedule", headers=p, json={"scheduled_for": "2030-03-01T08:00:00Z"})
    if action == "complete":
        return await post(
            f"/work-orders/{wo}/complete", headers=p, json={"notes": "probe", "invoice_attachment_id": attachment_id}
        )
    if action == "submit":
        return await post(f"/provider-invoices/{wo}/submit", headers=p, json={})
    return await post(f"/work-orders/{wo}/{action}", headers=p, json={})


async def probe_refusals(
    api: Api,
    cast: Cast,
    number: str,
    wo: str | None,
    status: str,
    *,
    attachment_id: str | None = None,
    team_id: int | None = None,
    skip: set[str] = frozenset(),
) -> list[str]:
    """Every action the status does not allow answers 409 naming the status; nothing changes."""
    before = await cast.dispatcher.get(f"/requests/{number}")
    assert before["status"] == status, before
    tried = []
    for action, allowed in ALLOWED.items():
        if status in allowed or action in skip or (action in PROVIDER_ACTIONS and wo is None):
            continue
        if action in ("complete", "submit") and status in BEFORE_ACCEPT:
            continue  # the provider attaches and invoices only once it holds the request (before: a 404)
        response = await attempt(api, cast, action, number, wo, attachment_id, team_id)
        assert response.status_code == 409, (action, status, response.status_code, response.text)
        # The customer reads the provider-billing statuses as completed (docs/api.md, "What a customer sees").
        named = "completed" if action == "customer-cancel" and status in PROVIDER_BILLING else status
        assert named in response.json()["detail"], (action, response.text)
        tried.append(action)
    after = await cast.dispatcher.get(f"/requests/{number}")
    assert (after["status"], after["work_order_number"]) == (status, before["work_order_number"])
    return tried


def mails(mail_dir: Path, to: str | None = None, subject_part: str = "") -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if (to is None or message["To"] == to) and subject_part in (message["Subject"] or ""):
            found.append(message)
    return found


async def timeline(user: User, number: str) -> list[dict[str, Any]]:
    return (await user.get(f"/requests/{number}/timeline"))["items"]
