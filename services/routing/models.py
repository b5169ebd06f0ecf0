"""Routing's own tables: provider companies, teams, and work orders with their offers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.counters import counter_table
from shared.db import UTCDateTime, utcnow
from shared.idempotency import idempotency_table


class Base(DeclarativeBase):
    pass


idempotency_keys = idempotency_table(Base.metadata)
counters = counter_table(Base.metadata)
FIRST_WORK_ORDER = 600010001


class Provider(Base):
    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)


class WorkOrder(Base):
    """One per assignment. A team or marketplace offer shares its number until one provider accepts."""

    __tablename__ = "work_orders"
    number: Mapped[str] = mapped_column(String(9), primary_key=True)
    request_number: Mapped[str] = mapped_column(String(20), index=True)
    assignment: Mapped[int] = mapped_column(Integer)
    offer_kind: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[int | None] = mapped_column(Integer)
    team_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="offered")
    accepted_by: Mapped[int | None] = mapped_column(Integer, index=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("request_number", "assignment", name="uq_work_orders_assignment"),
        Index("ix_work_orders_status_kind", "status", "offer_kind"),
    )


class Offer(Base):
    """Which providers a provider or team work order is offered to, and who declined it (a declined row is also
    written for a marketplace offer, so that offer leaves the decliner's waiting view)."""

    __tablename__ = "work_order_offers"
    work_order_number: Mapped[str] = mapped_column(ForeignKey("work_orders.number"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
