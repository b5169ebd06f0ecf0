"""Request search with 100,000 requests in PostgreSQL: p50/p95 of filtered, sorted, cursor-paged queries.

    .venv/bin/python bench/search.py [--rows 100000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Makes a scratch intake database on the PostgreSQL server, migrates it to head with Alembic (so the indexes are
the ones production gets, pg_trgm included), bulk-loads customers, sites, assets and requests with COPY (not
through the API), ANALYZEs, then times pages of `GET /requests` and `GET /work-events` by calling the real route
code (`services.intake.service.search_requests`, the same function the routes call, serialisation included)
for a customer and for a dispatcher. Prints p50/p95 per scenario and overall, and the plan's index use for
`q`. The scratch database is dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

from services.intake.service import search_requests  # noqa: E402
from shared import migrations  # noqa: E402
from shared.auth import Principal  # noqa: E402
from shared.contracts.enums import Priority, Role, Status  # noqa: E402
from shared.db import Database  # noqa: E402
from tests.support.postgres import LOCAL_ADMIN_URL  # noqa: E402

WORDS = [
    "chiller",
    "pump",
    "boiler",
    "compressor",
    "valve",
    "fan",
    "heater",
    "printer",
    "forklift",
    "conveyor",
    "generator",
    "elevator",
    "freezer",
    "laptop",
    "router",
    "scanner",
]
FAULTS = [
    "does not start",
    "leaks",
    "makes noise",
    "overheats",
    "trips the breaker",
    "shows error E4",
    "vibrates",
    "is slow",
    "will not cool",
    "smells of burning",
]
CITIES = ["Harbour", "Airport", "North", "South", "Riverside", "Old Town", "Docklands", "Hillside"]
# A realistic spread: most requests are done, a few are in each open state.
STATUS_WEIGHTS = {
    Status.paid: 55,
    Status.cancelled: 8,
    Status.completed: 4,
    Status.invoice_submitted: 3,
    Status.payment_approved: 2,
    Status.draft: 6,
    Status.published: 5,
    Status.waiting_acceptance: 4,
    Status.accepted: 3,
    Status.scheduled: 4,
    Status.in_progress: 4,
    Status.awaiting_parts: 1,
    Status.ready_for_return: 1,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load(url: str, rows: int, customers: int, seed: int) -> dict:
    """Bulk-load with COPY; returns what the scenarios pick their parameters from."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    sites_per_customer, assets_per_customer = 3, 12
    serials: list[str] = []
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY customers (id, name, email, created_at) FROM STDIN") as copy:
            for c in range(1, customers + 1):
                copy.write_row((c, f"Customer {c}", f"ops{c}@example.com", now - timedelta(days=800)))
        sites = {}
        with cur.copy("COPY sites (id, customer_id, name, address, created_at) FROM STDIN") as copy:
            for c in range(1, customers + 1):
                for s in range(sites_per_customer):
                    site_id = (c - 1) * sites_per_customer + s + 1
                    sites[site_id] = (f"{rng.choice(CITIES)} site {site_id}", f"{rng.randint(1, 999)} Main Road")
                    copy.write_row((site_id, c, sites[site_id][0], sites[site_id][1], now - timedelta(days=800)))
        assets = {}
        copy_assets = "COPY assets (id, customer_id, site_id, name, serial_number, model, created_at) FROM STDIN"
        with cur.copy(copy_assets) as copy:
            for c in range(1, customers + 1):
                for a in range(assets_per_customer):
                    asset_id = (c - 1) * assets_per_customer + a + 1
                    site_id = (c - 1) * sites_per_customer + rng.randrange(sites_per_customer) + 1
                    serial = f"SN{uuid.UUID(int=rng.getrandbits(128)).hex[:10].upper()}"
                    serials.append(serial)
                    assets[asset_id] = (c, site_id, f"{rng.choice(WORDS).title()} {a + 1}", serial)
                    copy.write_row(
                        (asset_id, c, site_id, assets[asset_id][2], serial, "M-1", now - timedelta(days=800))
                    )
        statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
        priorities = [p.value for p in Priority]
        columns = (
            "id, number, customer_id, asset_id, site_id, kind, priority, summary, detail, status, "
            "billing_status, work_order_number, provider_id, sla_breached, version, search_text, created_by, "
            "created_at, updated_at"
        )
        with cur.copy(f"COPY requests ({columns}) FROM STDIN") as copy:
            for r in range(1, rows + 1):
                number = f"SR-{r:06d}"
                asset_id = rng.randrange(1, customers * assets_per_customer + 1)
                customer_id, site_id, asset_name, serial = assets[asset_id]
                created = now - timedelta(days=730) + timedelta(seconds=r * (730 * 86400 / rows))
                updated = min(now, created + timedelta(hours=rng.randint(0, 24 * 30)))
                status = rng.choices(statuses, weights)[0]
                summary = f"{asset_name.split()[0]} {rng.choice(FAULTS)}"
                site_name, address = sites[site_id]
                search = " ".join([number, asset_name, serial, site_name, address, summary]).lower()
                assigned = status not in (Status.draft, Status.published, Status.cancelled)
                copy.write_row(
                    (
                        r,
                        number,
                        customer_id,
                        asset_id,
                        site_id,
                        rng.choice(["walk_in", "service_call"]),
                        rng.choice(priorities),
                        summary,
                        None,
                        status.value,
                        "paid" if status == Status.paid else "pending",
                        f"{600010000 + r}" if assigned else None,
                        rng.randrange(1, 51) if assigned else None,
                        False,
                        1,
                        search,
                        None,
                        created,
                        updated,
                    )
                )
        for table in ("customers", "sites", "assets", "requests"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"serials": serials, "customers": customers, "rng": rng}


