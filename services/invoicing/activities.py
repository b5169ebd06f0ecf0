"""Invoicing's activities: invoice status, payment collection (exactly once per work order), customer invoices."""
from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.invoicing.models import CustomerInvoice, Payment, PaymentRun, ProviderInvoice, counters
from services.invoicing.rules import marked_up, payment_reference
from shared.contracts import names
from shared.contracts.models import (
    CollectApproved,
    CollectedPayments,
    CustomerInvoiceIssued,
    IssueCustomerInvoice,
    MarkProviderInvoice,
    SettleCustomerInvoice,
)
from shared.contracts.models import (
    Payment as PaymentOut,
)
from shared.counters import next_value
from shared.db import utcnow
from shared.http import money, parse_money
from shared.service_app import ServiceState


async def mark_provider_invoice(db, inp: MarkProviderInvoice) -> None:
    invoice = (await db.execute(select(ProviderInvoice).where(
        ProviderInvoice.work_order_number == inp.work_order_number))).scalar_one_or_none()
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
    approved = (await db.execute(select(ProviderInvoice).where(ProviderInvoice.status == "approved")
                                 .order_by(ProviderInvoice.id))).scalars().all()
    for invoice in approved:
        try:
            async with db.begin_nested():
                db.add(Payment(work_order_number=invoice.work_order_number, request_number=invoice.request_number,
                               reference=payment_reference(invoice.invoice_number, invoice.work_order_number),
                               provider_id=invoice.provider_id, amount=invoice.total, run_id=inp.run_id,
                               paid_at=utcnow()))
                invoice.status = "paid"
        except IntegrityError:
            continue  # another run paid it
    await db.commit()
    paid = (await db.execute(select(Payment).where(Payment.run_id == inp.run_id).order_by(Payment.id))).scalars().all()
    run = await db.get(PaymentRun, inp.run_id)
    run.payments, run.total = len(paid), sum(p.amount for p in paid)
    await db.commit()
    return CollectedPayments(items=[
        PaymentOut(request_number=p.request_number, work_order_number=p.work_order_number, reference=p.reference,
                   amount=money(p.amount), paid_at=p.paid_at) for p in paid])


async def issue_customer_invoice(db, inp: IssueCustomerInvoice, markup: float) -> CustomerInvoiceIssued:
    existing = (await db.execute(select(CustomerInvoice).where(
        CustomerInvoice.request_number == inp.request_number))).scalar_one_or_none()
    if existing is None:
        provider = (await db.execute(select(ProviderInvoice).where(
            ProviderInvoice.work_order_number == inp.work_order_number))).scalar_one_or_none()
        parts, labor, tax = (provider.parts, provider.labor, provider.tax) if provider else (0, 0, 0)
        lines = [{"description": name, "amount": money(marked_up(cents, markup))}
                 for name, cents in (("Parts", parts), ("Labour", labor), ("Tax", tax))]
        total = sum(parse_money(line["amount"]) for line in lines)
        number = f"INV-{await next_value(db, counters, 'customer_invoice'):06d}"
        existing = CustomerInvoice(number=number, request_number=inp.request_number, customer_id=inp.customer_id,
                                   lines=lines, total=total, issued_at=inp.issued_at)
        db.add(existing)
        await db.commit()
    return CustomerInvoiceIssued(id=existing.id, number=existing.number, total=money(existing.total))


async def settle_customer_invoice(db, inp: SettleCustomerInvoice) -> None:
    invoice = await db.get(CustomerInvoice, inp.invoice_id)
    if invoice.status != "paid":
        invoice.status, invoice.amount_paid, invoice.paid_at = "paid", parse_money(inp.amount), inp.paid_at
        await db.commit()


async def heartbeat(every: float = 2.0) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)


def build(state: ServiceState) -> list:
    @activity.defn(name=names.MARK_INVOICE)
    async def mark(inp: MarkProviderInvoice) -> None:
        async with state.db.sessions() as db:
            await mark_provider_invoice(db, inp)

    @activity.defn(name=names.COLLECT_APPROVED)
    async def collect(inp: CollectApproved) -> CollectedPayments:
        beating = asyncio.create_task(heartbeat())  # a run that dies with this process is retried at once
        try:
            async with state.db.sessions() as db:
                return await collect_approved(db, inp)
        finally:
            beating.cancel()

    @activity.defn(name=names.ISSUE_CUSTOMER_INVOICE)
    async def issue(inp: IssueCustomerInvoice) -> CustomerInvoiceIssued:
        async with state.db.sessions() as db:
            return await issue_customer_invoice(db, inp, state.settings.invoice_markup)

    @activity.defn(name=names.SETTLE_CUSTOMER_INVOICE)
    async def settle(inp: SettleCustomerInvoice) -> None:
        async with state.db.sessions() as db:
            await settle_customer_invoice(db, inp)

    return [mark, collect, issue, settle]
