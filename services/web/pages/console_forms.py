"""What the admin and billing screens share: reading a form, putting the API's 4xx beside the field it concerns,
and reading whole (small) lists page by page."""

from __future__ import annotations

from fastapi import HTTPException, Request

from services.web.client import ApiError
from services.web.pages.forms import field_errors, readable
from services.web.session import Portal

# Words the API uses in a plain-text 4xx, and the form field each one is about (first match wins).
FIELD_HINTS = (
    ("customer_id", "customer_id"),
    ("provider_id", "provider_id"),
    ("provider ids", "provider_ids"),
    ("org_admin", "org_admin"),
    ("email", "email"),
    ("paid_at", "paid_at"),
    ("time zone", "paid_at"),
    ("amount", "amount"),
)
# Some API sentences are written for programmers; these are the same facts in the words of the screen.
PLAIN = {
    "a customer user needs the customer_id of an existing customer": "Choose the customer this person belongs to.",
    "only a customer user belongs to a customer": "Only a customer's contact belongs to a customer.",
    "a provider user needs the provider_id of an existing provider": "Choose the provider this person works for.",
    "only a provider user belongs to a provider": "Only a provider's staff belong to a provider.",
    "org_admin applies to customer users only": "Only a customer's contact can be an organisation admin.",
    "a user with this email already exists": "Someone already signs in with this email.",
}


async def read_form(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    """The typed values, trimmed (passwords are not: their spaces count)."""
    form = await request.form()
    return {k: str(form.get(k, "")) if "password" in k else str(form.get(k, "")).strip() for k in fields}


def sentence(text: str) -> str:
    text = PLAIN.get(text, text).replace("value is not a valid email address: ", "")
    return readable(text.replace("Value is not a valid email address: ", ""))


def api_field_errors(exc: ApiError, fields: tuple[str, ...]) -> dict[str, str]:
    """The API's 4xx as `{field: message}` for the fields the form has; anything else under "form"."""
    if isinstance(exc.detail, list):
        return field_errors(exc, {(f,): f for f in fields}, "form", say=sentence)
    message = exc.message
    field = next((field for hint, field in FIELD_HINTS if hint in message.lower() and field in fields), "form")
    return {field: sentence(message)}


async def all_items(portal: Portal, path: str, most: int = 1000, **params) -> list[dict]:
    """Every item of a list the API pages (up to `most`): customers, providers, users of a customer."""
    items: list[dict] = []
    cursor = None
    while len(items) < most:
        page = await portal.get(path, limit=200, cursor=cursor, **params)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


def numeric_id(value: str) -> int:
    """An id in an address: anything but a number is no page at all."""
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(404, "There is no such page.")
    return int(value)
