"""The workflow worker's memory with many open requests: its RSS with 1,000 requests left open in `draft`.

    .venv/bin/python bench/worker_memory.py                          # against `make run`
    .venv/bin/python bench/worker_memory.py --port-offset 22000      # a stack of its own (SQLite)
    .venv/bin/python bench/worker_memory.py --postgres --requests 1000

Makes a customer through the API, reads the workflow worker's resident memory (VmRSS of /proc/<pid>/status),
creates N draft requests through the API, C at a time (each starts a ServiceRequestWorkflow that stays open,
waiting for its next action), waits until every one has recorded its draft, and reads the RSS again. Prints both
in MiB, with how many requests were opened, how long that took, and how many ServiceRequestWorkflows Temporal
counts as running. The issue's bar: at most 500 MB with 1,000 open requests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import MIB, Target, add_stack_arguments, open_requests, rss_mib, stack, wait_until_recorded  # noqa: E402
from shared.temporal import connect  # noqa: E402
from tests.support.api import Api, make_cast  # noqa: E402

BAR_MB = 500


async def run(args, target: Target) -> int:
    pid = target.pids.get("workflow-worker")
    if pid is None:
        print("the workflow worker's process is unknown: run `make run`, or give --port-offset")
        return 2
    api = Api(target.api_url)
    try:
        cast = await make_cast(api, await target.admin(api))
        before = rss_mib(pid)
        print(f"workflow worker (pid {pid}) RSS before: {before:.1f} MiB ({target.description})", flush=True)
        started = time.perf_counter()
        numbers = await open_requests(cast, args.requests, args.concurrency)
        created = time.perf_counter() - started
        await wait_until_recorded(cast, len(numbers))
        settled = time.perf_counter() - started
    finally:
        await api.close()
    after = rss_mib(pid)
    client = await connect(target.settings)
    running = (
        await client.count_workflows("WorkflowType = 'ServiceRequestWorkflow' AND ExecutionStatus = 'Running'")
    ).count
    print(
        f"opened {len(numbers)} requests in {created:.1f}s ({len(numbers) / created:.1f}/s), all recorded "
        f"after {settled:.1f}s; Temporal counts {running} ServiceRequestWorkflows running"
    )
    print(
        f"workflow worker RSS after: {after:.1f} MiB (+{after - before:.1f} MiB, "
        f"{(after - before) * 1024 / len(numbers):.0f} KiB per open request)"
    )
    verdict = "within" if after * MIB <= BAR_MB * 1000 * 1000 else "NOT within"
    print(f"worker_rss_mib={after:.1f} ({verdict} {BAR_MB} MB with {len(numbers)} open requests)")
    return 0 if verdict == "within" else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="parallel creations")
    add_stack_arguments(parser)
    args = parser.parse_args()
    with stack(args, "worker-memory") as target:
        code = asyncio.run(run(args, target))
    sys.exit(code)


if __name__ == "__main__":
    main()
