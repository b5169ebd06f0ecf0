"""HTTP helpers every service uses: workflow updates as HTTP answers, cursors, money, the app factory."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from fastapi import HTTPException, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shared.contracts.enums import BillingStatus, Kind, Priority, Status
from shared.contracts.models import RequestState
from shared.contracts.names import STATE_QUERY, request_workflow_id

ERROR_STATUS = {"Conflict": 409, "NotFound": 404, "Invalid": 422, "Forbidden": 403}

# Every id is an INTEGER column; PostgreSQL's is 32 bits (SQLite's 64), so a larger id can name nothing and,
# passed to the database, fails there instead (SQLite: OverflowError; PostgreSQL: "integer out of range").
MAX_ID = 2**31 - 1


def _not_a_bool(value: Any) -> Any:
    # pydantic's lax mode reads true/false as 1/0: an id is never a boolean.
    if isinstance(value, bool):
        raise ValueError("an id is a whole number, not true or false")
    return value


# An id in a path, query or body: out of range is a 422 before any handler runs.
Id = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=MAX_ID)]


def _a_moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (ISO 8601, e.g. 2026-05-01T09:00:00Z)")
    try:
        value.astimezone(UTC)  # what storing it does
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC
        raise ValueError("is out of range") from None
    return value  # as sent: its zone shows in the timeline


# A moment a client sends: with a zone, and one that UTC can hold.
Moment = Annotated[datetime, AfterValidator(_a_moment)]
# `?limit=` of every list: outside 1-200 is a 422, never silently clamped.
MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page, 1 to 200")]
Cursor = Annotated[str | None, Query(max_length=1000, description="the `next_cursor` of the previous page")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; each list names its own subclass, e.g. `class ProviderPage(Page[ProviderOut])`."""

    items: list[T]
    next_cursor: str | None = Field(description="send it back as `?cursor=` for the next page; null on the last")


# --- error answers, as the OpenAPI document declares them ------------------------------------------------
class Problem(BaseModel):
    """Every refusal but a malformed field: what went wrong, in words."""

    detail: str = Field(examples=["request SR-000123 not found"])


class InputIssue(BaseModel):
    model_config = ConfigDict(extra="allow")  # pydantic adds `input` and `ctx` where it has them
    loc: list[str | int] = Field(examples=[["body", "summary"]])
    msg: str = Field(examples=["String should have at least 1 character"])
    type: str = Field(examples=["string_too_short"])


class InvalidInput(BaseModel):
    """A 422: one issue per field that does not fit, or a sentence when well-formed input is refused."""

    detail: list[InputIssue] | str


