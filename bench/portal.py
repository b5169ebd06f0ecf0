"""The portal's server time per page with a large history: p50/p95 of each main page, SQLite defaults.

    .venv/bin/python bench/portal.py [--requests 10000] [--customers 1000] [--bulk 200] [--rounds 30]

Starts its own local stack (the tests' stack, SQLite, at --port-offset), makes a customer organisation with its
staff through the API and runs one real lifecycle (so invoices, notifications and a timeline exist), then loads
the read copy in intake's database directly with --requests more requests of that customer and --customers
more customers (lists are served from the read copy; loading 10,000 workflows through the API would measure
Temporal, not the portal). It signs in through the portal's own form as the customer, a dispatcher and the
provider, and requests each main page --rounds times, reading the portal's `Server-Timing` header: `app;dur=`
(the time the portal spent, its API calls included) and `api;dur=` (its API calls' time added up). Prints p50/p95
per page, the median API time and number of calls, and the worst p95. Finally a
dispatcher bulk-publishes --bulk real draft requests from the work-events page and the time is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from bench.support import open_requests, percentile  # noqa: E402
from services.intake.models import Asset, Customer, ServiceRequest  # noqa: E402
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, running_stack  # noqa: E402
from tests.support.api import Api, lifecycle, make_cast  # noqa: E402

PASSWORD = "correct-horse-battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STATUSES = [
    "draft",
    "published",
    "waiting_acceptance",
    "accepted",
    "scheduled",
    "in_progress",
    "completed",
    "paid",
    "paid",
    "paid",
    "cancelled",
]
WORDS = ["Chiller", "Pump", "Boiler", "Compressor", "Valve", "Fan", "Heater", "Printer", "Forklift", "Freezer"]


def load_read_copy(intake_db: Path, customer_id: int, requests: int, customers: int) -> None:
    """Bulk rows straight into intake's read copy: the customer's requests and many other customers."""
    engine = create_engine(f"sqlite:///{intake_db}")
    rng = random.Random(7)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        asset = conn.execute(select(Asset).where(Asset.customer_id == customer_id)).first()
        if asset is None:
            raise RuntimeError(f"customer {customer_id} has no asset to open requests on")
        conn.execute(
            insert(Customer),
            [{"name": f"Bench customer {i:04d} {rng.choice(WORDS)} Ltd", "created_at": now} for i in range(customers)],
        )
        rows = []
        for i in range(requests):
            created = now - timedelta(minutes=requests - i)
            summary = f"{rng.choice(WORDS)} {rng.choice(['leaks', 'is noisy', 'does not start', 'overheats'])}"
            number = f"SR-{500000 + i:06d}"
            rows.append(
                {
                    "number": number,
                    "customer_id": customer_id,
                    "asset_id": asset.id,
                    "site_id": asset.site_id,
                    "kind": rng.choice(["walk_in", "service_call"]),
                    "priority": rng.choice(["low", "normal", "high", "urgent"]),
                    "summary": summary,
                    "status": rng.choice(STATUSES),
                    "billing_status": "pending",
                    "version": 1,
                    "sla_breached": False,
                    "search_text": f"{number} {asset.name} {summary}".lower(),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        conn.execute(insert(ServiceRequest), rows)
        total = conn.execute(select(func.count()).select_from(ServiceRequest)).scalar_one()
    engine.dispose()
    print(f"read copy: {total} requests, {customers} more customers loaded")


def found(pattern: re.Pattern[str], text: str) -> re.Match[str]:
    match = pattern.search(text)
    if match is None:
        raise RuntimeError(f"{pattern.pattern!r} is not in {text[:300]!r}")
    return match


async def portal_session(base: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False)
    page = await client.get("/sign-in")
    token = found(CSRF, page.text).group(1)
    signed = await client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/"}
    )
    assert signed.status_code == 303, signed.text[:500]
    return client


TIMING = re.compile(r'app;dur=([0-9.]+), api;dur=([0-9.]+);desc="(\d+) calls"')


async def time_page(client: httpx.AsyncClient, path: str, rounds: int) -> tuple[list[float], list[float], int]:
    """The portal's time for each round, its API calls' time for each round, and how many calls a round makes."""
    server_ms: list[float] = []
    api_ms: list[float] = []
    calls = 0
    for _ in range(rounds):
        response = await client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
        app, api, count = found(TIMING, response.headers.get("server-timing", "")).groups()
        server_ms.append(float(app))
        api_ms.append(float(api))
        calls = int(count)
    return server_ms, api_ms, calls


async def bulk_publish(base: str, client: httpx.AsyncClient, dispatcher, cast, count: int) -> None:
    """`count` real draft requests, published in one bulk action from the work-events page's form."""
    numbers = await open_requests(cast, count, concurrency=8)
    page = await client.get("/work-events", params={"status": "draft", "customer_id": cast.customer_id})
    token = found(CSRF, page.text).group(1)
    started = time.perf_counter()
    response = await client.post(
        "/work-events/bulk", data={"csrf_token": token, "action": "publish", "numbers": numbers}, timeout=600
    )
    elapsed = time.perf_counter() - started
    assert response.status_code in (200, 303), response.text[:500]
    states = await asyncio.gather(*(dispatcher.get(f"/requests/{n}") for n in numbers))
    published = sum(1 for s in states if s["status"] == "published")
    print(f"bulk publish of {count} requests from the work-events page: {elapsed:.1f} s, {published} published")


