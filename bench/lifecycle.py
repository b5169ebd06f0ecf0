"""Lifecycle throughput of the whole system against the bare Temporal baseline.

    .venv/bin/python bench/lifecycle.py --lifecycles 20 --concurrency 4

Runs against the stack `make run` started (API on :8000, Temporal on :7233, data in .fieldops): makes its own
users with the CLI and the API, drives N complete lifecycles through the gateway, C at a time, and prints
lifecycles per second with the p50 and p99 latency of one lifecycle action. In the same run it drives N bare
workflows of the same shape on the same Temporal server, and ends with `ratio=<system/bare throughput>`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.worker import Worker  # noqa: E402

from bench.bare_workflow import STEPS, TASK_QUEUE, BareLifecycleWorkflow, noop  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.temporal import connect  # noqa: E402
from tests.support.api import Api, create_admin, lifecycle, make_cast  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_pool(count: int, concurrency: int, job) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await job(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def system(args, settings: Settings) -> tuple[float, list[float]]:
    email, password = "bench-admin@example.com", "bench-admin-password"
    create_admin({**os.environ, "FIELDOPS_DATA_DIR": str(settings.data_dir)}, email, password)
    api = Api(args.api or settings.api_url)
    try:
        admin = await api.sign_in(email, password)
        # One cast per concurrent lane: lanes never share a customer, as real tenants would not.
        casts = [await make_cast(api, admin) for _ in range(args.concurrency)]
        lanes = asyncio.Queue()
        for cast in casts:
            lanes.put_nowait(cast)
        timings: list[float] = []

        async def job(i: int) -> None:
            cast = await lanes.get()
            try:
                final = await lifecycle(api, cast, invoice_number=f"B{uuid.uuid4().hex[:8].upper()}", timings=timings)
                assert final["status"] == "paid" and final["billing_status"] == "paid", final
            finally:
                lanes.put_nowait(cast)

        elapsed = await run_pool(args.lifecycles, args.concurrency, job)
        return elapsed, timings
    finally:
        await api.close()


async def bare(args, settings: Settings) -> float:
    client = await connect(settings)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[BareLifecycleWorkflow], activities=[noop]):
        async def job(i: int) -> None:
            handle = await client.start_workflow(BareLifecycleWorkflow.run, id=f"bench-bare-{uuid.uuid4()}",
                                                 task_queue=TASK_QUEUE)
            for step in STEPS:
                await handle.execute_update(BareLifecycleWorkflow.step, step)
            await handle.result()

        return await run_pool(args.lifecycles, args.concurrency, job)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--api", help="API base URL (default: the local stack's gateway)")
    args = parser.parse_args()
    settings = Settings()
    elapsed, timings = await system(args, settings)
    system_rate = args.lifecycles / elapsed
    print(f"system: {args.lifecycles} lifecycles in {elapsed:.2f}s, concurrency {args.concurrency}")
    print(f"system: lifecycles_per_second={system_rate:.3f}")
    print(f"system: action latency p50={percentile(timings, 0.50) * 1000:.1f}ms "
          f"p99={percentile(timings, 0.99) * 1000:.1f}ms mean={statistics.mean(timings) * 1000:.1f}ms "
          f"({len(timings)} actions)")
    bare_elapsed = await bare(args, settings)
    bare_rate = args.lifecycles / bare_elapsed
    print(f"bare temporal: {args.lifecycles} workflows of {len(STEPS)} updates in {bare_elapsed:.2f}s")
    print(f"bare temporal: lifecycles_per_second={bare_rate:.3f}")
    print(f"ratio={system_rate / bare_rate:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
