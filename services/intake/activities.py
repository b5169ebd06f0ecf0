"""Intake's activities: what the workflow asks of intake, on task queue `intake`."""

from __future__ import annotations

from temporalio import activity

from services.intake import housekeeping, service
from services.intake.storage import storage
from shared.contracts import names
from shared.contracts.models import Recipients, RecordTransition, SweepAbandonedUploads, UploadsSwept
from shared.service_app import ServiceState


def build(state: ServiceState) -> list:
    @activity.defn(name=names.RECORD_TRANSITION)
    async def record_transition(inp: RecordTransition) -> Recipients:
        async with state.db.sessions() as db:
            return Recipients(items=await service.record_transition(db, inp))

    @activity.defn(name=names.SWEEP_ABANDONED_UPLOADS)
    async def sweep_abandoned_uploads(inp: SweepAbandonedUploads) -> UploadsSwept:
        async with state.db.sessions() as db:
            swept = await housekeeping.sweep_abandoned_uploads(db, storage(state), inp.started_before)
        return UploadsSwept(attachment_ids=swept)

    return [record_transition, sweep_abandoned_uploads]
