"""The operators' console list of work events, served by intake beside the read copy it filters."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from services.intake.schemas import RequestPage, Search, Sort, Statuses
from services.intake.service import ConsoleFilters, search_requests
from shared.auth import CurrentUser, need
from shared.contracts.enums import BillingStatus, Priority, Role
from shared.http import Cursor, Id, Limit, errors
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")


@router.get("/work-events", response_model=RequestPage, tags=["work-events"], responses=errors(403))
async def list_work_events(
    user: CurrentUser,
    db: SessionDep,
    q: Search = None,
    status: Statuses = None,
    priority: Priority | None = None,
    customer_id: Id | None = None,
    provider_id: Id | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    sla_breached: bool | None = None,
    billing_status: BillingStatus | None = None,
    sort: Sort = "-created_at",
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """The operators' console list (served here, beside the read copy it filters). Besides the request list's
    filters: `created_from`/`created_to`, `due_from`/`due_to` (dates, both ends included), `sla_breached`
    (true/false) and `billing_status`."""
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    console = ConsoleFilters(created_from, created_to, due_from, due_to, sla_breached, billing_status)
    return await search_requests(
        db,
        user,
        q=q,
        status=status,
        priority=priority,
        customer_id=customer_id,
        provider_id=provider_id,
        sort=sort,
        limit=limit,
        cursor=cursor,
        console=console,
    )
