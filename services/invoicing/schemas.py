from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.http import Moment, Page, RequestStateOut


class ProviderInvoiceIn(BaseModel):
    """All four fields required (`0.00` allowed); the invoice number's rules are checked by name in rules.py."""

    invoice_number: str = Field(max_length=1000, examples=["INV1001"])
    parts: str = Field(max_length=50, examples=["120.00"])
    labor: str = Field(max_length=50, examples=["80.00"])
    tax: str = Field(max_length=50, examples=["0.00"])


class ProviderInvoiceOut(BaseModel):
    id: int
    work_order_number: str
    request_number: str
    provider_id: int
    invoice_number: str
    parts: str
    labor: str
    tax: str
    total: str
    status: str
    submitted_at: datetime | None
    updated_at: datetime


class PaymentOut(BaseModel):
    reference: str
    work_order_number: str
    request_number: str
    provider_id: int
    amount: str
    paid_at: datetime
    run_id: str


class PaymentRunOut(BaseModel):
    id: str
    started_at: datetime
    payments: list[PaymentOut] | int
    total: str


class CustomerInvoiceOut(BaseModel):
    id: int
    number: str
    request_number: str
    customer_id: int
    status: str
    lines: list[dict[str, Any]]
    total: str
    amount_paid: str | None
    issued_at: datetime
    paid_at: datetime | None


class RecordPaymentIn(BaseModel):
    amount: str = Field(max_length=50, examples=["200.00"])
    paid_at: Moment


class InvoiceSubmitted(RequestStateOut):
    """The request's state after the submission, with the invoice as submitted."""

    invoice: ProviderInvoiceOut


class PaymentRecorded(RequestStateOut):
    """The request's state after the customer's payment, with the invoice as paid."""

    invoice: CustomerInvoiceOut


class PaymentRunPage(Page[PaymentRunOut]):
    pass


class PaymentPage(Page[PaymentOut]):
    pass


class CustomerInvoicePage(Page[CustomerInvoiceOut]):
    pass