async def measure(running, args) -> None:
    api = Api(running.api_url)
    admin = await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    cast = await make_cast(api, admin)
    await lifecycle(api, cast, invoice_number="BENCH1")
    detail = (await cast.customer.get("/requests", params={"limit": 1}))["items"][0]["number"]
    load_read_copy(running.stack.data / "db" / "intake.db", cast.customer_id, args.requests, args.customers)
    base = running.settings.gateway_url
    customer = await portal_session(base, cast.customer.email)
    dispatcher = await portal_session(base, cast.dispatcher.email)
    provider = await portal_session(base, cast.provider.email)
    pages = [
        (customer, "customer", "/overview"),
        (customer, "customer", "/requests"),
        (customer, "customer", "/requests?q=chiller&sort=-updated_at"),
        (customer, "customer", "/requests?status=completed&priority=high"),
        (customer, "customer", f"/requests/{detail}"),
        (customer, "customer", "/invoices"),
        (customer, "customer", "/assets"),
        (customer, "customer", "/notifications"),
        (customer, "customer", "/account"),
        (dispatcher, "dispatcher", "/customers"),
        (dispatcher, "dispatcher", "/customers?q=bench+customer+05"),
        (dispatcher, "dispatcher", "/work-events"),
        (dispatcher, "dispatcher", f"/work-events?customer_id={cast.customer_id}&status=draft"),
        (dispatcher, "dispatcher", f"/requests/{detail}"),
        (provider, "provider", "/work-orders"),
    ]
    print(f"{'who':11} {'page':48} {'p50 ms':>8} {'p95 ms':>8} {'api ms':>8} {'calls':>5}")
    worst = 0.0
    for client, who, path in pages:
        await time_page(client, path, 2)  # warm: the first call of a route pays for imports and caches
        server, api_ms, calls = await time_page(client, path, args.rounds)
        p95 = percentile(server, 0.95)
        worst = max(worst, p95)
        print(
            f"{who:11} {path[:48]:48} {statistics.median(server):8.1f} {p95:8.1f} {statistics.median(api_ms):8.1f} "
            f"{calls:5}"
        )
    print(
        f"worst p95 over all pages: {worst:.1f} ms ({args.requests} requests in the customer's list, "
        f"{args.customers} more customers)"
    )
    if args.bulk:
        await bulk_publish(base, dispatcher, cast.dispatcher, cast, args.bulk)
    for client in (customer, dispatcher, provider):
        await client.aclose()
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--bulk", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("FIELDOPS_TEST_PORT_OFFSET", "19800")))
    args = parser.parse_args()
    with running_stack("bench-portal", args.port_offset) as running:
        asyncio.run(measure(running, args))


if __name__ == "__main__":
    main()
