"""Provider invoices: the provider writes, reads and submits its invoice for a work order it holds."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from services.invoicing.models import ProviderInvoice
from services.invoicing.rules import invoice_number_problem
from services.invoicing.schemas import InvoiceSubmitted, ProviderInvoiceIn, ProviderInvoiceOut
from services.invoicing.service import OPERATORS, invoice_out, provider_work_order, refreshed, save_provider_invoice
from shared.auth import CurrentUser
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import SubmitInvoiceCommand
from shared.contracts.views import public_state
from shared.http import errors, parse_money, update_request
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.put(
    "/provider-invoices/{wo}",
    response_model=ProviderInvoiceOut,
    tags=["provider invoices"],
    responses=errors(403, 404, 409),
)
async def put_provider_invoice(wo: str, body: ProviderInvoiceIn, user: CurrentUser, db: SessionDep, state: StateDep):
    work_order = await provider_work_order(state, user, wo)
    if user.provider_id is None:
        raise HTTPException(403, "this account is not linked to a provider")
    if problem := invoice_number_problem(body.invoice_number, wo):
        raise HTTPException(422, problem)
    try:
        parts, labor, tax = (
            parse_money(body.parts, "parts"),
            parse_money(body.labor, "labor"),
            parse_money(body.tax, "tax"),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    row = await save_provider_invoice(
        db, wo, work_order["request_number"], user.provider_id, body.invoice_number, parts, labor, tax
    )
    return invoice_out(row)


@router.get(
    "/provider-invoices/{wo}", response_model=ProviderInvoiceOut, tags=["provider invoices"], responses=errors(404)
)
async def get_provider_invoice(wo: str, user: CurrentUser, db: SessionDep):
    row = (
        await db.execute(select(ProviderInvoice).where(ProviderInvoice.work_order_number == wo))
    ).scalar_one_or_none()
    if row is None or not (
        user.role in OPERATORS or (user.role == Role.provider and row.provider_id == user.provider_id)
    ):
        raise HTTPException(404, f"no invoice for work order {wo}")
    return invoice_out(row)


@router.post(
    "/provider-invoices/{wo}/submit",
    response_model=InvoiceSubmitted,
    tags=["provider invoices"],
    responses=errors(403, 404, 409),
)
async def submit_provider_invoice(
    wo: str, user: CurrentUser, db: SessionDep, state: StateDep, temporal: TemporalDep, key: IdempotencyKey = None
):
    work_order = await provider_work_order(state, user, wo)
    row = (
        await db.execute(select(ProviderInvoice).where(ProviderInvoice.work_order_number == wo))
    ).scalar_one_or_none()
    if row is None:
        raise HTTPException(422, f"no invoice was saved for work order {wo}: PUT /provider-invoices/{wo} first")
    # One invoice per work order: a second submit is refused by the workflow, with a 409 naming the status.
    if problem := invoice_number_problem(row.invoice_number, wo):
        raise HTTPException(422, problem)
    state_after = await update_request(
        temporal,
        work_order["request_number"],
        names.SUBMIT_INVOICE,
        SubmitInvoiceCommand(actor=user.actor(), work_order_number=wo, invoice_number=row.invoice_number),
        key,
    )
    return {**public_state(state_after), "invoice": invoice_out(await refreshed(db, row.id)).model_dump(mode="json")}
