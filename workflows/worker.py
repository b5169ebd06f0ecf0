"""The workflow worker: runs ServiceRequestWorkflow and PaymentRunWorkflow on task queue `service-requests`,
and keeps the payment-run Schedule in step with FIELDOPS_PAYMENT_RUN_EVERY. `python -m workflows.worker`"""
from __future__ import annotations

import asyncio
import logging
import signal

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleIntervalSpec,
    ScheduleSpec, ScheduleUpdate, ScheduleUpdateInput,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shared.contracts import names
from shared.contracts.models import PaymentRunInput
from shared.settings import Settings, get_settings
from shared.temporal import connect
from workflows.payment_run import PaymentRunWorkflow
from workflows.service_request import ServiceRequestWorkflow

WORKFLOWS = [ServiceRequestWorkflow, PaymentRunWorkflow]


def sandbox_runner() -> SandboxedWorkflowRunner:
    # The contracts are pure; passing them through keeps one copy of their classes.
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("shared"))


def build_worker(client: Client, **options) -> Worker:
    return Worker(client, task_queue=names.WORKFLOW_TASK_QUEUE, workflows=WORKFLOWS,
                  workflow_runner=sandbox_runner(), **options)


async def ensure_payment_schedule(client: Client, settings: Settings) -> None:
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.payment_run_every)])
    action = ScheduleActionStartWorkflow(
        "PaymentRunWorkflow", PaymentRunInput(), id=names.payment_run_workflow_id("scheduled"),
        task_queue=names.WORKFLOW_TASK_QUEUE)
    try:
        await client.create_schedule(names.PAYMENT_RUN_SCHEDULE_ID, Schedule(action=action, spec=spec))
    except ScheduleAlreadyRunningError:
        def keep_current(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            schedule.spec = spec
            schedule.action = action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(names.PAYMENT_RUN_SCHEDULE_ID).update(keep_current)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    client = await connect(settings)
    await ensure_payment_schedule(client, settings)
    worker = build_worker(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
