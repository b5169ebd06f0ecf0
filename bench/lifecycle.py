"""Lifecycle throughput of the whole system against two Temporal-only baselines, and the CPU each process spends.

    .venv/bin/python bench/lifecycle.py --lifecycles 20 --concurrency 4                   # against `make run`
    .venv/bin/python bench/lifecycle.py --lifecycles 20 --concurrency 4 --port-offset 22000   # a stack of its own
    .venv/bin/python bench/lifecycle.py --lifecycles 20 --concurrency 4 --postgres        # ... services on PostgreSQL

Drives N complete lifecycles through the gateway, C at a time (each lane its own customer and provider; all lanes
the firm's one dispatcher and receivable clerk), and prints lifecycles per second with the p50 and p99 latency of
one lifecycle action; then the CPU seconds each stack process spent over those lifecycles (utime+stime from /proc,
read before the first and after every workflow has closed, so the emails that follow the last answers count), in
all and per action.
In the same run, on the same Temporal server, C at a time:
- bare: N workflows of one update per transition, each running one no-op activity, eagerly, in this process
  (bench/bare_workflow.py);
- shape-matched: N workflows with the lifecycle's own updates, signal and activities: the effects as local
  activities, each email an activity on a task queue of its own in a worker process of its own, eager activities
  off (bench/shape_workflow.py). The shape of one of
  the system's own workflows (counted from its history) is printed beside it: they should match. Its CPU, spread
  over the system's actions, is the floor Temporal and its SDK alone set for this shape.
For both the system and the shape-matched baseline, Temporal's own counters (its /metrics) give the workflow tasks
per lifecycle and how many of them a worker's poll took through matching: the rest the server handed over in its
answer to the worker's previous task, which costs it less.
Ends with `ratio_bare=<system/bare>` and `ratio_shape=<system/shape-matched>` (lifecycles per second).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench import shape_workflow  # noqa: E402
from bench.bare_workflow import STEPS, TASK_QUEUE, BareLifecycleWorkflow, noop  # noqa: E402
from bench.support import (  # noqa: E402
    Target,
    add_stack_arguments,
    cpu_seconds,
    percentile,
    print_cpu,
    print_dispatch,
    stack,
    temporal_counters,
)
from shared.contracts.names import request_workflow_id  # noqa: E402
from tests.support.api import Api, Cast, lifecycle, make_cast  # noqa: E402


async def run_pool(count: int, concurrency: int, job) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await job(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def until_closed(client: Client, numbers: list[str]) -> float:
    """Seconds until every lifecycle's workflow has ended, which it does once its emails and feed entries are out."""
    started = time.perf_counter()
    for number in numbers:
        await asyncio.wait_for(client.get_workflow_handle(request_workflow_id(number)).result(), timeout=300)
    return time.perf_counter() - started


async def system(args, target: Target, client: Client) -> tuple[float, shape_workflow.Counts, float]:
    api = Api(target.api_url)
    try:
        admin = await target.admin(api)
        # One cast per concurrent lane: lanes never share a customer or a provider, as real tenants would not, but
        # share the firm's one dispatcher and one receivable clerk, so each event emails as many people whatever
        # the concurrency (every dispatcher hears of a dispatcher's events).
        lanes: asyncio.Queue[Cast] = asyncio.Queue()
        first = await make_cast(api, admin)
        lanes.put_nowait(first)
        for _ in range(args.concurrency - 1):
            lanes.put_nowait(await make_cast(api, admin, operators=(first.dispatcher, first.receivable)))
        timings: list[float] = []
        numbers: list[str] = []

        async def job(i: int) -> None:
            cast = await lanes.get()
            try:
                final = await lifecycle(api, cast, invoice_number=f"B{uuid.uuid4().hex[:8].upper()}", timings=timings)
                assert final["status"] == "paid" and final["billing_status"] == "paid", final
                numbers.append(final["number"])
            finally:
                lanes.put_nowait(cast)

        cpu_before, tasks_before = cpu_seconds(target.pids), temporal_counters(target.settings)
        elapsed = await run_pool(args.lifecycles, args.concurrency, job)
        # The last emails of each lifecycle go out after its last answer: their CPU counts too, and the baselines
        # below should find the server idle, not still delivering.
        drained = await until_closed(client, numbers)
        cpu_after, tasks_after = cpu_seconds(target.pids), temporal_counters(target.settings)
    finally:
        await api.close()
    rate = args.lifecycles / elapsed
    print(
        f"system: {args.lifecycles} lifecycles in {elapsed:.2f}s, concurrency {args.concurrency} ({target.description})"
    )
    print(f"system: every workflow closed (its emails out) {drained:.2f}s after the last answer")
    print(f"system: lifecycles_per_second={rate:.3f}")
    print(
        f"system: action latency p50={percentile(timings, 0.50) * 1000:.1f}ms "
        f"p99={percentile(timings, 0.99) * 1000:.1f}ms mean={statistics.mean(timings) * 1000:.1f}ms "
        f"({len(timings)} actions)"
    )
    print_cpu("system", cpu_before, cpu_after, len(timings))
    spent = sum(cpu_after[name] - cpu_before[name] for name in cpu_after if name in cpu_before)
    print(f"system: CPU per lifecycle, all processes: {spent / args.lifecycles * 1000:.0f}ms")
    history = await client.get_workflow_handle(request_workflow_id(numbers[0])).fetch_history()
    counts = shape_workflow.count(history)
    print(f"system workflow, one lifecycle: {counts}")
    print_dispatch("system", tasks_before, tasks_after, args.lifecycles)
    return rate, counts, len(timings) / args.lifecycles


