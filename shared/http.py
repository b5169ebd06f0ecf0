"""HTTP helpers every service uses: workflow updates as HTTP answers, cursors, money, the app factory."""
from __future__ import annotations

import base64
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import HTTPException
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shared.contracts.models import RequestState
from shared.contracts.names import request_workflow_id

ERROR_STATUS = {"Conflict": 409, "NotFound": 404, "Invalid": 422, "Forbidden": 403}


async def update_request(client: Client, number: str, update: str, command: Any,
                         idempotency_key: str | None = None) -> RequestState:
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
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The workflow has ended (paid or cancelled) or never existed.
        try:
            state = await handle.query("state", result_type=RequestState)
        except RPCError:
            raise HTTPException(404, f"request {number} not found") from exc
        raise HTTPException(409, f"cannot {update.replace('_', ' ')} {number}: its status is "
                                 f"{state.status.value} (the request is closed)") from exc


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise HTTPException(400, "invalid cursor") from exc
    if not isinstance(value, dict):
        raise HTTPException(400, "invalid cursor")
    return value


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def parse_money(value: str | int | float | Decimal, field: str = "amount") -> int:
    """A decimal string with at most two places, not negative, in cents."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{field} must be a decimal amount like 12.50") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{field} must not be negative")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{field} has more than two decimal places")
    if amount >= Decimal("100000000"):
        raise ValueError(f"{field} is too large")
    return int(amount * 100)
