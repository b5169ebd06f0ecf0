"""Routing's activities: issue work order numbers and keep work orders in step with the workflow."""
from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from services.routing.models import FIRST_WORK_ORDER, Offer, WorkOrder, counters
from shared.contracts import names
from shared.contracts.enums import OfferKind
from shared.contracts.models import IssueWorkOrder, UpdateWorkOrder, WorkOrderIssued
from shared.counters import next_value
from shared.db import utcnow
from shared.service_app import ServiceState


async def issue_work_order(db, inp: IssueWorkOrder) -> WorkOrderIssued:
    # (request, assignment) is the natural key: a retried activity gets the number it got the first time.
    existing = (await db.execute(select(WorkOrder.number).where(
        WorkOrder.request_number == inp.request_number, WorkOrder.assignment == inp.assignment))).scalar()
    if existing:
        return WorkOrderIssued(number=existing)
    number = str(await next_value(db, counters, "work_order", FIRST_WORK_ORDER))
    db.add(WorkOrder(number=number, request_number=inp.request_number, assignment=inp.assignment,
                     offer_kind=inp.offer_kind.value, provider_id=inp.provider_id, team_id=inp.team_id,
                     customer_id=inp.customer_id, priority=inp.priority.value, summary=inp.summary))
    await db.flush()
    offered = [inp.provider_id] if inp.offer_kind == OfferKind.provider else inp.provider_ids
    for provider_id in dict.fromkeys(p for p in offered if p is not None):
        db.add(Offer(work_order_number=number, provider_id=provider_id))
    await db.commit()
    return WorkOrderIssued(number=number)


async def update_work_order(db, inp: UpdateWorkOrder) -> None:
    row = await db.get(WorkOrder, inp.number)
    if row is None:
        raise LookupError(f"work order {inp.number} not found")
    row.status = inp.status
    if inp.status == "accepted":
        row.accepted_by = inp.provider_id
    row.updated_at = utcnow()
    await db.commit()


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
