"""Steps of a request's lifecycle through the gateway, for the operators' tests: each stops where a test needs it."""

from __future__ import annotations

import email
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import Api, Cast, User, upload_invoice_copy

INVOICE = {"parts": "120.00", "labor": "80.50", "tax": "20.05"}  # total 220.55


async def new_request(
    cast: Cast, priority: str = "normal", kind: str = "service_call", summary: str = "Chiller does not cool"
) -> str:
    created = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": kind,
            "priority": priority,
            "summary": summary,
        },
        expect=201,
    )
    assert created["status"] == "draft"
    return created["number"]


async def assigned(cast: Cast, number: str, provider_id: int | None = None) -> str:
    """Publish and offer to one provider; the work order number."""
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    state = await cast.dispatcher.post(
        f"/work-events/{number}/assign", {"provider_id": provider_id or cast.provider_id}
    )
    assert state["status"] == "waiting_acceptance"
    return state["work_order_number"]


async def started(cast: Cast, number: str, provider: User | None = None, provider_id: int | None = None) -> str:
    """Offered, accepted and in progress; the work order number."""
    provider = provider or cast.provider
    wo = await assigned(cast, number, provider_id or provider.provider_id)
    await provider.post(f"/work-orders/{wo}/accept")
    state = await provider.post(f"/work-orders/{wo}/start")
    assert state["status"] == "in_progress"
    return wo


async def complete(api: Api, provider: User, number: str, wo: str) -> dict:
    attachment_id = await upload_invoice_copy(api, provider, number)
    return await provider.post(
        f"/work-orders/{wo}/complete", {"notes": "Replaced the start relay", "invoice_attachment_id": attachment_id}
    )


async def completed(api: Api, cast: Cast, number: str, provider: User | None = None) -> str:
    provider = provider or cast.provider
    wo = await started(cast, number, provider)
    state = await complete(api, provider, number, wo)
    assert state["status"] == "completed"
    return wo


def invoice_number() -> str:
    return "P" + uuid.uuid4().hex[:8].upper()


async def invoice_submitted(api: Api, cast: Cast, number: str, amounts: dict | None = None) -> str:
    wo = await completed(api, cast, number)
    await cast.provider.put(f"/provider-invoices/{wo}", {"invoice_number": invoice_number(), **(amounts or INVOICE)})
    state = await cast.provider.post(f"/provider-invoices/{wo}/submit")
    assert state["status"] == "invoice_submitted"
    return wo


async def status_of(user: User, number: str) -> dict:
    return await user.get(f"/requests/{number}")


async def refused(user: User, method: str, path: str, status: int, body: Any = None) -> str:
    """Call expecting a refusal; the detail as text."""
    response = await user.api.http.request(
        method, path, headers=user.headers, json=body if body is not None else (None if method == "GET" else {})
    )
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
    return str(response.json()["detail"])


def mails(mail_dir: Path, address: str | None = None) -> list[Message]:
    messages = [email.message_from_bytes(p.read_bytes()) for p in sorted(mail_dir.glob("*.eml"))]
    return [m for m in messages if address is None or m["To"] == address]


async def pdf_bytes(user: User, path: str) -> bytes:
    response: httpx.Response = await user.call("GET", path)
    assert response.headers["content-type"] == "application/pdf"
    return response.content
