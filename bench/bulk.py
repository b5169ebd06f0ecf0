"""One bulk action on 500 requests: how long the work-event console takes to publish them all.

    .venv/bin/python bench/bulk.py                            # against `make run` (--api URL to aim elsewhere)
    .venv/bin/python bench/bulk.py --port-offset 22000        # a stack of its own (SQLite)
    .venv/bin/python bench/bulk.py --postgres                 # a stack of its own, services on PostgreSQL
    .venv/bin/python bench/bulk.py --requests 500 --action publish

Makes its own customer and staff through the API, creates N draft requests and waits for their workflows to
settle (not timed), then times one `POST /work-events/bulk` of all of them and prints the figure. The issue's
bar: 500 requests within 10 seconds on this machine. Then the CPU each process spent while it ran, per request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402
    Target,
    add_stack_arguments,
    cpu_seconds,
    open_requests,
    print_cpu,
    stack,
    wait_until_recorded,
)
from tests.support.api import Api, make_cast  # noqa: E402

BAR_SECONDS = 10


async def run(args, target: Target) -> int:
    api = Api(target.api_url)
    api.http.timeout = args.timeout
    try:
        cast = await make_cast(api, await target.admin(api))
        started = time.perf_counter()
        numbers = await open_requests(cast, args.requests, args.concurrency)
        print(
            f"created {len(numbers)} requests in {time.perf_counter() - started:.1f}s (not timed; "
            f"{target.description})",
            flush=True,
        )
        # Let each workflow record its draft first, so the figure is the bulk action's own.
        await wait_until_recorded(cast, len(numbers))
        print(f"settled after {time.perf_counter() - started:.1f}s (not timed)", flush=True)

        cpu_before = cpu_seconds(target.pids)
        started = time.perf_counter()
        answer = await cast.dispatcher.post("/work-events/bulk", {"action": args.action, "numbers": numbers})
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(target.pids)  # the emails the publishes queued may still be on their way
        results = answer["results"]
        ok = sum(1 for r in results if r["ok"])
        failed = [r for r in results if not r["ok"]]
        print(
            f"bulk {args.action}: {len(results)} results ({ok} ok, {len(failed)} failed) in {elapsed:.1f}s "
            f"({len(results) / elapsed:.1f} requests/s)"
        )
        for r in failed[:5]:
            print(f"  {r['number']}: {r.get('detail')}")
        print_cpu(f"bulk {args.action}", cpu_before, cpu_after, len(results), "request")
        verdict = "within" if elapsed <= BAR_SECONDS and ok == len(numbers) else "NOT within"
        print(f"bulk_seconds={elapsed:.1f} ({verdict} {BAR_SECONDS}s for all {len(numbers)})")
        return 0 if verdict == "within" else 1
    finally:
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--action", default="publish", help="the bulk action to time (default publish)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel creations while setting up")
    parser.add_argument("--timeout", type=float, default=300, help="HTTP timeout in seconds")
    add_stack_arguments(parser)
    args = parser.parse_args()
    with stack(args, "bulk") as target:
        code = asyncio.run(run(args, target))
    sys.exit(code)


if __name__ == "__main__":
    main()
