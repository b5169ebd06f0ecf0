"""Provider invoice rules (docs/api.md, the providers' quick reference). Each broken rule is named."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

MAX_LENGTH = 13


def invoice_number_problem(invoice_number: str, work_order_number: str) -> str | None:
    """The first rule the number breaks, in words a provider can act on; None when it is valid."""
    if not invoice_number:
        return "invoice_number is required: 1 to 13 capital letters and digits"
    if len(invoice_number) > MAX_LENGTH:
        return f"invoice_number must be at most {MAX_LENGTH} characters (it has {len(invoice_number)})"
    if re.search(r"[a-z]", invoice_number):
        return "invoice_number letters must be capitals (A-Z)"
    if not re.fullmatch(r"[A-Z0-9]+", invoice_number):
        return "invoice_number may contain only capital letters A-Z and digits 0-9 (no spaces, dashes or symbols)"
    if work_order_number and work_order_number in invoice_number:
        return "invoice_number must not contain the work order number"
    return None


def payment_reference(invoice_number: str, work_order_number: str) -> str:
    """The provider invoice number followed by the work order number."""
    return f"{invoice_number}{work_order_number}"


def marked_up(cents: int, markup: float) -> int:
    value = Decimal(cents) * (Decimal(1) + Decimal(str(markup)))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
