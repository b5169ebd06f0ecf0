"""Invoicing's logic, called by its routes and its activities alike: provider invoices and the work orders they
belong to, payments and payment runs, customer invoices."""

from __future__ import annotations

import hashlib
import uuid

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from services.invoicing.models import CustomerInvoice, Payment, PaymentRun, ProviderInvoice, counters, idempotency_keys
from services.invoicing.rules import marked_up, payment_reference
from services.invoicing.schemas import CustomerInvoiceOut, PaymentOut, PaymentRunOut, ProviderInvoiceOut
from shared.auth import Principal, need
from shared.contracts import names
from shared.contracts.enums import Role
from shared.contracts.models import (
    Actor,
    CollectApproved,
    CollectedPayments,
    CustomerInvoiceIssued,
    IssueCustomerInvoice,
    MarkProviderInvoice,
    PaymentRunInput,
    PaymentRunResult,
    SettleCustomerInvoice,
)
from shared.contracts.models import (
    Payment as CollectedPayment,
)
from shared.counters import next_value
from shared.db import utcnow
from shared.http import money, parse_money
from shared.idempotency import Idempotency
from shared.internal import internal_get

idempotency = Idempotency(idempotency_keys)
OPERATORS = (Role.dispatcher, Role.accounts_receivable, Role.admin)
# Work-order statuses (routing) under which its holder may still write or submit the invoice; a re-assigned
# (voided) work order takes none.
INVOICEABLE = ("accepted", "completed", "paid")


# --- provider invoices -------------------------------------------------------------------------------
def invoice_out(row: ProviderInvoice) -> ProviderInvoiceOut:
    return ProviderInvoiceOut(
        id=row.id,
        work_order_number=row.work_order_number,
        request_number=row.request_number,
        provider_id=row.provider_id,
        invoice_number=row.invoice_number,
        parts=money(row.parts),
        labor=money(row.labor),
        tax=money(row.tax),
        total=money(row.total),
        status=row.status,
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
    )


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


async def save_provider_invoice(
    db, wo: str, request_number: str, provider_id: int, invoice_number: str, parts: int, labor: int, tax: int
) -> ProviderInvoice:
    """Write the provider's draft invoice for a work order: created on the first save, refused once submitted."""
    row = (
        await db.execute(select(ProviderInvoice).where(ProviderInvoice.work_order_number == wo))
    ).scalar_one_or_none()
    if row is None:
        row = ProviderInvoice(work_order_number=wo, request_number=request_number, provider_id=provider_id)
        db.add(row)
    elif row.status != "draft":
        raise HTTPException(409, f"the invoice for work order {wo} was already {row.status}; it can no longer change")
    row.invoice_number, row.parts, row.labor, row.tax = invoice_number, parts, labor, tax
    row.total = parts + labor + tax
    row.updated_at = utcnow()
    try:
        await db.commit()
    except IntegrityError as exc:  # two first saves at once: the unique work order lets one win
        await db.rollback()
        raise HTTPException(
            409, f"the invoice for work order {wo} was being saved at the same time; send it again to update it"
        ) from exc
    return row


async def refreshed(db, invoice_id: int) -> ProviderInvoice:
    db.expire_all()
    return await db.get(ProviderInvoice, invoice_id)


# --- payment runs and payments ----------------------------------------------------------------------
def payment_out(p: Payment) -> PaymentOut:
    return PaymentOut(
        reference=p.reference,
        work_order_number=p.work_order_number,
        request_number=p.request_number,
        provider_id=p.provider_id,
        amount=money(p.amount),
        paid_at=p.paid_at,
        run_id=p.run_id,
    )


