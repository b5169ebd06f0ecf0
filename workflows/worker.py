"""The workflow worker: runs ServiceRequestWorkflow, PaymentRunWorkflow and UploadSweepWorkflow on task queue
`service-requests`, and keeps their Schedules in step with FIELDOPS_PAYMENT_RUN_EVERY and
FIELDOPS_UPLOAD_SWEEP_EVERY. `python -m workflows.worker`"""

from __future__ import annotations

import asyncio
import compileall
import signal
from pathlib import Path

import uvloop
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shared import observability
from shared.contracts import names
from shared.contracts.models import PaymentRunInput, UploadSweepInput
from shared.internal import close_session
from shared.settings import Settings, get_settings
from shared.temporal import connect
from workflows import effects
from workflows.payment_run import PaymentRunWorkflow
from workflows.service_request import ServiceRequestWorkflow
from workflows.upload_sweep import UploadSweepWorkflow

WORKFLOWS = [ServiceRequestWorkflow, PaymentRunWorkflow, UploadSweepWorkflow]


def sandbox_runner() -> SandboxedWorkflowRunner:
    # The contracts are pure; passing them through keeps one copy of their classes.
    # OpenTelemetry too: the tracing interceptor's context must be the one the worker's process uses.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("shared", "opentelemetry")
    )


def build_worker(client: Client, post: effects.Post, task_queue: str = names.WORKFLOW_TASK_QUEUE) -> Worker:
    """The workflows, and the effects they run as local activities (asked of the services through `post`). It
    polls for no remote activity: those run in the services' processes."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=sandbox_runner(),
        activities=effects.build(post),
        no_remote_activities=True,
    )


async def ensure_schedule(client: Client, schedule_id: str, every, action: ScheduleActionStartWorkflow) -> None:
    """Creates the Schedule, or brings an existing one in step with the current settings."""
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
    try:
        await client.create_schedule(schedule_id, Schedule(action=action, spec=spec))
    except ScheduleAlreadyRunningError:

        def keep_current(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            schedule.spec = spec
            schedule.action = action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(keep_current)


async def ensure_payment_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        names.PAYMENT_RUN_WORKFLOW,
        PaymentRunInput(),
        id=names.payment_run_workflow_id("scheduled"),
        task_queue=names.WORKFLOW_TASK_QUEUE,
    )
    await ensure_schedule(client, names.PAYMENT_RUN_SCHEDULE_ID, settings.payment_run_every, action)


async def ensure_upload_sweep_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        names.UPLOAD_SWEEP_WORKFLOW,
        UploadSweepInput(abandoned_after=settings.upload_abandoned_after),
        id=names.UPLOAD_SWEEP_WORKFLOW_ID,
        task_queue=names.WORKFLOW_TASK_QUEUE,
    )
    await ensure_schedule(client, names.UPLOAD_SWEEP_SCHEDULE_ID, settings.upload_sweep_every, action)


def metrics_address(settings: Settings) -> tuple[str, int]:
    """Where the worker serves /metrics (it has no HTTP API): FIELDOPS_WORKER_METRICS_ADDRESS (host:port), else
    the local stack's port."""
    given = settings.worker_metrics_address
    if given:
        host, _, port = given.rpartition(":")
        return host or "0.0.0.0", int(port)
    return settings.host, settings.port(9091)


def compile_workflows() -> None:
    """Bytecode for the workflow modules, written beside them. The sandbox imports them afresh for every workflow
    it starts or brings back into its cache, and with no bytecode (PYTHONDONTWRITEBYTECODE, a fresh checkout) it
    compiles their source each time: about 9 ms of CPU per workflow. Where the folder is read-only (an image built
    with its bytecode) nothing is written."""
    compileall.compile_dir(Path(__file__).parent, quiet=2)


async def main() -> None:
    observability.setup("workflow-worker")
    compile_workflows()
    settings = get_settings()
    observability.serve_metrics(*metrics_address(settings))
    client = await connect(settings)
    await ensure_payment_schedule(client, settings)
    await ensure_upload_sweep_schedule(client, settings)
    # On SIGTERM the worker finishes the workflow tasks in hand, and the local activities they wait on, before
    # it stops (remote activities' grace is the services', shared/service_app.py).
    worker = build_worker(client, effects.over_http(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await close_session()


if __name__ == "__main__":
    uvloop.run(main())  # the services' loop too (uvicorn picks it): less time in the loop on every hand-off