async def bare(args, client: Client) -> float:
    async def job(i: int) -> None:
        handle = await client.start_workflow(
            BareLifecycleWorkflow.run, id=f"bench-bare-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        for step in STEPS:
            await handle.execute_update(BareLifecycleWorkflow.step, step)
        await handle.result()

    async with Worker(client, task_queue=TASK_QUEUE, workflows=[BareLifecycleWorkflow], activities=[noop]):
        await job(-1)  # warm-up, not timed
        elapsed = await run_pool(args.lifecycles, args.concurrency, job)
    rate = args.lifecycles / elapsed
    print(f"bare temporal: {args.lifecycles} workflows of {len(STEPS)} updates in {elapsed:.2f}s")
    print(f"bare temporal: lifecycles_per_second={rate:.3f}")
    return rate


async def shape(
    args, client: Client, target: Target, actions_per_lifecycle: float
) -> tuple[float, shape_workflow.Counts]:
    with shape_workflow.workers(target.settings.temporal_target) as pids:
        await shape_workflow.lifecycle(client, f"bench-shape-{uuid.uuid4()}")  # warm-up (workers up), not timed
        if "temporal" in target.pids:
            pids["temporal"] = target.pids["temporal"]
        ids: list[str] = []

        async def job(i: int) -> None:
            ids.append(f"bench-shape-{uuid.uuid4()}")
            await shape_workflow.lifecycle(client, ids[-1])

        cpu_before, tasks_before = cpu_seconds(pids), temporal_counters(target.settings)
        elapsed = await run_pool(args.lifecycles, args.concurrency, job)
        cpu_after, tasks_after = cpu_seconds(pids), temporal_counters(target.settings)
    rate = args.lifecycles / elapsed
    counts = shape_workflow.count(await client.get_workflow_handle(ids[0]).fetch_history())
    print(f"shape-matched: {args.lifecycles} workflows in {elapsed:.2f}s, one lifecycle: {counts}")
    print(f"shape-matched: lifecycles_per_second={rate:.3f}")
    print_cpu("shape-matched", cpu_before, cpu_after, args.lifecycles, "lifecycle")  # it has no API actions
    spent = sum(cpu_after[name] - cpu_before[name] for name in cpu_after if name in cpu_before)
    # The floor Temporal and its SDK set for this shape, with activities that do nothing, per action of the system.
    floor = spent / args.lifecycles / actions_per_lifecycle * 1000
    print(f"shape-matched: CPU per system action ({actions_per_lifecycle:.0f} per lifecycle): {floor:.1f}ms")
    print_dispatch("shape-matched", tasks_before, tasks_after, args.lifecycles)
    return rate, counts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    add_stack_arguments(parser)
    args = parser.parse_args()
    with stack(args, "lifecycle") as target:
        client = await Client.connect(target.settings.temporal_target, namespace=target.settings.temporal_namespace)
        system_rate, system_counts, actions = await system(args, target, client)
        bare_rate = await bare(args, client)
        shape_rate, shape_counts = await shape(args, client, target, actions)
    if not shape_counts.same_shape(system_counts):
        print(
            "WARNING: the shape-matched workflow no longer matches the system's: update SHAPE in "
            "bench/shape_workflow.py"
        )
    print(f"ratio_bare={system_rate / bare_rate:.3f} ratio_shape={system_rate / shape_rate:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
