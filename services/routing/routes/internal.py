"""What the other services ask of routing, with the service credential; not in the public API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from services.routing.models import Provider, WorkOrder
from services.routing.schemas import ProviderOut, WorkOrderOut
from shared.http import Id
from shared.internal import require_service
from shared.service_app import SessionDep

router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(require_service)])


@router.get("/providers/{provider_id}", response_model=ProviderOut)
async def internal_provider(provider_id: Id, db: SessionDep):
    provider = await db.get(Provider, provider_id)
    if provider is None:
        raise HTTPException(404, "provider not found")
    return provider


@router.get("/work-orders/{wo}", response_model=WorkOrderOut)
async def internal_work_order(wo: str, db: SessionDep):
    row = await db.get(WorkOrder, wo)
    if row is None:
        raise HTTPException(404, "work order not found")
    return row
