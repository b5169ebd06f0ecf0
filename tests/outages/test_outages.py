"""Outages of one part at a time, on a stack of its own whose services keep their data in a PostgreSQL server of
the module's own: the mail server down in the middle of lifecycles, object storage down during uploads, and the
database restarted under load. Each part comes back, and nothing is lost, repeated or left failing."""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import uuid

import httpx
import psycopg
import pytest
from sqlalchemy import text

from shared.db import Database
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PORT_OFFSET, running_stack
from tests.outages.own_postgres import own_postgres
from tests.support.api import PDF_BYTES, Api, ApiError, Cast, make_cast, wait_for
from tests.support.postgres import service_databases

pytestmark = pytest.mark.e2e
# Long enough for every queued email to fail several attempts (the retry policy backs off 0.2, 0.4, 0.8 ... s, to
# 10 s at most): the minute only repeats more of the same attempts.
SMTP_DOWN = 8
LIFECYCLES = 3


@pytest.fixture(scope="module")
def outage_stack():
    with own_postgres() as server, service_databases(server.admin_url) as urls:
        extra = {f"FIELDOPS_DB_{service.upper()}": url for service, url in urls.items()}
        # The PostgreSQL stacks' offset: modules run one after another, so the two never overlap.
        with running_stack("outages", PORT_OFFSET + 3000, extra) as running:
            running.postgres = server
            yield running


@pytest.fixture(scope="module")
async def own_api(outage_stack):
    client = Api(outage_stack.api_url)
    yield client
    await client.close()


@pytest.fixture
async def own_cast(own_api) -> Cast:
    return await make_cast(own_api, await own_api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD))


async def new_request(cast: Cast, summary: str) -> str:
    request = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "service_call",
            "priority": "high",
            "summary": summary,
        },
        expect=201,
    )
    return request["number"]


def email_ledger(stack) -> dict[str, tuple[str, int]]:
    """The notifications service's ledger: {Message-ID: (status, attempts)}."""
    url = stack.settings.database_url("notifications").replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as db:
        return {
            mid: (status, attempts)
            for mid, status, attempts in db.execute("SELECT message_id, status, attempts FROM emails")
        }


def mail_folder(stack) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(stack.mail_dir.glob("*.eml"))
    ]


# --- the mail server ---------------------------------------------------------------------------------
async def test_emails_wait_for_the_mail_server_and_arrive_once(outage_stack, own_cast):
    stack, cast = outage_stack.stack, own_cast
    numbers = [await new_request(cast, f"Mail outage {i}") for i in range(LIFECYCLES)]
    for number in numbers:
        await cast.dispatcher.post(f"/work-events/{number}/publish")

    await asyncio.to_thread(stack.kill, "smtp")
    in_folder = len(mail_folder(outage_stack))

    async def go_on(number: str) -> None:
        wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
            "work_order_number"
        ]
        await cast.provider.post(f"/work-orders/{wo}/accept")

    going = asyncio.gather(*(go_on(number) for number in numbers))
    await asyncio.sleep(SMTP_DOWN)
    # Queued while down: the assignments' emails are in the ledger, unsent after several attempts, and nothing
    # reached the mail folder.
    queued = {
        mid for mid, (status, attempts) in email_ledger(outage_stack).items() if status != "sent" and attempts > 1
    }
    assert len(queued) >= LIFECYCLES, email_ledger(outage_stack)
    assert len(mail_folder(outage_stack)) == in_folder

    await asyncio.to_thread(stack.revive, "smtp")
    await asyncio.wait_for(going, 60)

    # Every email arrives once it is back: the customer hears of each of the four status changes of each
    # request (draft, published, waiting_acceptance, accepted) once, and the ledger has nothing left to send.
    inbox = (await cast.customer.get("/me"))["notification_email"]

    async def all_sent():
        subjects = [" ".join(m["Subject"].split()) for m in mail_folder(outage_stack) if m["To"] == inbox]
        told = [len([s for s in subjects if s.startswith(f"Your request {n} ")]) for n in numbers]
        ledger = email_ledger(outage_stack)
        return ledger if told == [4] * LIFECYCLES and {s for s, _ in ledger.values()} == {"sent"} else None

    ledger = await wait_for(all_sent, timeout=60, interval=0.5)
    # Once each: no Message-ID twice in the folder, and every one the ledger marked sent, the queued ones
    # included, is there (read after the ledger: a later event's email may have joined since).
    counts = collections.Counter(m["Message-ID"] for m in mail_folder(outage_stack))
    assert {mid: n for mid, n in counts.items() if n != 1} == {}
    assert queued <= set(ledger) <= set(counts)


