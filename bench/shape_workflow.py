"""The shape-matched baseline of bench/lifecycle.py: a workflow with the lifecycle's updates, signal and
activities, and nothing behind them.

SHAPE is counted from workflows/service_request.py and its recorded histories (tests/histories/paid*.json), for
the lifecycle the benchmark drives (tests/support/api.py `lifecycle`): the start and every transition record
themselves (intake's read copy and timeline), after their own effect on routing or invoicing where they have one,
and answer; those effects are local activities of the workflow's worker (names.EFFECTS). The customer's email
follows as an activity on notifications' queue, sent in order by one loop, in a worker process of its own as the
service is one; the workflow runs in another, with eager activity execution off. The activities do nothing: what
is left is what Temporal alone costs.

    python -m bench.shape_workflow <workflow|notifications> <temporal address>

runs one of those worker processes until its stdin closes (so none outlives the benchmark that started it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType

TASK_QUEUE = "bench-shape"
QUEUES = ("notifications",)  # the remote activities' queues: each effect is a local activity of the workflow's worker
LOCAL = "local"  # how Counts names the local activities (their markers in a history)
RECORD = ("intake",)  # read copy and timeline (ServiceRequestWorkflow._record); the email follows the answer
DELIVER = "notifications"  # one email per step, queued and sent in order after the step answers
# (step, the services its local activities ask, in order): the workflow's start, then each update or signal the
# lifecycle sends.
SHAPE: list[tuple[str, tuple[str, ...]]] = [
    ("start", RECORD),
    ("publish", RECORD),
    ("assign", ("routing", *RECORD)),  # issue the work order
    ("accept", ("routing", *RECORD)),  # work order accepted
    ("schedule", RECORD),
    ("start_work", RECORD),
    ("complete", ("routing", *RECORD)),  # work order completed
    ("submit_invoice", ("invoicing", *RECORD)),  # provider invoice submitted
    ("approve_payment", ("invoicing", *RECORD)),  # provider invoice approved
    ("payment_made", ("routing", *RECORD)),  # a signal (the payment run's); work order paid
    ("mark_invoiced", ("invoicing", *RECORD)),  # customer invoice issued
    ("record_customer_payment", ("invoicing", *RECORD)),  # customer invoice settled
]
SIGNALS = {"payment_made"}
STEPS = dict(SHAPE)


@activity.defn(name="bench.shape.noop")
async def noop(step: str) -> str:
    return step


@workflow.defn(name="ShapeLifecycleWorkflow")
class ShapeLifecycleWorkflow:
    """Each step runs its activities one after the other under one lock, as the real workflow records its
    effects in order; an update answers once they are done, and its email is queued for one sending loop."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.done = 0
        self.emails: list[str] = []

    @workflow.run
    async def run(self) -> int:
        sending = asyncio.create_task(self._send_in_order())
        await self._activities("start")
        await workflow.wait_condition(
            lambda: self.done >= len(SHAPE) and workflow.all_handlers_finished() and not self.emails
        )
        sending.cancel()
        return self.done

    async def _send_in_order(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.emails))
            await workflow.execute_activity(
                noop, self.emails[0], task_queue=f"{TASK_QUEUE}-{DELIVER}", start_to_close_timeout=timedelta(seconds=30)
            )
            self.emails.pop(0)

    @workflow.update
    async def step(self, name: str) -> str:
        await self._activities(name)
        return name

    @step.validator
    def _check(self, name: str) -> None:
        if name not in STEPS or name in SIGNALS or name == "start":
            raise ValueError(f"unknown update {name}")

    @workflow.signal
    async def payment_made(self) -> None:
        await self._activities("payment_made")

    async def _activities(self, name: str) -> None:
        async with self.lock:
            for _service in STEPS[name]:
                await workflow.execute_local_activity(noop, name, start_to_close_timeout=timedelta(seconds=30))
            self.emails.append(name)
            self.done += 1


async def lifecycle(client, workflow_id: str) -> None:
    """One lifecycle from the outside: start, then each update (or the signal) in turn."""
    handle = await client.start_workflow(ShapeLifecycleWorkflow.run, id=workflow_id, task_queue=TASK_QUEUE)
    for name, _ in SHAPE[1:]:
        if name in SIGNALS:
            await handle.signal(ShapeLifecycleWorkflow.payment_made)
        else:
            await handle.execute_update(ShapeLifecycleWorkflow.step, name)
    await handle.result()


# --- what a history shows ------------------------------------------------------------------------------
LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the marker the SDK records for each local activity's result


@dataclass
class Counts:
    updates: int = 0
    signals: int = 0
    workflow_tasks: int = 0
    # Remote ones by service (task queue without bench-shape-), local ones under LOCAL.
    activities: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        queues = ", ".join(f"{queue} {n}" for queue, n in sorted(self.activities.items()))
        return (
            f"{self.updates} updates, {self.signals} signal(s), {sum(self.activities.values())} activities "
            f"({queues}), {self.workflow_tasks} workflow tasks"
        )

    def same_shape(self, other: Counts) -> bool:
        return (self.updates, self.signals, self.activities) == (other.updates, other.signals, other.activities)


def count(history) -> Counts:
    """Updates, signals, workflow tasks and activities by task queue in one workflow's history."""
    counts = Counts()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            counts.updates += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            counts.signals += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            counts.workflow_tasks += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            queue = event.activity_task_scheduled_event_attributes.task_queue.name
            counts.activities[queue.removeprefix(f"{TASK_QUEUE}-")] += 1
        elif (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            counts.activities[LOCAL] += 1
    return counts


# --- the worker processes -------------------------------------------------------------------------------
@contextmanager
def workers(temporal_address: str) -> Iterator[dict[str, int]]:
    """The workflow's worker and one activity worker per queue, each a process; yields their pids by name."""
    root = Path(__file__).resolve().parent.parent
    processes = {
        role: subprocess.Popen(
            [sys.executable, "-m", "bench.shape_workflow", role, temporal_address],
            cwd=root,
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        for role in ("workflow", *QUEUES)
    }
    try:
        yield {f"shape {role}": process.pid for role, process in processes.items()}
    finally:
        for process in processes.values():
            if process.stdin is not None:
                process.stdin.close()  # the worker's cue to stop
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def serve(role: str, address: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    if role == "workflow":
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[ShapeLifecycleWorkflow],
            activities=[noop],  # the local activities only: this worker polls for no remote one
            no_remote_activities=True,
            disable_eager_activity_execution=True,
        )
    else:
        worker = Worker(client, task_queue=f"{TASK_QUEUE}-{role}", activities=[noop])
    async with worker:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
