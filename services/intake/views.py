"""Intake's answers as each caller sees them. A customer gets the customer's view that
shared/contracts/customer_view.py decides (docs/api.md, "What a customer sees"); operators and providers get
everything. Every route that shows a request, its timeline or its attachments goes through here."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException

from services.intake.models import Attachment, ServiceRequest, TimelineEntry
from services.intake.schemas import AttachmentOut, RequestOut, TimelineOut
from shared.auth import Principal
from shared.contracts import customer_view
from shared.contracts.enums import Role


def is_customer(user: Principal) -> bool:
    return user.role == Role.customer


def request_out(user: Principal, row: ServiceRequest) -> RequestOut:
    out = RequestOut.model_validate(row)
    if not is_customer(user):
        return out
    return RequestOut.model_validate(customer_view.request(out.model_dump()))


def status_filter(user: Principal, statuses: list[str] | None) -> list[str] | None:
    """The stored statuses a caller's `status=` filter stands for (a customer's `completed` finds the requests
    it sees as completed)."""
    if not statuses or not is_customer(user):
        return statuses
    return customer_view.statuses_matching(statuses)


def timeline_out(user: Principal, rows: Iterable[TimelineEntry]) -> list[TimelineOut]:
    entries = [TimelineOut.model_validate(r) for r in rows]
    if not is_customer(user):
        return entries
    seen = (customer_view.event(e.model_dump()) for e in entries)
    return [TimelineOut.model_validate(e) for e in seen if e is not None]


def shows_attachment(user: Principal, row: Attachment) -> bool:
    return not is_customer(user) or customer_view.shows_attachment(row.kind)


def attachments_out(user: Principal, rows: Iterable[Attachment]) -> list[AttachmentOut]:
    return [AttachmentOut.model_validate(r) for r in rows if shows_attachment(user, r)]


def refusal(user: Principal, exc: HTTPException) -> HTTPException:
    """A refused transition's answer, in the customer's words when the caller is the customer."""
    if is_customer(user) and isinstance(exc.detail, str):
        return HTTPException(exc.status_code, customer_view.message(exc.detail), headers=exc.headers)
    return exc
