"""Container health probes, for docker-compose healthchecks and Kubernetes exec probes (the images have no curl).

    python -m deploy.healthcheck http http://127.0.0.1:8101/healthz   a service answers 200
    python -m deploy.healthcheck worker                               this host's workflow worker polls its queue
    python -m deploy.healthcheck migrated intake                      the service's database is at its code's head
                                                                      (Kubernetes: an init container waits on it)

Exit 0 when healthy, 1 (with one line on stderr) when not.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import urllib.request
from datetime import timedelta

# A healthy worker keeps a long poll open (up to about a minute each) on its task queue; the server lists a poller
# it has not heard from for longer than this as gone.
POLLER_SEEN_WITHIN = 180.0


def check_http(url: str, timeout: float = 3.0) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a fixed local URL)
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")


async def check_worker() -> None:
    """The workflow worker of this container (or pod) polls the workflow task queue: its identity, the SDK's default
    `<pid>@<hostname>`, is among the queue's recent pollers."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from shared.contracts.names import WORKFLOW_TASK_QUEUE
    from shared.settings import get_settings
    from shared.temporal import connect

    settings = get_settings()
    client = await asyncio.wait_for(connect(settings), timeout=10)
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=WORKFLOW_TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=10),
    )
    host = socket.gethostname()
    now = time.time()
    for poller in answer.pollers:
        if poller.identity.endswith(f"@{host}") and now - poller.last_access_time.ToSeconds() <= POLLER_SEEN_WITHIN:
            return
    raise RuntimeError(f"no worker on {host} polls task queue {WORKFLOW_TASK_QUEUE!r}")


def check_migrated(service: str) -> None:
    """The service's database carries every migration of its code (`fieldops migrate` has run for this version)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, pool

    from shared.db import sync_url
    from shared.migrations import config
    from shared.settings import SERVICES, get_settings

    if service not in SERVICES:
        raise RuntimeError(f"no service {service!r}")
    url = get_settings().database_url(service)
    heads = set(ScriptDirectory.from_config(config(service, url)).get_heads())
    engine = create_engine(sync_url(url), poolclass=pool.NullPool, connect_args=_connect_timeout(url))
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if current != heads:
        raise RuntimeError(
            f"{service}: the database is at {sorted(current) or 'no migration'}, the code at {sorted(heads)}"
        )


def _connect_timeout(url: str) -> dict:
    return {"connect_timeout": 5} if url.startswith("postgresql") else {}


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "http":
            check_http(argv[1])
        elif argv == ["worker"]:
            asyncio.run(check_worker())
        elif len(argv) == 2 and argv[0] == "migrated":
            check_migrated(argv[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Exception as exc:  # any failure is "unhealthy", said in one line
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