async def run_payments(db, temporal, run_id: str, actor: Actor) -> PaymentRunOut:
    """Run the payment run `run_id` (a workflow) to its end and answer what it paid."""
    workflow_id = names.payment_run_workflow_id(run_id)
    try:
        # The same key again joins the run it started, while it runs or once it is over (never a second run).
        handle = await temporal.start_workflow(
            names.PAYMENT_RUN_WORKFLOW,
            PaymentRunInput(run_id=run_id, requested_by=actor),
            id=workflow_id,
            task_queue=names.WORKFLOW_TASK_QUEUE,
            result_type=PaymentRunResult,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        handle = temporal.get_workflow_handle(workflow_id, result_type=PaymentRunResult)
    try:
        result: PaymentRunResult = await handle.result()
    except WorkflowFailureError as exc:
        raise HTTPException(409, f"payment run {run_id} did not complete; start another with a new key") from exc
    run = await db.get(PaymentRun, result.run_id)
    payments = (await db.execute(select(Payment).where(Payment.run_id == run.id).order_by(Payment.id))).scalars()
    return PaymentRunOut(
        id=run.id, started_at=run.started_at, payments=[payment_out(p) for p in payments], total=money(run.total)
    )


def manual_run_id(key: str | None) -> str:
    if not key:
        return f"manual-{uuid.uuid4()}"
    run_id = f"manual-{key}"
    # The run's id is a 100-character column: a longer key is represented by its digest.
    return run_id if len(run_id) <= 100 else f"manual-{hashlib.sha256(key.encode()).hexdigest()}"


# --- customer invoices ---------------------------------------------------------------------------------
def customer_invoice_out(row: CustomerInvoice) -> CustomerInvoiceOut:
    return CustomerInvoiceOut(
        id=row.id,
        number=row.number,
        request_number=row.request_number,
        customer_id=row.customer_id,
        status=row.status,
        lines=row.lines,
        total=money(row.total),
        amount_paid=money(row.amount_paid) if row.amount_paid is not None else None,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
    )


async def visible_invoice(db, user: Principal, invoice_id: int) -> CustomerInvoice:
    row = await db.get(CustomerInvoice, invoice_id)
    allowed = row is not None and (
        user.role in (Role.accounts_receivable, Role.admin)
        or (user.role == Role.customer and row.customer_id == user.customer_id)
    )
    if not allowed:
        raise HTTPException(404, "invoice not found")
    return row


# --- what the workflow asks (through activities) ---------------------------------------------------
async def mark_provider_invoice(db, inp: MarkProviderInvoice) -> None:
    invoice = (
        await db.execute(select(ProviderInvoice).where(ProviderInvoice.work_order_number == inp.work_order_number))
    ).scalar_one_or_none()
    if invoice is None:
        raise ApplicationError(f"no provider invoice for work order {inp.work_order_number}")
    if inp.status == "submitted" and invoice.status == "draft":
        invoice.status, invoice.submitted_at = "submitted", utcnow()
    elif inp.status == "approved" and invoice.status in ("draft", "submitted"):
        invoice.status, invoice.approved_at = "approved", utcnow()
    await db.commit()


async def collect_approved(db, inp: CollectApproved) -> CollectedPayments:
    """Pay every approved invoice once. The payment row is unique per work order, so a retried or
    concurrent run finds it already paid; the run answers with the payments it made itself."""
    if await db.get(PaymentRun, inp.run_id) is None:
        db.add(PaymentRun(id=inp.run_id, started_at=inp.started_at))
        await db.commit()
    approved = (
        (
            await db.execute(
                select(ProviderInvoice).where(ProviderInvoice.status == "approved").order_by(ProviderInvoice.id)
            )
        )
        .scalars()
        .all()
    )
    for invoice in approved:
        try:
            async with db.begin_nested():
                db.add(
                    Payment(
                        work_order_number=invoice.work_order_number,
                        request_number=invoice.request_number,
                        reference=payment_reference(invoice.invoice_number, invoice.work_order_number),
                        provider_id=invoice.provider_id,
                        amount=invoice.total,
                        run_id=inp.run_id,
                        paid_at=utcnow(),
                    )
                )
                invoice.status = "paid"
        except IntegrityError:
            continue  # another run paid it
    await db.commit()
    paid = (await db.execute(select(Payment).where(Payment.run_id == inp.run_id).order_by(Payment.id))).scalars().all()
    run = await db.get(PaymentRun, inp.run_id)
    run.payments, run.total = len(paid), sum(p.amount for p in paid)
    await db.commit()
    return CollectedPayments(
        items=[
            CollectedPayment(
                request_number=p.request_number,
                work_order_number=p.work_order_number,
                reference=p.reference,
                amount=money(p.amount),
                paid_at=p.paid_at,
            )
            for p in paid
        ]
    )


async def issue_customer_invoice(db, inp: IssueCustomerInvoice, markup: float) -> CustomerInvoiceIssued:
    existing = (
        await db.execute(select(CustomerInvoice).where(CustomerInvoice.request_number == inp.request_number))
    ).scalar_one_or_none()
    if existing is None:
        provider = (
            await db.execute(select(ProviderInvoice).where(ProviderInvoice.work_order_number == inp.work_order_number))
        ).scalar_one_or_none()
        parts, labor, tax = (provider.parts, provider.labor, provider.tax) if provider else (0, 0, 0)
        lines = [
            {"description": name, "amount": money(marked_up(cents, markup))}
            for name, cents in (("Parts", parts), ("Labour", labor), ("Tax", tax))
        ]
        total = sum(parse_money(line["amount"]) for line in lines)
        number = f"INV-{await next_value(db, counters, 'customer_invoice'):06d}"
        existing = CustomerInvoice(
            number=number,
            request_number=inp.request_number,
            customer_id=inp.customer_id,
            lines=lines,
            total=total,
            issued_at=inp.issued_at,
        )
        db.add(existing)
        await db.commit()
    return CustomerInvoiceIssued(id=existing.id, number=existing.number, total=money(existing.total))


async def settle_customer_invoice(db, inp: SettleCustomerInvoice) -> None:
    invoice = await db.get(CustomerInvoice, inp.invoice_id)
    if invoice.status != "paid":
        invoice.status, invoice.amount_paid, invoice.paid_at = "paid", parse_money(inp.amount), inp.paid_at
        await db.commit()
