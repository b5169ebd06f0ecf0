"""Routing's activities: issue work order numbers and keep work orders in step with the workflow (the logic is
in service.py)."""

from __future__ import annotations

from temporalio import activity

from services.routing.service import issue_work_order, update_work_order
from shared.contracts import names
from shared.contracts.models import IssueWorkOrder, UpdateWorkOrder, WorkOrderIssued
from shared.service_app import ServiceState


def build(state: ServiceState) -> list:
    @activity.defn(name=names.ISSUE_WORK_ORDER)
    async def issue(inp: IssueWorkOrder) -> WorkOrderIssued:
        async with state.db.sessions() as db:
            return await issue_work_order(db, inp)

    @activity.defn(name=names.UPDATE_WORK_ORDER)
    async def update(inp: UpdateWorkOrder) -> None:
        async with state.db.sessions() as db:
            await update_work_order(db, inp)

    return [issue, update]
