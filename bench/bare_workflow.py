"""The bare baseline of bench/lifecycle.py: one Update per transition of a service request's lifecycle, each
running one no-op activity, which the benchmark's own worker runs eagerly; no services behind it. Its fuller
counterpart, with the lifecycle's own count of activities on other queues and processes, is bench/shape_workflow.py."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

TASK_QUEUE = "bench-bare"
STEPS = [
    "publish",
    "assign",
    "accept",
    "schedule",
    "start",
    "complete",
    "submit_invoice",
    "approve_payment",
    "paid",
    "mark_invoiced",
    "record_customer_payment",
]


@activity.defn(name="bench.noop")
async def noop(step: str) -> str:
    return step


@workflow.defn(name="BareLifecycleWorkflow")
class BareLifecycleWorkflow:
    def __init__(self) -> None:
        self.done = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done >= len(STEPS) and workflow.all_handlers_finished())
        return self.done

    @workflow.update
    async def step(self, name: str) -> str:
        result = await workflow.execute_activity(noop, name, start_to_close_timeout=timedelta(seconds=30))
        self.done += 1
        return result

    @step.validator
    def _check(self, name: str) -> None:
        if name not in STEPS:
            raise ValueError(f"unknown step {name}")
