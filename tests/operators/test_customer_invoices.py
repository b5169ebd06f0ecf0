"""Customer invoices: issued when accounts receivable marks a request invoiced, lines for parts, labour and tax
marked up from the provider's invoice, a real PDF, outstanding until the payment is recorded; or not required."""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal

from pypdf import PdfReader

from tests.operators.flow import INVOICE, completed, invoice_submitted, new_request, pdf_bytes, refused, status_of

MARKUP = Decimal("0.15")  # FIELDOPS_INVOICE_MARKUP's default, which the test stack keeps


def marked_up(amount: str) -> str:
    return str((Decimal(amount) * (1 + MARKUP)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def test_invoiced_outstanding_pdf_then_paid(stack, api, admin, cast):
    number = await new_request(cast)
    await invoice_submitted(api, cast, number)
    marked = await cast.receivable.post(f"/work-events/{number}/invoiced")
    assert marked["billing_status"] == "invoiced" and marked["status"] == "invoice_submitted"

    outstanding = (await cast.customer.get("/invoices", params={"status": "outstanding"}))["items"]
    assert [i["request_number"] for i in outstanding] == [number]
    invoice = await cast.customer.get(f"/invoices/{outstanding[0]['id']}")
    expected = [
        ("Parts", marked_up(INVOICE["parts"])),
        ("Labour", marked_up(INVOICE["labor"])),
        ("Tax", marked_up(INVOICE["tax"])),
    ]
    assert expected == [("Parts", "138.00"), ("Labour", "92.58"), ("Tax", "23.06")]
    assert [(line["description"], line["amount"]) for line in invoice["lines"]] == expected
    assert invoice["total"] == "253.64" and invoice["status"] == "outstanding"
    assert invoice["number"].startswith("INV-") and invoice["issued_at"]
    assert (await cast.customer.get("/invoices", params={"status": "paid"}))["items"] == []

    # A real PDF: opened with pypdf, its words and figures read back.
    document = PdfReader(io.BytesIO(await pdf_bytes(cast.customer, f"/invoices/{invoice['id']}/pdf")))
    text = "\n".join(page.extract_text() for page in document.pages)
    for words in (
        f"Invoice {invoice['number']}",
        f"Service request {number}",
        "Parts",
        "138.00",
        "Labour",
        "92.58",
        "Tax",
        "23.06",
        "Total",
        "253.64",
        "Status outstanding",
    ):
        assert words in text, (words, text)

    # Only accounts receivable records payments, for the exact total.
    await refused(
        cast.dispatcher,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        403,
        {"amount": "253.64", "paid_at": "2030-02-01T12:00:00Z"},
    )
    await refused(
        cast.customer,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        403,
        {"amount": "253.64", "paid_at": "2030-02-01T12:00:00Z"},
    )
    assert "253.64" in await refused(
        cast.receivable,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        422,
        {"amount": "250.00", "paid_at": "2030-02-01T12:00:00Z"},
    )
    paid = await cast.receivable.post(
        f"/invoices/{invoice['id']}/record-payment", {"amount": "253.64", "paid_at": "2030-02-01T12:00:00Z"}
    )
    assert paid["billing_status"] == "paid"
    assert paid["invoice"]["status"] == "paid" and paid["invoice"]["amount_paid"] == "253.64"
    assert [i["id"] for i in (await cast.customer.get("/invoices?status=paid"))["items"]] == [invoice["id"]]
    assert (await cast.customer.get("/invoices?status=outstanding"))["items"] == []
    again = await refused(
        cast.receivable,
        "POST",
        f"/invoices/{invoice['id']}/record-payment",
        409,
        {"amount": "253.64", "paid_at": "2030-02-01T12:00:00Z"},
    )
    assert "paid" in again
    document = PdfReader(io.BytesIO(await pdf_bytes(cast.receivable, f"/invoices/{invoice['id']}/pdf")))
    assert "Status paid" in document.pages[0].extract_text()

    # Another customer never sees it: 404.
    stranger_org = await admin.post("/customers", {"name": "Stranger Inc"}, expect=201)
    stranger = await api.make_user(admin, "customer", customer_id=stranger_org["id"])
    await refused(stranger, "GET", f"/invoices/{invoice['id']}", 404)
    await refused(stranger, "GET", f"/invoices/{invoice['id']}/pdf", 404)
    assert (await stranger.get("/invoices"))["items"] == []
    billing = [
        e
        for e in (await cast.customer.get(f"/requests/{number}/timeline"))["items"]
        if e["kind"] in ("invoice", "payment")
    ]
    assert [(e["kind"], e["detail"]["billing_status"]) for e in billing] == [
        ("invoice", "invoiced"),
        ("payment", "paid"),
    ]


async def test_invoice_not_required_and_billing_order(stack, api, cast):
    warranty = await new_request(cast, summary="Warranty repair")
    await completed(api, cast, warranty)
    # Invoicing the customer waits for the provider's invoice; billing waits for the work to be completed.
    assert "completed" in await refused(cast.receivable, "POST", f"/work-events/{warranty}/invoiced", 409)
    early = await new_request(cast)
    assert "draft" in await refused(cast.receivable, "POST", f"/work-events/{early}/invoice-not-required", 409)

    state = await cast.receivable.post(f"/work-events/{warranty}/invoice-not-required", {"notes": "under warranty"})
    assert state["billing_status"] == "not_required" and state["status"] == "completed"
    detail = await refused(cast.receivable, "POST", f"/work-events/{warranty}/invoiced", 409)
    assert "not_required" in detail
    assert (await cast.customer.get("/invoices"))["items"] == []
    assert (await status_of(cast.customer, warranty))["billing_status"] == "not_required"