ERRORS = {
    400: "a malformed cursor or link",
    401: "no token, or a token that is invalid, expired or revoked",
    403: "the caller's role may not do this",
    404: "no such object, or one the caller may not see",
    409: "not allowed in the object's current state (the detail names it)",
    413: "the request body is larger than 1 MB",
    422: "a field is missing or does not fit, or the input is refused",
    429: "too many attempts; wait for Retry-After",
    502: "a service this one asks did not answer as expected",
    503: "a store this answer needs is down; try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an operation for the error statuses it may answer besides those every operation has
    (401, 422 and 413 are added from its token, parameters and body: shared.openapi)."""
    return {code: {"model": InvalidInput if code == 422 else Problem, "description": ERRORS[code]} for code in codes}


class RequestStateOut(BaseModel):
    """A request's state after a transition (shared.contracts.views.public_state)."""

    number: str = Field(examples=["SR-000123"])
    status: Status
    billing_status: BillingStatus
    customer_id: int
    priority: Priority
    kind: Kind
    work_order_number: str | None = Field(examples=["600010001"])
    provider_id: int | None
    scheduled_for: datetime | None
    payment_reference: str | None
    accept_by: datetime | None
    due_at: datetime | None
    sla_breached: bool


# What every lifecycle action's route answers: the request's state after it, or why it was refused.
TRANSITION: dict[str, Any] = {"response_model": RequestStateOut, "responses": errors(403, 404, 409)}


async def update_request(
    client: Client, number: str, update: str, command: Any, idempotency_key: str | None = None
) -> RequestState:
    """Run one lifecycle transition as a Temporal Update and answer as the API contract says.

    The Idempotency-Key becomes the update id: Temporal answers a repeated id with the first result, even once
    the workflow has ended. The id is scoped by the update and the caller, so one key sent with another action
    or by another user is a new update rather than somebody else's answer."""
    handle = client.get_workflow_handle(request_workflow_id(number))
    update_id = None
    if idempotency_key:
        actor = getattr(command, "actor", None)
        update_id = f"{update}:{getattr(actor, 'user_id', '')}:{idempotency_key}"
    try:
        return await handle.execute_update(update, command, id=update_id, result_type=RequestState)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise HTTPException(ERROR_STATUS.get(cause.type or "", 409), cause.message) from exc
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # a "number" no workflow id can be (too long, ...)
            raise HTTPException(404, "request not found") from exc
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The workflow has ended (paid or cancelled) or never existed.
        try:
            state = await handle.query(STATE_QUERY, result_type=RequestState)
        except RPCError:
            raise HTTPException(404, f"request {number} not found") from exc
        raise HTTPException(
            409,
            f"cannot {update.replace('_', ' ')} {number}: its status is {state.status.value} (the request is closed)",
        ) from exc


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _cursor_value(kind: type, value: Any) -> Any:
    """One cursor field as the query needs it, or ValueError."""
    if kind is int and type(value) is int and 0 <= value <= MAX_ID:
        return value
    if kind is str and isinstance(value, str) and len(value) <= 200:
        return value
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:  # compared with timezone-aware columns
            return moment
    raise ValueError(f"a cursor's {kind.__name__} field does not fit")


def decode_cursor(cursor: str | None, **fields: type) -> dict[str, Any] | None:
    """What a `next_cursor` carried, or None for the first page. `fields` names what the list put in it and
    the type of each (int, str or datetime); a cursor that does not hold exactly those is a 400, whatever a
    client made of it. Without `fields` the raw dict is returned for the caller to check."""
    if not cursor:
        return None
    try:
        if len(cursor) > 1000:  # ours are short; a long one could nest deep enough to exhaust the parser
            raise ValueError("too long")
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        if fields:
            if value.keys() != fields.keys():
                raise ValueError("other fields")
            value = {name: _cursor_value(kind, value[name]) for name, kind in fields.items()}
    except (ValueError, RecursionError) as exc:  # base64, unicode and JSON errors are ValueErrors
        raise HTTPException(400, "invalid cursor") from exc
    return value


def page(rows: Sequence[Any], limit: int, out: Callable[[Any], Any], cursor_of: Callable[[Any], dict]) -> dict:
    """One page of a keyset-paged list from up to `limit + 1` rows (the extra one only says there is more):
    `{"items", "next_cursor"}`, the cursor made by `cursor_of` from the last item shown."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [out(r) for r in rows], "next_cursor": encode_cursor(cursor_of(rows[-1])) if more else None}


async def id_page(db, query, column, limit: int, cursor: str | None, out, newest_first: bool = False) -> dict:
    """One page of an id-ordered list: `{"items", "next_cursor"}`, keyset-paged on `column` (the primary key),
    ascending or, with `newest_first`, descending. `limit` is the route's `Limit` (1 to 200) and `cursor` its
    `Cursor`."""
    if (after := decode_cursor(cursor, id=int)) is not None:
        query = query.where(column < after["id"] if newest_first else column > after["id"])
    order = column.desc() if newest_first else column
    rows = list((await db.execute(query.order_by(order).limit(limit + 1))).scalars())
    return page(rows, limit, out, lambda row: {"id": row.id})


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def parse_money(value: str | int | float | Decimal, field: str = "amount") -> int:
    """A decimal string with at most two places, not negative, in cents."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{field} must be a decimal amount like 12.50") from exc
    if not amount.is_finite():
        raise ValueError(f"{field} must be a decimal amount like 12.50")
    if amount < 0:
        raise ValueError(f"{field} must not be negative")
    # Before quantize(), which cannot hold an amount like 1E+99 and raises.
    if amount >= Decimal("100000000"):
        raise ValueError(f"{field} is too large")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{field} has more than two decimal places")
    return int(amount * 100)
