"""Invoicing's API: provider invoices and their rules, payment runs and payments, customer invoices and PDFs."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Response
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.invoicing import pdf
from services.invoicing.models import CustomerInvoice, Payment, PaymentRun, ProviderInvoice, idempotency_keys
from services.invoicing.rules import invoice_number_problem
from services.invoicing.schemas import (
    CustomerInvoiceOut,
    CustomerInvoicePage,
    InvoiceSubmitted,
    PaymentOut,
    PaymentPage,
    PaymentRecorded,
    PaymentRunOut,
    PaymentRunPage,
    ProviderInvoiceIn,
    ProviderInvoiceOut,
    RecordPaymentIn,
)
from shared.auth import CurrentUser, Principal, need
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import CustomerPaymentCommand, PaymentRunInput, PaymentRunResult, SubmitInvoiceCommand
from shared.contracts.views import public_state
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, decode_cursor, errors, money, page, parse_money, update_request
from shared.idempotency import Idempotency
from shared.internal import internal_get
from shared.service_app import SessionDep, StateDep, TemporalDep

router = APIRouter(prefix="/api/v1")
idempotency = Idempotency(idempotency_keys)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
OPERATORS = (Role.dispatcher, Role.accounts_receivable, Role.admin)
# Work-order statuses (routing) under which its holder may still write or submit the invoice; a re-assigned
# (voided) work order takes none.
INVOICEABLE = ("accepted", "completed", "paid")


def invoice_out(row: ProviderInvoice) -> ProviderInvoiceOut:
    return ProviderInvoiceOut(id=row.id, work_order_number=row.work_order_number, request_number=row.request_number,
                              provider_id=row.provider_id, invoice_number=row.invoice_number, parts=money(row.parts),
                              labor=money(row.labor), tax=money(row.tax), total=money(row.total), status=row.status,
                              submitted_at=row.submitted_at, updated_at=row.updated_at)


async def saved_invoice(db, wo: str) -> ProviderInvoice | None:
    query = select(ProviderInvoice).where(ProviderInvoice.work_order_number == wo)
    return (await db.execute(query)).scalar_one_or_none()


async def provider_work_order(state, user: Principal, wo: str) -> dict:
    """The work order, if this provider holds it (accepted it); otherwise a 404."""
    need(user, Role.provider)
    if not (wo.isascii() and wo.isdigit() and len(wo) <= 20):  # no such number; and routing is asked only numbers
        raise HTTPException(404, f"work order {wo[:20]} not found")
    work_order = await internal_get(state.settings, "routing", f"work-orders/{wo}")
    if work_order is None or work_order["accepted_by"] != user.provider_id:
        raise HTTPException(404, f"work order {wo} not found")
    if work_order["status"] not in INVOICEABLE:
        raise HTTPException(409, f"work order {wo} is {work_order['status']}: it takes no invoice")
    return work_order


# --- provider invoices -------------------------------------------------------------------------------
@router.put("/provider-invoices/{wo}", response_model=ProviderInvoiceOut, tags=["provider invoices"],
            responses=errors(403, 404, 409))
async def put_provider_invoice(wo: str, body: ProviderInvoiceIn, user: CurrentUser, db: SessionDep, state: StateDep):
    work_order = await provider_work_order(state, user, wo)
    if problem := invoice_number_problem(body.invoice_number, wo):
        raise HTTPException(422, problem)
    try:
        parts, labor, tax = (parse_money(body.parts, "parts"), parse_money(body.labor, "labor"),
                             parse_money(body.tax, "tax"))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    row = await saved_invoice(db, wo)
    if row is None:
        row = ProviderInvoice(work_order_number=wo, request_number=work_order["request_number"],
                              provider_id=user.provider_id)
        db.add(row)
    elif row.status != "draft":
        raise HTTPException(409, f"the invoice for work order {wo} was already {row.status}; it can no longer change")
    row.invoice_number, row.parts, row.labor, row.tax = body.invoice_number, parts, labor, tax
    row.total = parts + labor + tax
    row.updated_at = utcnow()
    try:
        await db.commit()
    except IntegrityError as exc:  # two first saves at once: the unique work order lets one win
        await db.rollback()
        raise HTTPException(409, f"the invoice for work order {wo} was being saved at the same time; "
                                 "send it again to update it") from exc
    return invoice_out(row)


@router.get("/provider-invoices/{wo}", response_model=ProviderInvoiceOut, tags=["provider invoices"],
            responses=errors(404))
async def get_provider_invoice(wo: str, user: CurrentUser, db: SessionDep):
    row = await saved_invoice(db, wo)
    own_invoice = row is not None and user.role == Role.provider and row.provider_id == user.provider_id
    if row is None or not (user.role in OPERATORS or own_invoice):
        raise HTTPException(404, f"no invoice for work order {wo}")
    return invoice_out(row)


@router.post("/provider-invoices/{wo}/submit", response_model=InvoiceSubmitted, tags=["provider invoices"],
             responses=errors(403, 404, 409))
async def submit_provider_invoice(wo: str, user: CurrentUser, db: SessionDep, state: StateDep, temporal: TemporalDep,
                                  key: IdempotencyKey = None):
    work_order = await provider_work_order(state, user, wo)
    row = await saved_invoice(db, wo)
    if row is None:
        raise HTTPException(422, f"no invoice was saved for work order {wo}: PUT /provider-invoices/{wo} first")
    # One invoice per work order: a second submit is refused by the workflow, with a 409 naming the status.
    if problem := invoice_number_problem(row.invoice_number, wo):
        raise HTTPException(422, problem)
    command = SubmitInvoiceCommand(actor=user.actor(), work_order_number=wo, invoice_number=row.invoice_number)
    state_after = await update_request(temporal, work_order["request_number"], names.SUBMIT_INVOICE, command, key)
    return {**public_state(state_after), "invoice": invoice_out(await refreshed(db, row.id)).model_dump(mode="json")}


async def refreshed(db, invoice_id: int) -> ProviderInvoice:
    db.expire_all()
    return await db.get(ProviderInvoice, invoice_id)


# --- payment runs and payments ----------------------------------------------------------------------
def payment_out(p: Payment) -> PaymentOut:
    return PaymentOut(reference=p.reference, work_order_number=p.work_order_number, request_number=p.request_number,
                      provider_id=p.provider_id, amount=money(p.amount), paid_at=p.paid_at, run_id=p.run_id)


def manual_run_id(key: str | None) -> str:
    if not key:
        return f"manual-{uuid.uuid4()}"
    run_id = f"manual-{key}"
    # The run's id is a 100-character column: a longer key is represented by its digest.
    return run_id if len(run_id) <= 100 else f"manual-{hashlib.sha256(key.encode()).hexdigest()}"


@router.post("/payment-runs", status_code=201, response_model=PaymentRunOut, tags=["payments"],
             responses=errors(403, 409))
async def start_payment_run(user: CurrentUser, db: SessionDep, temporal: TemporalDep, key: IdempotencyKey = None):
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    run_id = manual_run_id(key)
    workflow_id = names.payment_run_workflow_id(run_id)
    try:
        # The same key again joins the run it started, while it runs or once it is over (never a second run).
        handle = await temporal.start_workflow(
            names.PAYMENT_RUN_WORKFLOW, PaymentRunInput(run_id=run_id, requested_by=user.actor()), id=workflow_id,
            task_queue=names.WORKFLOW_TASK_QUEUE, result_type=PaymentRunResult,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        handle = temporal.get_workflow_handle(workflow_id, result_type=PaymentRunResult)
    try:
        result: PaymentRunResult = await handle.result()
    except WorkflowFailureError as exc:
        raise HTTPException(409, f"payment run {run_id} did not complete; start another with a new key") from exc
    run = await db.get(PaymentRun, result.run_id)
    if run is None:
        raise RuntimeError(f"payment run {result.run_id} completed but is not in the database")
    payments = (await db.execute(select(Payment).where(Payment.run_id == run.id).order_by(Payment.id))).scalars()
    return PaymentRunOut(id=run.id, started_at=run.started_at, payments=[payment_out(p) for p in payments],
                         total=money(run.total))


@router.get("/payment-runs", response_model=PaymentRunPage, tags=["payments"], responses=errors(403))
async def list_payment_runs(user: CurrentUser, db: SessionDep, limit: Limit = 50, cursor: Cursor = None):
    """Newest first: keyset-paged on (started_at, id), both descending."""
    need(user, Role.dispatcher, Role.accounts_receivable, Role.admin)
    query = select(PaymentRun).order_by(PaymentRun.started_at.desc(), PaymentRun.id.desc()).limit(limit + 1)
    if (after := decode_cursor(cursor, at=datetime, id=str)) is not None:
        query = query.where(or_(PaymentRun.started_at < after["at"],
                                and_(PaymentRun.started_at == after["at"], PaymentRun.id < after["id"])))
    runs = list((await db.execute(query)).scalars())
    return page(runs, limit, lambda r: PaymentRunOut(id=r.id, started_at=r.started_at, payments=r.payments,
                                                      total=money(r.total)),
                lambda r: {"at": r.started_at.isoformat(), "id": r.id})


@router.get("/payments", response_model=PaymentPage, tags=["payments"], responses=errors(403))
async def list_payments(user: CurrentUser, db: SessionDep, limit: Limit = 50, cursor: Cursor = None):
    query = select(Payment).order_by(Payment.id.desc()).limit(limit + 1)
    if user.role == Role.provider:
        query = query.where(Payment.provider_id == user.provider_id)
    else:
        need(user, *OPERATORS)
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(Payment.id < after["id"])
    rows = list((await db.execute(query)).scalars())
    return page(rows, limit, payment_out, lambda p: {"id": p.id})


# --- customer invoices ---------------------------------------------------------------------------------
def customer_invoice_out(row: CustomerInvoice) -> CustomerInvoiceOut:
    return CustomerInvoiceOut(id=row.id, number=row.number, request_number=row.request_number,
                              customer_id=row.customer_id, status=row.status, lines=row.lines, total=money(row.total),
                              amount_paid=money(row.amount_paid) if row.amount_paid is not None else None,
                              issued_at=row.issued_at, paid_at=row.paid_at)


async def visible_invoice(db, user: Principal, invoice_id: int) -> CustomerInvoice:
    row = await db.get(CustomerInvoice, invoice_id)
    allowed = row is not None and (user.role in (Role.accounts_receivable, Role.admin)
                                   or (user.role == Role.customer and row.customer_id == user.customer_id))
    if not allowed:
        raise HTTPException(404, "invoice not found")
    return row


@router.get("/invoices", response_model=CustomerInvoicePage, tags=["invoices"], responses=errors(403))
async def list_invoices(user: CurrentUser, db: SessionDep, status: Literal["outstanding", "paid"] | None = None,
                        limit: Limit = 50, cursor: Cursor = None):
    query = select(CustomerInvoice).order_by(CustomerInvoice.id.desc()).limit(limit + 1)
    if user.role == Role.customer:
        query = query.where(CustomerInvoice.customer_id == user.customer_id)
    else:
        need(user, Role.accounts_receivable, Role.admin)
    if status:
        query = query.where(CustomerInvoice.status == status)
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(CustomerInvoice.id < after["id"])
    rows = list((await db.execute(query)).scalars())
    return page(rows, limit, customer_invoice_out, lambda r: {"id": r.id})


@router.get("/invoices/{invoice_id}", response_model=CustomerInvoiceOut, tags=["invoices"], responses=errors(404))
async def get_invoice(invoice_id: Id, user: CurrentUser, db: SessionDep):
    return customer_invoice_out(await visible_invoice(db, user, invoice_id))


@router.get("/invoices/{invoice_id}/pdf", tags=["invoices"], response_class=Response,
            responses={200: {"description": "the invoice as a PDF",
                             "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                       **errors(404)})
async def invoice_pdf(invoice_id: Id, user: CurrentUser, db: SessionDep) -> Response:
    row = await visible_invoice(db, user, invoice_id)
    return Response(pdf.render(row), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"'})


@router.post("/invoices/{invoice_id}/record-payment", response_model=PaymentRecorded, tags=["invoices"],
             responses=errors(403, 404, 409))
async def record_payment(invoice_id: Id, body: RecordPaymentIn, user: CurrentUser, db: SessionDep,
                         temporal: TemporalDep, key: IdempotencyKey = None):
    need(user, Role.accounts_receivable)
    row = await visible_invoice(db, user, invoice_id)
    try:
        amount = parse_money(body.amount)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if amount != row.total:
        raise HTTPException(422, f"the amount {money(amount)} does not match the invoice total {money(row.total)}")
    command = CustomerPaymentCommand(actor=user.actor(), invoice_id=row.id, amount=money(amount), paid_at=body.paid_at)
    state_after = await update_request(temporal, row.request_number, names.RECORD_CUSTOMER_PAYMENT, command, key)
    db.expire_all()
    paid = await db.get(CustomerInvoice, invoice_id)
    if paid is None:
        raise HTTPException(404, f"invoice {invoice_id} not found")
    return {**public_state(state_after), "invoice": customer_invoice_out(paid).model_dump(mode="json")}
