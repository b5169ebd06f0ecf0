"""PaymentRunWorkflow: pays every approved provider invoice once, then tells each request it was paid.

Started by a Temporal Schedule (FIELDOPS_PAYMENT_RUN_EVERY) or on demand by `POST /payment-runs`.
The payment itself is a row keyed on the work order number, so a retried or overlapping run never pays twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared.contracts import names
    from shared.contracts.models import (
        CollectApproved,
        CollectedPayments,
        PaymentMade,
        PaymentRunInput,
        PaymentRunResult,
    )


@workflow.defn(name=names.PAYMENT_RUN_WORKFLOW)
class PaymentRunWorkflow:
    @workflow.run
    async def run(self, inp: PaymentRunInput) -> PaymentRunResult:
        run_id = inp.run_id or workflow.info().workflow_id
        collected: CollectedPayments = await workflow.execute_activity(
            names.COLLECT_APPROVED,
            CollectApproved(run_id=run_id, started_at=workflow.now()),
            task_queue=names.INVOICING_QUEUE,
            result_type=CollectedPayments,
            # A run killed with its service is noticed by its missing heartbeat within seconds and retried; the
            # retry pays nothing twice (payments are unique per work order) and answers this run's payments.
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        for payment in collected.items:
            handle = workflow.get_external_workflow_handle(names.request_workflow_id(payment.request_number))
            await handle.signal(
                names.PAYMENT_MADE,
                PaymentMade(
                    work_order_number=payment.work_order_number,
                    reference=payment.reference,
                    amount=payment.amount,
                    paid_at=payment.paid_at,
                ),
            )
        return PaymentRunResult(run_id=run_id, payments=collected.items)