async def run(url_async: str, data: dict, iterations: int) -> None:
    rng: random.Random = data["rng"]
    db = Database(url_async)
    dispatcher = Principal(user_id=1, role=Role.dispatcher, email="d@example.com", name="Dispatcher")

    def customer() -> Principal:
        cid = rng.randrange(1, data["customers"] + 1)
        return Principal(user_id=1000 + cid, role=Role.customer, email="c@example.com", name="C", customer_id=cid)

    def open_status() -> list[str]:
        return [
            rng.choice(
                [Status.draft, Status.published, Status.waiting_acceptance, Status.in_progress, Status.scheduled]
            ).value
        ]

    scenarios: dict[str, Callable[[], tuple[Principal, dict[str, Any]]]] = {
        "customer: own list, -created_at": lambda: (customer(), {}),
        "customer: status + -updated_at": lambda: (customer(), {"status": open_status(), "sort": "-updated_at"}),
        "customer: q=word, -created_at": lambda: (customer(), {"q": rng.choice(WORDS)}),
        "dispatcher: status + priority, -created_at": lambda: (
            dispatcher,
            {"status": open_status(), "priority": rng.choice(list(Priority))},
        ),
        "dispatcher: two statuses, updated_at": lambda: (
            dispatcher,
            {"status": [Status.published.value, Status.waiting_acceptance.value], "sort": "updated_at"},
        ),
        "dispatcher: q=serial fragment": lambda: (dispatcher, {"q": rng.choice(data["serials"])[2:9].lower()}),
        "dispatcher: q=site + customer": lambda: (
            dispatcher,
            {"q": rng.choice(CITIES).lower(), "customer_id": rng.randrange(1, data["customers"] + 1)},
        ),
        "dispatcher: q=number": lambda: (dispatcher, {"q": f"sr-{rng.randrange(1, 100000):06d}"}),
        "dispatcher: all, -updated_at, page 3": lambda: (dispatcher, {"sort": "-updated_at", "pages": 3}),
    }
    overall: list[float] = []
    print(f"{'scenario':46} {'p50 ms':>8} {'p95 ms':>8} {'rows':>6}")
    async with db.sessions() as session:
        for name, make in scenarios.items():
            timings, rows = [], 0
            for i in range(iterations + 5):
                user, params = make()
                pages = params.pop("pages", 1)
                arguments = {
                    "q": None,
                    "status": None,
                    "priority": None,
                    "customer_id": None,
                    "provider_id": None,
                    "sort": "-created_at",
                    "limit": 50,
                    "cursor": None,
                    **params,
                }
                for _ in range(pages):
                    started = time.perf_counter()
                    page = await search_requests(session, user, **arguments)
                    elapsed = (time.perf_counter() - started) * 1000
                    if i >= 5:  # the first few warm the caches and the connection
                        timings.append(elapsed)
                        rows += len(page["items"])
                    arguments["cursor"] = page["next_cursor"]
                    if not page["next_cursor"]:
                        break
                session.expunge_all()
            overall += timings
            print(
                f"{name:46} {statistics.median(timings):8.1f} {percentile(timings, 0.95):8.1f} "
                f"{rows / len(timings):6.1f}"
            )
        plan = (
            (
                await session.execute(
                    text(
                        "EXPLAIN SELECT * FROM requests WHERE search_text LIKE :q ESCAPE '\\' "
                        "ORDER BY created_at DESC, id DESC LIMIT 51"
                    ),
                    {"q": f"%{data['serials'][7][2:9].lower()}%"},
                )
            )
            .scalars()
            .all()
        )
    await db.dispose()
    print(f"{'overall':46} {statistics.median(overall):8.1f} {percentile(overall, 0.95):8.1f}")
    print("q plan uses trigram index:", any("ix_requests_search_trgm" in line for line in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=100, help="timed queries per scenario")
    parser.add_argument("--postgres", default=LOCAL_ADMIN_URL, help="admin URL of a PostgreSQL server")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    name = f"fieldops_bench_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = args.postgres.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    url_async = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        started = time.perf_counter()
        migrations.upgrade("intake", url_async)
        data = load(url, args.rows, args.customers, args.seed)
        print(
            f"loaded {args.rows} requests for {args.customers} customers into {name} "
            f"in {time.perf_counter() - started:.1f}s (migrated to head, analysed)"
        )
        asyncio.run(run(url_async, data, args.iterations))
    finally:
        if not args.keep:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
