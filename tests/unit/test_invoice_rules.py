"""The provider invoice rules (services/invoicing/rules.py): each broken rule named, payment references, markup."""

from __future__ import annotations

import pytest

from services.invoicing.rules import MAX_LENGTH, invoice_number_problem, marked_up, payment_reference

WO = "600010001"


@pytest.mark.parametrize("number", ["A", "AB12345", "1234567890123", "ZZZZZZZZZZZZZ", "600010002", "X60001000"])
def test_valid_numbers(number):
    assert invoice_number_problem(number, WO) is None


@pytest.mark.parametrize(
    "number, words",
    [
        ("", "is required"),
        ("ab12345", "letters must be capitals"),
        ("Ab12345", "letters must be capitals"),
        ("A" * 14, "at most 13 characters (it has 14)"),
        ("ab" * 10, "at most 13 characters"),  # too long is named first
        ("AB 12", "no spaces"),
        ("AB-12", "symbols"),
        ("AB_12", "only capital letters A-Z and digits 0-9"),
        ("ÄB12", "only capital letters A-Z and digits 0-9"),
        ("AB12\n", "only capital letters A-Z and digits 0-9"),
        (WO, "must not contain the work order number"),
        (f"X{WO}", "must not contain the work order number"),
        (f"{WO}AB", "must not contain the work order number"),
    ],
)
def test_each_broken_rule_is_named(number, words):
    problem = invoice_number_problem(number, WO)
    assert problem is not None and words in problem
    assert problem.startswith("invoice_number")


def test_max_length_is_thirteen():
    assert MAX_LENGTH == 13
    assert invoice_number_problem("1" * 13, WO) is None


def test_payment_reference_is_invoice_then_work_order():
    assert payment_reference("12345", "600010001") == "12345600010001"


@pytest.mark.parametrize(
    "cents, markup, expected",
    [
        (12000, 0.15, 13800),
        (8050, 0.15, 9258),
        (2005, 0.15, 2306),
        (0, 0.15, 0),
        (999, 0.0, 999),
        (1, 0.5, 2),
    ],
)
def test_markup_rounds_half_up_to_the_cent(cents, markup, expected):
    assert marked_up(cents, markup) == expected
