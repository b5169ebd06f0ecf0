"""UploadSweepWorkflow: removes attachments whose upload was started and never completed.

Started by a Temporal Schedule (FIELDOPS_UPLOAD_SWEEP_EVERY, for uploads older than
FIELDOPS_UPLOAD_ABANDONED_AFTER), so operators see each run, and its count, in the Temporal UI.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared.contracts import names
    from shared.contracts.models import SweepAbandonedUploads, UploadsSwept, UploadSweepInput


@workflow.defn(name=names.UPLOAD_SWEEP_WORKFLOW)
class UploadSweepWorkflow:
    @workflow.run
    async def run(self, inp: UploadSweepInput) -> UploadsSwept:
        return await workflow.execute_activity(
            names.SWEEP_ABANDONED_UPLOADS,
            SweepAbandonedUploads(started_before=workflow.now() - inp.abandoned_after),
            task_queue=names.INTAKE_QUEUE,
            result_type=UploadsSwept,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
