"""Invoicing's own tables: provider invoices, payment runs and payments, customer invoices. Money in cents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.counters import counter_table
from shared.db import UTCDateTime, utcnow
from shared.idempotency import idempotency_table


class Base(DeclarativeBase):
    pass


idempotency_keys = idempotency_table(Base.metadata)
counters = counter_table(Base.metadata)


class ProviderInvoice(Base):
    __tablename__ = "provider_invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_number: Mapped[str] = mapped_column(String(9), unique=True)  # one invoice per work order
    request_number: Mapped[str] = mapped_column(String(20), index=True)
    provider_id: Mapped[int] = mapped_column(Integer, index=True)
    invoice_number: Mapped[str] = mapped_column(String(13))
    parts: Mapped[int] = mapped_column(Integer)
    labor: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)  # draft, submitted, approved, paid
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentRun(Base):
    __tablename__ = "payment_runs"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payments: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_number: Mapped[str] = mapped_column(String(9), unique=True)  # never paid twice
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    request_number: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[int] = mapped_column(Integer, index=True)
    amount: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(100), index=True)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerInvoice(Base):
    __tablename__ = "customer_invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    request_number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="outstanding")  # outstanding, paid
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    amount_paid: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_customer_invoices_customer_status", "customer_id", "status", "id"),)
