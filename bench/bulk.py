"""One bulk action on 500 requests: how long the work-event console takes to publish them all.

    .venv/bin/python bench/bulk.py                      # against `make run` (API http://127.0.0.1:8000/api/v1)
    .venv/bin/python bench/bulk.py --api URL --requests 500 --action publish

Makes its own admin with the CLI (data in FIELDOPS_DATA_DIR, default .fieldops) and its own customer and staff
through the API, creates N draft requests and waits for their workflows to settle (not timed), then times one `POST /work-events/bulk` of all of them and
prints the figure. The issue's bar: 500 requests within a minute on this machine.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.settings import Settings  # noqa: E402
from tests.support.api import Api, create_admin, make_cast  # noqa: E402


async def run(args) -> int:
    settings = Settings()
    email, password = "bench-admin@example.com", "bench-admin-password"
    create_admin({**os.environ, "FIELDOPS_DATA_DIR": str(settings.data_dir)}, email, password)
    api = Api(args.api or settings.api_url)
    api.http.timeout = args.timeout
    try:
        admin = await api.sign_in(email, password)
        cast = await make_cast(api, admin)
        gate = asyncio.Semaphore(args.concurrency)

        async def create(i: int) -> str:
            async with gate:
                created = await cast.customer.post("/requests", {
                    "customer_id": cast.customer_id, "asset_id": cast.asset_id, "kind": "service_call",
                    "priority": "normal", "summary": f"Bulk benchmark request {i}"}, expect=201)
                return created["number"]

        started = time.perf_counter()
        numbers = await asyncio.gather(*(create(i) for i in range(args.requests)))
        print(f"created {len(numbers)} requests in {time.perf_counter() - started:.1f}s (not timed)", flush=True)
        # Each request's workflow records its draft and emails the customer just after the creation answers:
        # let that settle first, so the figure is the bulk action's own (the customer's unread count is one
        # "was received" notification per request).
        while (await cast.customer.get("/notifications", params={"limit": 1}))["unread_count"] < len(numbers):
            await asyncio.sleep(0.5)
        print(f"settled after {time.perf_counter() - started:.1f}s (not timed)", flush=True)

        started = time.perf_counter()
        answer = await cast.dispatcher.post("/work-events/bulk", {"action": args.action, "numbers": numbers})
        elapsed = time.perf_counter() - started
        results = answer["results"]
        ok = sum(1 for r in results if r["ok"])
        failed = [r for r in results if not r["ok"]]
        print(f"bulk {args.action}: {len(results)} results ({ok} ok, {len(failed)} failed) in {elapsed:.1f}s "
              f"({len(results) / elapsed:.1f} requests/s)")
        for r in failed[:5]:
            print(f"  {r['number']}: {r.get('detail')}")
        verdict = "within" if elapsed < 60 and len(results) == len(numbers) else "NOT within"
        print(f"bulk_seconds={elapsed:.1f} ({verdict} a minute)")
        return 0 if verdict == "within" else 1
    finally:
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", help="API base URL (default: the local stack's gateway, http://127.0.0.1:8000/api/v1)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--action", default="publish", help="the bulk action to time (default publish)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel creations while setting up")
    parser.add_argument("--timeout", type=float, default=300, help="HTTP timeout in seconds")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
