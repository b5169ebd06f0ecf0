"""Durability on a stack of its own, with short clocks: the clocks on a live stack (acceptance expiry, reminder,
SLA breach and its search attribute, payment runs on the Temporal Schedule), then several lifecycles in flight
while the workflow worker and service processes are killed with SIGKILL and the Temporal dev server is stopped and
started again on its database file. Every request still ends, and the ledgers show one work order per assignment,
one email per event and one payment per invoice."""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from shared.contracts.names import request_workflow_id
from shared.temporal import connect
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PORT_OFFSET, running_stack
from tests.lifecycle.support import mails, timeline
from tests.support.api import PAID_PATH, PDF_BYTES, Api, ApiError, make_cast, wait_for

pytestmark = pytest.mark.e2e
CLOCKS = {
    "FIELDOPS_PAYMENT_RUN_EVERY": "4",
    "FIELDOPS_ACCEPT_WITHIN_LOW": "6",
    "FIELDOPS_RECOMMENDATION_REMINDER_AFTER": "5",
    "FIELDOPS_DUE_WITHIN_LOW": "25",
}
LIFECYCLES = 4


@pytest.fixture(scope="module")
def own_stack():
    with running_stack("durability", PORT_OFFSET + 6000, CLOCKS) as running:
        yield running


@pytest.fixture(scope="module")
async def own_api(own_stack):
    client = Api(own_stack.api_url)
    yield client
    await client.close()


@pytest.fixture
async def own_cast(own_api):
    return await make_cast(own_api, await own_api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD))


