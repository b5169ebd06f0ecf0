"""Customer invoices: listed, read, as a PDF, and their payment recorded."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select

from services.invoicing import pdf
from services.invoicing.models import CustomerInvoice
from services.invoicing.schemas import CustomerInvoiceOut, CustomerInvoicePage, PaymentRecorded, RecordPaymentIn
from services.invoicing.service import customer_invoice_out, visible_invoice
from shared.auth import CurrentUser, need
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import CustomerPaymentCommand
from shared.contracts.views import public_state
from shared.http import Cursor, Id, Limit, errors, id_page, money, parse_money, update_request
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, TemporalDep

router = APIRouter(prefix="/api/v1")


@router.get("/invoices", response_model=CustomerInvoicePage, tags=["invoices"], responses=errors(403))
async def list_invoices(
    user: CurrentUser,
    db: SessionDep,
    status: Literal["outstanding", "paid"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    query = select(CustomerInvoice)
    if user.role == Role.customer:
        query = query.where(CustomerInvoice.customer_id == user.customer_id)
    else:
        need(user, Role.accounts_receivable, Role.admin)
    if status:
        query = query.where(CustomerInvoice.status == status)
    return await id_page(db, query, CustomerInvoice.id, limit, cursor, customer_invoice_out, newest_first=True)


@router.get("/invoices/{invoice_id}", response_model=CustomerInvoiceOut, tags=["invoices"], responses=errors(404))
async def get_invoice(invoice_id: Id, user: CurrentUser, db: SessionDep):
    return customer_invoice_out(await visible_invoice(db, user, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    tags=["invoices"],
    response_class=Response,
    responses={
        200: {
            "description": "the invoice as a PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(404),
    },
)
async def invoice_pdf(invoice_id: Id, user: CurrentUser, db: SessionDep) -> Response:
    row = await visible_invoice(db, user, invoice_id)
    return Response(
        pdf.render(row),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"'},
    )


@router.post(
    "/invoices/{invoice_id}/record-payment",
    response_model=PaymentRecorded,
    tags=["invoices"],
    responses=errors(403, 404, 409),
)
async def record_payment(
    invoice_id: Id,
    body: RecordPaymentIn,
    user: CurrentUser,
    db: SessionDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
):
    need(user, Role.accounts_receivable)
    row = await visible_invoice(db, user, invoice_id)
    try:
        amount = parse_money(body.amount)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if amount != row.total:
        raise HTTPException(422, f"the amount {money(amount)} does not match the invoice total {money(row.total)}")
    state_after = await update_request(
        temporal,
        row.request_number,
        names.RECORD_CUSTOMER_PAYMENT,
        CustomerPaymentCommand(actor=user.actor(), invoice_id=row.id, amount=money(amount), paid_at=body.paid_at),
        key,
    )
    db.expire_all()
    paid = await db.get(CustomerInvoice, invoice_id)
    if paid is None:
        raise HTTPException(404, f"invoice {invoice_id} not found")
    return {**public_state(state_after), "invoice": customer_invoice_out(paid).model_dump(mode="json")}
