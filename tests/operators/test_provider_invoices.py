"""Provider invoices: every rule of the providers' quick reference is a 422 naming the rule; one invoice per work
order, submitted only once the work is completed, frozen once submitted, totals computed."""

from __future__ import annotations

import asyncio

import pytest

from tests.operators.flow import INVOICE, assigned, complete, invoice_number, new_request, refused, started

VALID = {"invoice_number": "AB12345", **INVOICE}

# (what is wrong, the body's changes, words the detail must contain)
RULES = [
    ("lowercase letters", {"invoice_number": "ab12345"}, ["capital"]),
    ("more than 13 characters", {"invoice_number": "A" * 14}, ["13 characters"]),
    ("a space", {"invoice_number": "AB 12345"}, ["capital letters a-z and digits", "spaces"]),
    ("a symbol", {"invoice_number": "AB-12345"}, ["capital letters a-z and digits", "symbols"]),
    ("the work order number", {"invoice_number": "X{wo}"}, ["must not contain the work order number"]),
    ("an empty number", {"invoice_number": ""}, ["invoice_number is required"]),
    ("a negative amount", {"labor": "-5.00"}, ["labor", "negative"]),
    ("three decimal places", {"parts": "10.125"}, ["parts", "more than two decimal places"]),
    ("an empty amount", {"tax": ""}, ["tax", "decimal amount"]),
    ("not a number", {"parts": "twelve"}, ["parts", "decimal amount"]),
    ("a missing field", {"tax": None}, ["tax", "field required"]),
    ("a missing invoice number", {"invoice_number": None}, ["invoice_number", "field required"]),
]


@pytest.mark.parametrize("wrong, changes, words", RULES, ids=[r[0] for r in RULES])
async def test_each_rule_is_a_422_naming_it(stack, api, quick_cast, wrong, changes, words):
    cast = quick_cast
    number = await new_request(cast)
    wo = await started(cast, number)
    body = {k: (v.format(wo=wo) if isinstance(v, str) else v) for k, v in {**VALID, **changes}.items()}
    body = {k: v for k, v in body.items() if v is not None}
    detail = (await refused(cast.provider, "PUT", f"/provider-invoices/{wo}", 422, body)).lower()
    for word in words:
        assert word in detail, (wrong, detail)
    # Nothing was saved.
    await refused(cast.provider, "GET", f"/provider-invoices/{wo}", 404)


async def test_lifecycle_of_one_invoice(stack, api, cast):
    number = await new_request(cast)
    wo = await started(cast, number)
    # Drafting is allowed while the work goes on; the total is computed, never taken from the client.
    draft = await cast.provider.put(
        f"/provider-invoices/{wo}", {**VALID, "parts": "10", "labor": "0.00", "tax": "0.5", "total": "999.99"}
    )
    assert (draft["parts"], draft["labor"], draft["tax"], draft["total"]) == ("10.00", "0.00", "0.50", "10.50")
    assert draft["status"] == "draft" and draft["request_number"] == number
    # Submitting before completion: a 409 naming the request's status.
    detail = await refused(cast.provider, "POST", f"/provider-invoices/{wo}/submit", 409)
    assert "in_progress" in detail and "completed" in detail
    await complete(api, cast.provider, number, wo)
    own_number = invoice_number()
    edited = await cast.provider.put(f"/provider-invoices/{wo}", {**INVOICE, "invoice_number": own_number})
    assert edited["id"] == draft["id"] and edited["total"] == "220.55" and edited["invoice_number"] == own_number
    submitted = await cast.provider.post(f"/provider-invoices/{wo}/submit")
    assert submitted["status"] == "invoice_submitted"
    assert submitted["invoice"]["status"] == "submitted" and submitted["invoice"]["total"] == "220.55"

    # One per work order, and frozen once submitted.
    assert "invoice_submitted" in await refused(cast.provider, "POST", f"/provider-invoices/{wo}/submit", 409)
    detail = await refused(cast.provider, "PUT", f"/provider-invoices/{wo}", 409, {**INVOICE, "invoice_number": "ZZ9"})
    assert "submitted" in detail and "can no longer change" in detail
    await cast.dispatcher.post(f"/work-events/{number}/approve-payment")
    assert "approved" in await refused(cast.provider, "PUT", f"/provider-invoices/{wo}", 409, VALID)
    seen = await cast.dispatcher.get(f"/provider-invoices/{wo}")
    assert (seen["invoice_number"], seen["total"], seen["status"]) == (own_number, "220.55", "approved")
    assert (await cast.provider.get(f"/requests/{number}"))["status"] == "payment_approved"


async def test_submit_needs_a_saved_invoice_and_its_holder(stack, api, admin, cast):
    number = await new_request(cast)
    wo = await started(cast, number)
    await complete(api, cast.provider, number, wo)
    assert "PUT /provider-invoices" in await refused(cast.provider, "POST", f"/provider-invoices/{wo}/submit", 422)
    outsider = await api.make_user(
        admin,
        "provider",
        provider_id=(
            await cast.dispatcher.post("/providers", {"name": "Outsider", "email": "o@x.example"}, expect=201)
        )["id"],
    )
    await refused(outsider, "PUT", f"/provider-invoices/{wo}", 404, VALID)
    await refused(outsider, "POST", f"/provider-invoices/{wo}/submit", 404)
    await refused(cast.customer, "PUT", f"/provider-invoices/{wo}", 403, VALID)


async def test_reassigned_work_order_takes_no_invoice(stack, api, cast):
    number = await new_request(cast)
    old = await assigned(cast, number)
    await cast.provider.post(f"/work-orders/{old}/accept")
    await cast.provider.put(f"/provider-invoices/{old}", VALID)
    new = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    assert new != old
    assert "voided" in await refused(cast.provider, "PUT", f"/provider-invoices/{old}", 409, VALID)
    assert "voided" in await refused(cast.provider, "POST", f"/provider-invoices/{old}/submit", 409)


async def test_concurrent_first_saves_keep_one_invoice(stack, api, quick_cast):
    cast = quick_cast
    number = await new_request(cast)
    wo = await started(cast, number)
    bodies = [{**VALID, "invoice_number": f"C{i}", "parts": f"{i}.00"} for i in range(1, 7)]
    answers = await asyncio.gather(
        *(api.http.put(f"/provider-invoices/{wo}", json=b, headers=cast.provider.headers) for b in bodies)
    )
    assert {r.status_code for r in answers} <= {200, 409}, [r.text for r in answers]
    saved = await cast.provider.get(f"/provider-invoices/{wo}")
    winners = [r.json() for r in answers if r.status_code == 200]
    assert winners and saved["id"] == winners[0]["id"]
    assert saved["invoice_number"] in {b["invoice_number"] for b in bodies}
