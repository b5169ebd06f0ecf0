"""What the lifecycle, bulk and worker-memory benchmarks share: the stack they drive, that stack's processes, what
/proc says about them, and a few helpers.

A benchmark either starts a stack of its own (the tests' `running_stack`, at --port-offset or
FIELDOPS_TEST_PORT_OFFSET; with --postgres the services run on PostgreSQL, one fresh database per service, as the
tests' `pg_stack` makes them), or, given neither, drives the stack `make run` started (FIELDOPS_PORT_OFFSET, default
0) and finds that stack's processes among the children of its launcher (listed under .fieldops/stacks/).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from deploy.stack import running_stacks  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, running_stack  # noqa: E402
from tests.support.api import Api, Cast, User, create_admin  # noqa: E402
from tests.support.postgres import postgres_server, service_databases  # noqa: E402

DEFAULT_OWN_OFFSET = 22000  # --postgres without an offset: where its stack goes
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """A stack to drive: where its API answers, its settings, an admin, and its processes by component."""

    description: str
    api_url: str
    settings: Settings
    admin_email: str
    admin_password: str
    pids: dict[str, int]  # component (temporal, intake, ..., workflow-worker, smtp, gateway, seaweedfs) -> pid

    async def admin(self, api: Api) -> User:
        return await api.sign_in(self.admin_email, self.admin_password)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    env_offset = os.environ.get("FIELDOPS_TEST_PORT_OFFSET")
    parser.add_argument(
        "--port-offset",
        type=int,
        default=int(env_offset) if env_offset else None,
        help="start a stack of its own at this port offset (default FIELDOPS_TEST_PORT_OFFSET; "
        "neither given: drive the running `make run`)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a stack of its own with the services on PostgreSQL (the local server at "
        f"127.0.0.1:5432, or Docker's; port offset {DEFAULT_OWN_OFFSET} unless given)",
    )
    parser.add_argument("--api", help="the running stack's API base URL (default: its gateway)")


@contextmanager
def stack(args: argparse.Namespace, name: str) -> Iterator[Target]:
    """The stack the arguments ask for, for as long as the block lasts (a stack of its own is stopped after)."""
    if args.port_offset is None and not args.postgres:
        yield running_target(args.api)
        return
    offset = args.port_offset if args.port_offset is not None else DEFAULT_OWN_OFFSET
    with ExitStack() as resources:
        extra = {}
        if args.postgres:
            urls = resources.enter_context(service_databases(resources.enter_context(postgres_server())))
            extra = {f"FIELDOPS_DB_{service.upper()}": url for service, url in urls.items()}
        running = resources.enter_context(running_stack(f"bench-{name}", offset, extra))
        pids = {component: process.popen.pid for component, process in running.stack.processes.items()}
        database = "PostgreSQL" if args.postgres else "SQLite"
        yield Target(
            f"a stack of its own at port offset {offset}, services on {database}",
            running.api_url,
            running.settings,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            pids,
        )


def running_target(api_url: str | None) -> Target:
    """The stack `make run` started: an admin of the benchmark's own is made with the CLI."""
    settings = Settings()
    entry = running_stacks().get(settings.port_offset)
    data_dir = entry["data_dir"] if entry else str(settings.data_dir)
    email, password = "bench-admin@example.com", "bench-admin-password"
    create_admin({**os.environ, "FIELDOPS_DATA_DIR": data_dir}, email, password)
    pids = children_by_component(entry["pid"]) if entry else {}
    database = "PostgreSQL" if entry and entry["intake_database"].startswith("postgresql") else "SQLite"
    return Target(
        f"the running stack at port offset {settings.port_offset}, services on {database}",
        api_url or settings.api_url,
        settings,
        email,
        password,
        pids,
    )


# --- processes, from /proc ---------------------------------------------------------------------------
def component(argv: list[str]) -> str | None:
    """Which component of a stack a command line runs (the launcher's watchdog is none)."""
    if not argv:
        return None
    program = Path(argv[0]).name
    if program == "temporal":
        return "temporal"
    if program == "weed":
        return "seaweedfs"
    if program == "traefik":
        return "gateway"
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    if module == "deploy.smtp_sink":
        return "smtp"
    if module == "workflows.worker":
        return "workflow-worker"
    if module == "uvicorn":
        return argv[argv.index("-m") + 2].split(".")[1]  # services.<name>.app:app
    return None


