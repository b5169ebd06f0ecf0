from __future__ import annotations

from temporalio import activity

from services.notifications import service
from shared.contracts import names
from shared.contracts.models import Deliver
from shared.service_app import ServiceState


def build(state: ServiceState) -> list:
    @activity.defn(name=names.DELIVER)
    async def deliver(inp: Deliver) -> int:
        async with state.db.sessions() as db:
            return await service.deliver(db, state.settings, inp)

    return [deliver]
