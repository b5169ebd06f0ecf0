"""Invoicing's activities: invoice status, payment collection (exactly once per work order), customer invoices;
the logic is in service.py."""

from __future__ import annotations

import asyncio

from temporalio import activity

from services.invoicing.service import (
    collect_approved,
    issue_customer_invoice,
    mark_provider_invoice,
    settle_customer_invoice,
)
from shared.contracts import names
from shared.contracts.models import (
    CollectApproved,
    CollectedPayments,
    CustomerInvoiceIssued,
    IssueCustomerInvoice,
    MarkProviderInvoice,
    SettleCustomerInvoice,
)
from shared.service_app import ServiceState


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
