"""Templates: one per screen, with named blocks that htmx requests render alone (jinja2-fragments)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks

from services.web.session import csrf_token
from shared.contracts import wording

HERE = Path(__file__).resolve().parent
templates = Jinja2Blocks(directory=str(HERE / "templates"))


def when(value: str | datetime | None, with_time: bool = True) -> str:
    """An ISO timestamp as people read it, in UTC: '23 Nov 2026, 14:05'."""
    if not value:
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%-d %b %Y, %H:%M UTC" if with_time else "%-d %b %Y")


def money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value or "")


def size(value: Any) -> str:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


templates.env.filters.update(
    when=when,
    money=money,
    size=size,
    date=lambda v: when(v, with_time=False),
    priority=lambda v: wording.PRIORITY_WORDS.get(v, v),
    kind=lambda v: wording.KIND_WORDS.get(v, v),
    billing=lambda v: wording.BILLING_WORDS.get(v, v),
    role=lambda v: wording.ROLE_WORDS.get(v, v),
)
templates.env.globals.update(wording=wording)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    name: str,
    context: dict | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict | None = None,
):
    """Render a screen, or only `block` of it when htmx asks for a part of the page."""
    session = request.scope.get("session")
    user = session.get("user") if session is not None else None
    ctx = {
        "request": request,
        "user": user,
        "csrf": csrf_token(request) if session is not None else "",
        "customer_view": bool(user and user.get("role") == "customer"),
        "status_words": lambda s: wording.status_words(s, customer=bool(user and user.get("role") == "customer")),
        **(context or {}),
    }
    kwargs: dict[str, Any] = {"status_code": status_code, "headers": headers}
    if block:
        kwargs["block_name"] = block
    return templates.TemplateResponse(request, name, ctx, **kwargs)
