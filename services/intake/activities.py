"""Intake's activities: what the workflow asks of intake, on task queue `intake`."""
from __future__ import annotations

from temporalio import activity

from services.intake import service
from shared.contracts import names
from shared.contracts.models import RecordTransition, Recipients
from shared.service_app import ServiceState


def build(state: ServiceState) -> list:
    @activity.defn(name=names.RECORD_TRANSITION)
    async def record_transition(inp: RecordTransition) -> Recipients:
        async with state.db.sessions() as db:
            return Recipients(items=await service.record_transition(db, inp))

    return [record_transition]
