"""Payment runs (each pays every approved provider invoice once) and the payments they made."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import and_, or_, select

from services.invoicing.models import Payment, PaymentRun
from services.invoicing.schemas import PaymentPage, PaymentRunOut, PaymentRunPage
from services.invoicing.service import OPERATORS, manual_run_id, payment_out, run_payments
from shared.auth import CurrentUser, need
from shared.contracts.enums import Role
from shared.http import Cursor, Limit, decode_cursor, errors, id_page, money, page
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.post(
    "/payment-runs", status_code=201, response_model=PaymentRunOut, tags=["payments"], responses=errors(403, 409)
)
async def start_payment_run(user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None):
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    return await run_payments(db, temporal, manual_run_id(key), user.actor())


@router.get("/payment-runs", response_model=PaymentRunPage, tags=["payments"], responses=errors(403))
async def list_payment_runs(user: CurrentUser, db: SessionDep, limit: Limit = 50, cursor: Cursor = None):
    """Newest first: keyset-paged on (started_at, id), both descending."""
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    query = select(PaymentRun).order_by(PaymentRun.started_at.desc(), PaymentRun.id.desc()).limit(limit + 1)
    if (after := decode_cursor(cursor, at=datetime, id=str)) is not None:
        query = query.where(
            or_(
                PaymentRun.started_at < after["at"],
                and_(PaymentRun.started_at == after["at"], PaymentRun.id < after["id"]),
            )
        )
    runs = list((await db.execute(query)).scalars())
    return page(
        runs,
        limit,
        lambda r: PaymentRunOut(id=r.id, started_at=r.started_at, payments=r.payments, total=money(r.total)),
        lambda r: {"at": r.started_at.isoformat(), "id": r.id},
    )


@router.get("/payments", response_model=PaymentPage, tags=["payments"], responses=errors(403))
async def list_payments(user: CurrentUser, db: SessionDep, limit: Limit = 50, cursor: Cursor = None):
    query = select(Payment)
    if user.role == Role.provider:
        query = query.where(Payment.provider_id == user.provider_id)
    else:
        need(user, *OPERATORS)
    return await id_page(db, query, Payment.id, limit, cursor, payment_out, newest_first=True)