async def test_clocks_on_a_live_stack(own_stack, own_api, own_cast):
    cast = own_cast
    request = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "service_call",
            "priority": "low",
            "summary": "Slow drain",
        },
        expect=201,
    )
    number = request["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    # Nobody accepts within six seconds: withdrawn, back to published, the dispatcher told.
    await wait_for(lambda: _status(cast, number, "published"), timeout=30)
    assert (await cast.provider.get(f"/work-orders/{wo}"))["status"] == "withdrawn"
    await wait_for(lambda: _mails(own_stack, cast.dispatcher.email, f"{number} is ready for routing"), timeout=15)

    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await cast.provider.post(f"/work-orders/{wo}/start")
    await cast.provider.post(f"/requests/{number}/recommendations", {"summary": "Replace the trap"}, expect=201)
    inbox = (await cast.customer.get("/me"))["notification_email"]
    reminder = await wait_for(lambda: _mails(own_stack, inbox, "waiting for your answer"), timeout=30)
    assert number in reminder[0]["Subject"]
    assert "reminder" in [e["kind"] for e in await timeline(cast.customer, number)]

    breached = await wait_for(lambda: _breached(cast, number), timeout=40)
    assert breached["status"] == "in_progress"
    listed = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "list",
            "--address",
            own_stack.settings.temporal_target,
            "--query",
            f"SlaBreached=true AND CustomerId='{cast.customer_id}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert request_workflow_id(number) in listed


class Driver:
    """Calls the API the way a careful client does while parts of the system die: every step carries its own
    Idempotency-Key and is retried, with the same key, on a connection error or a 5xx."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def call(
        self, user, method: str, path: str, body=None, expect=(200, 201), key: str | None = None, timeout: float = 150
    ):
        headers = {**user.headers, "Idempotency-Key": key or str(uuid.uuid4())}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                response = await self.api.http.request(method, path, headers=headers, json=body)
                if response.status_code in expect:
                    return response.json() if response.content else None
                if response.status_code < 500:
                    raise ApiError(response)
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{method} {path} did not succeed in {timeout}s")
            await asyncio.sleep(0.5)


async def one_lifecycle(driver: Driver, cast, index: int) -> str:
    c, d, p, ar = cast.customer, cast.dispatcher, cast.provider, cast.receivable
    request = await driver.call(
        c,
        "POST",
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "service_call",
            "priority": "high",
            "summary": f"Durable {index}",
        },
    )
    number = request["number"]
    await driver.call(d, "POST", f"/work-events/{number}/publish", {})
    wo = (await driver.call(d, "POST", f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await driver.call(p, "POST", f"/work-orders/{wo}/accept", {})
    await driver.call(p, "POST", f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
    await driver.call(p, "POST", f"/work-orders/{wo}/start", {})
    created = await driver.call(
        p,
        "POST",
        f"/requests/{number}/attachments",
        {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size_bytes": len(PDF_BYTES),
            "kind": "provider_invoice",
        },
    )
    async with httpx.AsyncClient(timeout=30) as s3:
        put = await s3.put(created["upload"]["url"], content=PDF_BYTES, headers=created["upload"]["headers"])
        assert put.status_code == 200, put.text
    await driver.call(p, "POST", f"/requests/{number}/attachments/{created['id']}/complete", {})
    await driver.call(
        p, "POST", f"/work-orders/{wo}/complete", {"notes": "done", "invoice_attachment_id": created["id"]}
    )
    await driver.call(
        p,
        "PUT",
        f"/provider-invoices/{wo}",
        {"invoice_number": f"D{index}X", "parts": "10.00", "labor": "20.00", "tax": "3.00"},
    )
    await driver.call(p, "POST", f"/provider-invoices/{wo}/submit", {})
    await driver.call(d, "POST", f"/work-events/{number}/approve-payment", {})
    # Paid by a run of the Schedule (every four seconds here), never by hand.
    await wait_for(lambda: _status(cast, number, "paid", quiet=True), timeout=150, interval=0.5)
    await driver.call(ar, "POST", f"/work-events/{number}/invoiced", {})
    invoice = next(
        i
        for i in (await driver.call(ar, "GET", "/invoices?status=outstanding"))["items"]
        if i["request_number"] == number
    )
    await driver.call(
        ar,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        {"amount": invoice["total"], "paid_at": "2030-02-01T12:00:00Z"},
    )
    return number


async def chaos(stack) -> list[str]:
    """Kill and revive parts at several points while the lifecycles run."""
    done = []

    async def step(what: str, action, *args) -> None:
        await asyncio.to_thread(action, *args)
        done.append(what)

    await asyncio.sleep(2)
    await step("kill -9 workflow-worker", stack.kill, "workflow-worker")
    await asyncio.sleep(2)
    await step("revive workflow-worker", stack.revive, "workflow-worker")
    await asyncio.sleep(2)
    await step("kill -9 routing, restart", stack.restart, "routing", True)
    await asyncio.sleep(2)
    await step("stop temporal, start on its database", stack.restart, "temporal")
    await asyncio.sleep(3)
    await step("kill -9 intake, restart", stack.restart, "intake", True)
    await asyncio.sleep(2)
    await step("kill -9 workflow-worker, restart", stack.restart, "workflow-worker", True)
    await asyncio.sleep(3)
    await step("kill -9 invoicing, restart", stack.restart, "invoicing", True)
    await asyncio.sleep(3)
    await step("kill -9 temporal, start on its database", stack.restart, "temporal", True)
    await asyncio.sleep(3)
    await step("kill -9 workflow-worker, restart", stack.restart, "workflow-worker", True)
    return done


async def test_lifecycles_survive_killed_processes(own_stack, own_api, own_cast):
    stack, cast = own_stack.stack, own_cast
    driver = Driver(own_api)

    async def staggered(i: int) -> str:
        await asyncio.sleep(i * 1.5)
        return await one_lifecycle(driver, cast, i)

    results = await asyncio.gather(chaos(stack), *(staggered(i) for i in range(LIFECYCLES)))
    faults, numbers = results[0], results[1:]
    assert len(faults) == 9

    # Every request reached its end: paid, billed and paid, its workflow completed.
    client = await connect(own_stack.settings)
    for number in numbers:
        state = await cast.dispatcher.get(f"/requests/{number}")
        assert (state["status"], state["billing_status"]) == ("paid", "paid"), state
        handle = client.get_workflow_handle(request_workflow_id(number))
        await asyncio.wait_for(handle.result(), 60)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    data = own_stack.stack.data / "db"
    # One work order per assignment (one assignment each here).
    with sqlite3.connect(data / "routing.db") as db:
        rows = db.execute(
            "SELECT request_number, assignment, status FROM work_orders WHERE request_number IN "
            f"({','.join('?' * len(numbers))})",
            numbers,
        ).fetchall()
    assert sorted((r[0], r[1]) for r in rows) == sorted((n, 1) for n in numbers)
    assert {r[2] for r in rows} == {"paid"}
    # One payment per invoice, with its reference.
    with sqlite3.connect(data / "invoicing.db") as db:
        payments = db.execute(
            "SELECT request_number, work_order_number, reference, run_id FROM payments WHERE "
            f"request_number IN ({','.join('?' * len(numbers))})",
            numbers,
        ).fetchall()
    assert sorted(p[0] for p in payments) == sorted(numbers)
    assert all(p[2].endswith(p[1]) for p in payments)
    assert all(p[3].startswith("payment-run:scheduled") for p in payments), payments  # runs of the Schedule
    runs = {r["id"] for r in (await cast.dispatcher.get("/payment-runs"))["items"]}
    assert {p[3] for p in payments} <= runs
    listed = {p["work_order_number"] for p in (await cast.provider.get("/payments"))["items"]}
    assert {p[1] for p in payments} <= listed

    # One email per event: no Message-ID twice in the mail folder, and the customer got one per status change.
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(own_stack.mail_dir.glob("*.eml"))
    ]
    counts = collections.Counter(m["Message-ID"] for m in messages)
    assert [mid for mid, n in counts.items() if n > 1] == []
    inbox = (await cast.customer.get("/me"))["notification_email"]
    for number in numbers:
        changes = [e for e in await timeline(cast.dispatcher, number) if e["kind"] == "status_change"]
        assert [e["status"] for e in changes] == PAID_PATH
        # The customer is told of each change it sees, not of the provider's invoice and payment.
        seen = [e for e in await timeline(cast.customer, number) if e["kind"] == "status_change"]
        assert [e["status"] for e in seen] == [e["status"] for e in changes][:7]
        received = [
            m
            for m in messages
            if m["To"] == inbox and " ".join(m["Subject"].split()).startswith(f"Your request {number} ")
        ]
        assert len(received) == len(seen), [m["Subject"] for m in received]


async def _status(cast, number, status, quiet=False):
    try:
        current = await cast.dispatcher.get(f"/requests/{number}")
    except (ApiError, httpx.TransportError):
        if quiet:
            return None
        raise
    return current if current["status"] == status else None


async def _breached(cast, number):
    current = await cast.dispatcher.get(f"/requests/{number}")
    return current if current["sla_breached"] else None


async def _mails(stack, to, subject):
    return mails(stack.mail_dir, to, subject)