def children_by_component(parent: int) -> dict[str, int]:
    """The stack components among a launcher's children, by their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue  # gone meanwhile
        name = component(argv) if ppid == parent else None
        if name:
            found[name] = int(entry.name)
    return found


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User plus system CPU time each process has used so far (utime + stime of /proc/<pid>/stat)."""
    seconds = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it exited: nothing to report
        seconds[name] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)
    return seconds


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise RuntimeError(f"no VmRSS for pid {pid}")


def print_cpu(title: str, before: dict[str, float], after: dict[str, float], count: int, unit: str = "action") -> None:
    """CPU seconds each process spent between two readings, in all and per `unit` (of `count`), busiest first."""
    spent = {name: after[name] - before[name] for name in after if name in before}
    if not spent:
        print(f"{title}: no processes known (a stack not started by `make run` or by this benchmark)")
        return
    print(f"{title}: CPU over {count} {unit}s (utime+stime from /proc/<pid>/stat)")
    print(f"  {'process':20} {'CPU s':>8} {'ms/' + unit:>13}")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {name:20} {seconds:8.2f} {seconds / count * 1000:13.1f}")
    total = sum(spent.values())
    print(f"  {'all':20} {total:8.2f} {total / count * 1000:13.1f}")


# --- Temporal's own request counters ------------------------------------------------------------------
# How the server handed workflow tasks to workers: every task completed, and those a worker's poll took through
# matching (the rest came in the server's answer to the worker's previous task, with no dispatch of their own).
DISPATCH_COUNTERS = {
    ("history", "RespondWorkflowTaskCompleted"): "workflow tasks",
    ("history", "RecordWorkflowTaskStarted"): "of them through matching",
    ("history", "RecordActivityTaskStarted"): "activity tasks",
}
Counters = dict[str, float] | None  # None: the server's metrics did not answer


def temporal_counters(settings: Settings) -> Counters:
    """DISPATCH_COUNTERS as Temporal's metrics endpoint (the local stack's, port 7253 + offset) reads now, or None
    where it does not answer (a stack elsewhere)."""
    url = f"http://{settings.host}:{settings.port(7253)}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    counts = dict.fromkeys(DISPATCH_COUNTERS.values(), 0.0)
    for family in text_string_to_metric_families(text):
        if family.name != "service_requests":
            continue
        for sample in family.samples:
            key = (sample.labels.get("service_name"), sample.labels.get("operation"))
            if key in DISPATCH_COUNTERS:
                counts[DISPATCH_COUNTERS[key]] += sample.value
    return counts


def print_dispatch(title: str, before: Counters, after: Counters, lifecycles: int) -> None:
    """Per lifecycle, the tasks Temporal handed out between two readings of its counters."""
    if before is None or after is None:
        return
    figures = ", ".join(f"{name} {(after[name] - before[name]) / lifecycles:.1f}" for name in after)
    print(f"{title}: per lifecycle, from Temporal's counters: {figures}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- requests through the API ------------------------------------------------------------------------
async def open_requests(cast: Cast, count: int, concurrency: int) -> list[str]:
    """`count` new draft requests of the cast's customer, `concurrency` at a time; their numbers."""
    gate = asyncio.Semaphore(concurrency)

    async def create(i: int) -> str:
        async with gate:
            created = await cast.customer.post(
                "/requests",
                {
                    "customer_id": cast.customer_id,
                    "asset_id": cast.asset_id,
                    "kind": "service_call",
                    "priority": "normal",
                    "summary": f"Benchmark request {i}",
                },
                expect=201,
            )
            return created["number"]

    return list(await asyncio.gather(*(create(i) for i in range(count))))


async def wait_until_recorded(cast: Cast, count: int) -> None:
    """Each new request's workflow records its draft and tells the customer just after the creation answers:
    wait until the customer has heard of all `count` (one "was received" notification each)."""
    while (await cast.customer.get("/notifications", params={"limit": 1}))["unread_count"] < count:
        await asyncio.sleep(0.5)
