"""What every form of the portal does with the API's answer: its words as sentences beside the field they concern,
and a refusal told apart from a page that is not there."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any

from services.web.client import ApiError


def readable(message: str, names: Mapping[str, str] | None = None) -> str:
    """The API's validation words as a sentence people read beside a field. `names`: the API's field names in the
    screen's words ("invoice_number" → "the invoice number")."""
    message = message.removeprefix("Value error, ").strip()
    if re.fullmatch(r"(String|List) should have at least 1 (character|item)s?", message):
        return "This cannot be left empty."
    if m := re.fullmatch(r"String should have at most (\d+) characters?", message):
        return f"Use at most {m.group(1)} characters."
    for name, said in (names or {}).items():
        message = re.sub(rf"\b{name}\b", said, message)
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def field_errors(exc: ApiError, fields: dict[tuple, str], fallback: str, say=readable) -> dict[str, str]:
    """The API's 4xx as {form field: message}. Validation errors go beside the field their `loc` names; any
    other detail beside `fallback` (an empty name: at the top of the form)."""
    errors: dict[str, str] = {}
    if isinstance(exc.detail, list):
        for item in exc.detail:
            loc = tuple(str(p) for p in (item.get("loc") or [])[1:]) if isinstance(item, dict) else ()
            name = fields.get(loc) or fields.get(loc[:1]) or fallback
            errors.setdefault(name, say(str(item.get("msg", item)) if isinstance(item, dict) else str(item)))
        return errors
    return {fallback: say(exc.message)}


async def refused(call: Awaitable[Any]) -> ApiError | None:
    """Send a form's change: None once done, or the API's refusal to show beside the form. A 404 (not there, or
    not the person's to see) is no refusal: it stays an error, shown as the 404 page."""
    try:
        await call
    except ApiError as exc:
        if exc.status == 404:
            raise
        return exc
    return None


def idempotency_key(form: Mapping[str, Any], field: str = "idempotency_key") -> str | None:
    """The key a form carries so that sending it twice does its change once (None when it has none)."""
    return str(form.get(field) or "") or None