# --- object storage ----------------------------------------------------------------------------------
async def test_uploads_answer_503_while_storage_is_down(outage_stack, own_cast):
    stack, customer = outage_stack.stack, own_cast.customer
    number = await new_request(own_cast, "Storage outage")
    small = {"filename": "report.pdf", "content_type": "application/pdf", "size_bytes": len(PDF_BYTES)}
    started = await customer.post(f"/requests/{number}/attachments", small, expect=201)
    async with httpx.AsyncClient(timeout=30) as s3:
        put = await s3.put(started["upload"]["url"], content=PDF_BYTES, headers=started["upload"]["headers"])
        assert put.status_code == 200, put.text

    await asyncio.to_thread(stack.kill, "seaweedfs")
    try:
        attempts = [
            ("POST", f"/requests/{number}/attachments", small),
            ("POST", f"/requests/{number}/attachments", {**small, "size_bytes": 200 * 1024 * 1024}),  # multipart
            ("POST", f"/requests/{number}/attachments/{started['id']}/complete", {}),
        ]
        for method, path, body in attempts:
            response = await customer.api.http.request(method, path, json=body, headers=customer.headers)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert "storage" in response.json()["detail"]
            assert response.headers["retry-after"].isdigit()
    finally:
        await asyncio.to_thread(stack.revive, "seaweedfs")

    # Back: the upload started before the outage completes, and a new one goes through end to end.
    async def completed():
        try:
            return await customer.post(f"/requests/{number}/attachments/{started['id']}/complete", {})
        except ApiError as exc:
            if exc.response.status_code != 503:
                raise
            return None

    assert (await wait_for(completed, timeout=30))["status"] == "stored"
    again = await customer.post(f"/requests/{number}/attachments", small, expect=201)
    async with httpx.AsyncClient(timeout=30) as s3:
        put = await s3.put(again["upload"]["url"], content=PDF_BYTES, headers=again["upload"]["headers"])
        assert put.status_code == 200, put.text
    await customer.post(f"/requests/{number}/attachments/{again['id']}/complete", {})
    listed = (await customer.get(f"/requests/{number}/attachments"))["items"]
    assert {a["id"] for a in listed} == {started["id"], again["id"]}


# --- the database ------------------------------------------------------------------------------------
class Recorder:
    """Calls the API as a careful client does: each step with its own Idempotency-Key, retried with the same key
    on a 5xx or a broken connection. Every answer is kept with the time it was asked."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.answers: list[tuple[float, str, int]] = []

    async def call(self, user, method: str, path: str, body=None, timeout: float = 90):
        headers = {**user.headers, "Idempotency-Key": str(uuid.uuid4())}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            asked = loop.time()
            try:
                response = await self.api.http.request(method, path, headers=headers, json=body)
            except httpx.TransportError:
                self.answers.append((asked, path, 0))
            else:
                self.answers.append((asked, path, response.status_code))
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise ApiError(response)
                    return response.json() if response.content else None
            if loop.time() > deadline:
                raise AssertionError(f"{method} {path} did not succeed in {timeout}s")
            await asyncio.sleep(0.3)


async def steady_lifecycle(client: Recorder, cast: Cast, index: int) -> str:
    c, d, p = cast.customer, cast.dispatcher, cast.provider
    number = (
        await client.call(
            c,
            "POST",
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "service_call",
                "priority": "high",
                "summary": f"Database restart {index}",
            },
        )
    )["number"]
    await client.call(d, "POST", f"/work-events/{number}/publish", {})
    wo = (await client.call(d, "POST", f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await client.call(p, "POST", f"/work-orders/{wo}/accept", {})
    await client.call(p, "POST", f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
    await client.call(p, "POST", f"/work-orders/{wo}/start", {})
    await client.call(p, "POST", f"/work-orders/{wo}/await-parts", {"notes": "Relay on order"})
    await client.call(p, "POST", f"/work-orders/{wo}/resume", {})
    return number


async def readers(client: Recorder, cast: Cast, until: asyncio.Event) -> None:
    """Reads across every service while the lifecycles run."""
    while not until.is_set():
        await client.call(cast.customer, "GET", "/requests")
        await client.call(cast.provider, "GET", "/work-orders")
        await client.call(cast.receivable, "GET", "/invoices")
        await client.call(cast.customer, "GET", "/notifications")


async def test_requests_resume_after_a_database_restart(outage_stack, own_api, own_cast):
    server, cast = outage_stack.postgres, own_cast
    client = Recorder(own_api)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    async def restart() -> tuple[float, float]:
        await asyncio.sleep(3)
        # A session holding its connection across the restart, as a request waiting on its workflow does: it
        # ends without an error, though the server cut its connection.
        held = Database(outage_stack.settings.database_url("routing"))
        try:
            session = held.sessions()
            await session.execute(text("SELECT 1"))
            stopped = loop.time()
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(server.start)
            started = loop.time()
            await session.close()
            assert held.engine.pool.checkedout() == 0
        finally:
            await held.dispose()
        return stopped, started

    async def staggered(i: int) -> str:
        await asyncio.sleep(i)
        return await steady_lifecycle(client, cast, i)

    reading = asyncio.create_task(readers(client, cast, done))
    results = await asyncio.gather(restart(), *(staggered(i) for i in range(LIFECYCLES)))
    (stopped, started), numbers = results[0], results[1:]
    # The readers go on until they have asked once more with the server back: the lifecycles may all have
    # finished before it was (the restart, not the load, ended last).
    deadline = loop.time() + 60
    while not any(asked > started for asked, _, _ in client.answers) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    done.set()
    await reading

    # Every request went its whole way, each step once.
    for number in numbers:
        state = await cast.dispatcher.get(f"/requests/{number}")
        assert state["status"] == "in_progress"
        changes = [
            e["status"]
            for e in (await cast.dispatcher.get(f"/requests/{number}/timeline"))["items"]
            if e["kind"] == "status_change"
        ]
        assert changes == [
            "draft",
            "published",
            "waiting_acceptance",
            "accepted",
            "scheduled",
            "in_progress",
            "awaiting_parts",
            "in_progress",
        ]
    # The restart fell in the middle of the load and was felt, and no error outlived it: nothing asked once the
    # server was back answered a 5xx.
    assert any(asked < stopped for asked, _, _ in client.answers)
    assert any(stopped < asked < started and not 0 < status < 500 for asked, _, status in client.answers)
    assert any(asked > started for asked, _, _ in client.answers)
    after = [(path, status) for asked, path, status in client.answers if asked > started and not 0 < status < 500]
    assert after == []
    for user, path in (
        (cast.customer, "/requests"),
        (cast.provider, "/work-orders"),
        (cast.receivable, "/invoices"),
        (cast.customer, "/notifications"),
    ):
        await user.get(path)
