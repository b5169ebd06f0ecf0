"""A small client of the public API, used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
# The smallest valid PDF: enough for the server's check of a file's first bytes.
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


class ApiError(AssertionError):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}")


@dataclass
class User:
    api: Api
    token: str
    id: int
    email: str
    customer_id: int | None = None
    provider_id: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 201, 202, 204), **kw) -> Any:
        response = await self.api.http.request(method, path, headers={**self.headers, **kw.pop("headers", {})}, **kw)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise ApiError(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else response

    async def get(self, path: str, **kw) -> Any:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw) -> Any:
        return await self.call("POST", path, json=json if json is not None else {}, **kw)

    async def put(self, path: str, json: Any, **kw) -> Any:
        return await self.call("PUT", path, json=json, **kw)


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=60)

    async def close(self) -> None:
        await self.http.aclose()

    async def sign_in(self, email: str, password: str) -> User:
        response = await self.http.post("/auth/token", data={"username": email, "password": password})
        if response.status_code != 200:
            raise ApiError(response)
        token = response.json()["access_token"]
        me = (await self.http.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
        return User(self, token, me["id"], me["email"], me.get("customer_id"), me.get("provider_id"))

    async def make_user(self, admin: User, role: str, password: str = "correct-horse-battery", **extra) -> User:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        await admin.post(
            "/users",
            {"email": email, "full_name": f"{role.title()} {email[:6]}", "role": role, "password": password, **extra},
            expect=201,
        )
        return await self.sign_in(email, password)


def create_admin(env: dict[str, str], email: str, password: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "fieldops"), "create-admin", "--email", email, "--password", password],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )


@dataclass
class Cast:
    """Everyone a lifecycle needs, made through the API by an admin."""

    admin: User
    dispatcher: User
    receivable: User
    customer: User
    provider: User
    customer_id: int
    asset_id: int
    provider_id: int


async def make_cast(api: Api, admin: User, operators: tuple[User, User] | None = None) -> Cast:
    """A customer and a provider of their own, with a new dispatcher and accounts-receivable clerk unless
    `operators` (dispatcher, receivable) are given: operators work for the whole firm, across customers."""
    if operators:
        dispatcher, receivable = operators
    else:
        dispatcher = await api.make_user(admin, "dispatcher")
        receivable = await api.make_user(admin, "accounts_receivable")
    customer_org = await admin.post("/customers", {"name": f"Acme {uuid.uuid4().hex[:6]}"}, expect=201)
    customer = await api.make_user(
        admin,
        "customer",
        customer_id=customer_org["id"],
        notification_email=f"notify-{uuid.uuid4().hex[:8]}@example.com",
    )
    site = await dispatcher.post(
        f"/customers/{customer_org['id']}/sites", {"name": "Main plant", "address": "1 Road"}, expect=201
    )
    asset = await customer.post(
        "/assets",
        {
            "customer_id": customer_org["id"],
            "site_id": site["id"],
            "name": "Chiller 3",
            "serial_number": f"SN{uuid.uuid4().hex[:8]}",
        },
        expect=201,
    )
    provider_org = await dispatcher.post("/providers", {"name": "FixIt Ltd", "email": "ops@fixit.example"}, expect=201)
    provider = await api.make_user(admin, "provider", provider_id=provider_org["id"])
    return Cast(admin, dispatcher, receivable, customer, provider, customer_org["id"], asset["id"], provider_org["id"])


async def upload_invoice_copy(api: Api, provider: User, number: str) -> str:
    created = await provider.post(
        f"/requests/{number}/attachments",
        {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size_bytes": len(PDF_BYTES),
            "kind": "provider_invoice",
        },
        expect=201,
    )
    upload = created["upload"]
    async with httpx.AsyncClient(timeout=60) as s3:
        put = await s3.put(upload["url"], content=PDF_BYTES, headers=upload["headers"])
        assert put.status_code == 200, put.text
    await provider.post(f"/requests/{number}/attachments/{created['id']}/complete", {})
    return created["id"]


async def wait_for(check, timeout: float = 30, interval: float = 0.2):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


# The statuses a request passes through on the way `lifecycle` drives it, in order (as operators see them).
PAID_PATH = [
    "draft",
    "published",
    "waiting_acceptance",
    "accepted",
    "scheduled",
    "in_progress",
    "completed",
    "invoice_submitted",
    "payment_approved",
    "paid",
]


async def lifecycle(
    api: Api, cast: Cast, invoice_number: str = "INV1001", timings: list[float] | None = None, pay: bool = True
) -> dict:
    """Submission to payment and customer billing, through the gateway; returns the final request as the
    dispatcher sees it (the customer sees `completed` and no payment reference: docs/api.md, "What a customer sees").
    `timings` collects the latency of each lifecycle action (seconds)."""
    loop = asyncio.get_running_loop()

    async def act(user: User, method: str, path: str, body: Any = None, **kw) -> Any:
        started = loop.time()
        result = await user.call(method, path, json=body if body is not None else {}, **kw)
        if timings is not None:
            timings.append(loop.time() - started)
        return result

    request = await act(
        cast.customer,
        "POST",
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "service_call",
            "priority": "high",
            "summary": "Chiller does not cool",
            "detail": "Compressor trips after ten minutes",
        },
        expect=201,
    )
    number = request["number"]
    await act(cast.dispatcher, "POST", f"/work-events/{number}/publish")
    assigned = await act(cast.dispatcher, "POST", f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    wo = assigned["work_order_number"]
    await act(cast.provider, "POST", f"/work-orders/{wo}/accept")
    await act(cast.provider, "POST", f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
    await act(cast.provider, "POST", f"/work-orders/{wo}/start")
    attachment_id = await upload_invoice_copy(api, cast.provider, number)
    await act(
        cast.provider,
        "POST",
        f"/work-orders/{wo}/complete",
        {"notes": "Replaced the start relay", "invoice_attachment_id": attachment_id},
    )
    await act(
        cast.provider,
        "PUT",
        f"/provider-invoices/{wo}",
        {"invoice_number": invoice_number, "parts": "120.00", "labor": "80.50", "tax": "20.05"},
    )
    await act(cast.provider, "POST", f"/provider-invoices/{wo}/submit")
    await act(cast.dispatcher, "POST", f"/work-events/{number}/approve-payment")
    if pay:
        await act(cast.dispatcher, "POST", "/payment-runs", expect=201)

        async def paid():
            current = await cast.dispatcher.get(f"/requests/{number}")
            return current if current["status"] == "paid" else None

        await wait_for(paid)
    await act(cast.receivable, "POST", f"/work-events/{number}/invoiced")
    invoices = await cast.customer.get("/invoices?status=outstanding")
    invoice = next(i for i in invoices["items"] if i["request_number"] == number)
    await act(
        cast.receivable,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        {"amount": invoice["total"], "paid_at": "2030-02-01T12:00:00Z"},
    )
    return await cast.dispatcher.get(f"/requests/{number}")
