"""Intake's logic shared by its HTTP routes and its activities."""
from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import RecommendationRow, ServiceRequest, TimelineEntry, User, counters
from shared.contracts import customer_view
from shared.contracts.enums import OfferKind, Role
from shared.contracts.messages import describe, portal_path
from shared.contracts.models import Audience, Recipient, RecordTransition, RequestState
from shared.counters import next_value


async def next_number(db: AsyncSession, name: str) -> int:
    return await next_value(db, counters, name)


def format_request_number(value: int) -> str:
    return f"SR-{value:06d}"


def apply_state(row: ServiceRequest, state: RequestState) -> None:
    row.status = state.status.value
    row.billing_status = state.billing_status.value
    row.work_order_number = state.work_order_number
    row.provider_id = state.provider_id
    row.scheduled_for = state.scheduled_for
    row.payment_reference = state.payment_reference
    row.accept_by = state.accept_by
    row.due_at = state.due_at
    row.sla_breached = state.sla_breached
    row.version = state.version


async def record_transition(db: AsyncSession, inp: RecordTransition) -> list[Recipient]:
    """Write the read copy and the timeline entry of one workflow event; idempotent on the event's seq."""
    state, event = inp.state, inp.event
    row = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == state.number))).scalar_one()
    if state.version > row.version:
        apply_state(row, state)
        row.updated_at = event.at
    exists = (await db.execute(select(TimelineEntry.id).where(
        TimelineEntry.request_number == state.number, TimelineEntry.seq == event.seq))).first()
    if not exists:
        if event.kind == "note" and event.detail.get("note_id"):
            # The note was written when it was posted; the event only gives it its place in order.
            await db.execute(update(TimelineEntry).where(TimelineEntry.id == event.detail["note_id"])
                             .values(seq=event.seq))
        else:
            db.add(TimelineEntry(
                request_number=state.number, seq=event.seq, kind=event.kind, status=event.status.value,
                previous_status=event.previous_status.value if event.previous_status else None,
                actor_user_id=event.actor.user_id, actor_role=event.actor.role.value if event.actor.role else None,
                actor_name=event.actor.name, detail=event.detail, at=event.at))
        if event.kind == "response":
            await db.execute(update(RecommendationRow)
                             .where(RecommendationRow.id == event.detail["recommendation_id"])
                             .values(decision=event.detail["decision"], comment=event.detail.get("comment"),
                                     responded_at=event.at))
    await db.commit()
    return addressed(inp, await recipients(db, state, audiences_of(inp)))


def addressed(inp: RecordTransition, people: list[User]) -> list[Recipient]:
    """Who hears of an event and what each reads: the customer's contacts in the customer's words, and never of
    the provider's invoice or payment (customer_view); everyone else the event's own words (Deliver). Every
    email links to the portal page of the event."""
    state, event = inp.state, inp.event
    path = portal_path(state, event)
    customer_hears = customer_view.shows_event(event.kind, event.status.value, event.detail)
    customer_words: tuple[str, str] | None = None
    found = []
    for user in people:
        recipient = Recipient(user_id=user.id, email=user.notification_email or user.email, name=user.full_name,
                              path=path)
        if user.role == Role.customer.value:
            if not customer_hears:
                continue
            customer_words = customer_words or describe(state, event, customer=True)
            recipient.subject, recipient.body = customer_words
        found.append(recipient)
    return found


def audiences_of(inp: RecordTransition) -> list[Audience]:
    """Who hears of an event: the workflow's audiences, and the dispatchers on every decline (API.md), whatever
    the offer was (the workflow names nobody for a marketplace decline)."""
    audiences = list(inp.audiences)
    if inp.event.kind == "decline" and "dispatchers" not in audiences:
        audiences.append("dispatchers")
    return audiences


async def recipients(db: AsyncSession, state: RequestState, audiences: list[Audience]) -> list[User]:
    conditions: list[ColumnElement[bool]] = []
    for audience in audiences:
        if audience == "customer":
            conditions.append((User.role == Role.customer.value) & (User.customer_id == state.customer_id))
        elif audience == "provider" and state.provider_id is not None:
            conditions.append((User.role == Role.provider.value) & (User.provider_id == state.provider_id))
        elif audience == "offer" and state.offer_kind is not None:
            if state.offer_kind == OfferKind.marketplace:
                conditions.append(User.role == Role.provider.value)
            else:
                target = [state.offer_target_id] if state.offer_target_id is not None else []
                ids = state.offer_provider_ids or target
                conditions.append((User.role == Role.provider.value) & (User.provider_id.in_(ids)))
        elif audience == "dispatchers":
            conditions.append(User.role == Role.dispatcher.value)
        elif audience == "accounts_receivable":
            conditions.append(User.role == Role.accounts_receivable.value)
    if not conditions:
        return []
    return list((await db.execute(select(User).where(User.active.is_(True), or_(*conditions))
                                  .order_by(User.id))).scalars())
