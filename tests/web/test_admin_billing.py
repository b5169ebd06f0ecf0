"""The admin screens (users, customers with sites, providers and teams, account requests) and the billing screens
(payment runs with their payments, customer invoices with "record payment"), in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.api import ApiError, upload_invoice_copy
from tests.web.conftest import DESKTOP, PHONE

NOT_YOURS = "There is no such page, or it is not yours to see."


def tag() -> str:
    return uuid.uuid4().hex[:6]


async def approved_for_payment(api, cast, invoice_number: str = "INV2002") -> tuple[str, str]:
    """A request driven through the API up to `payment_approved` (its provider invoice submitted and approved):
    the first part of tests.support.api.lifecycle, without the payment run and the customer billing."""
    created = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "service_call",
            "priority": "normal",
            "summary": "Compressor trips",
        },
        expect=201,
    )
    number = created["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await cast.provider.post(f"/work-orders/{wo}/start")
    attachment = await upload_invoice_copy(api, cast.provider, number)
    await cast.provider.post(
        f"/work-orders/{wo}/complete", {"notes": "Relay replaced", "invoice_attachment_id": attachment}
    )
    await cast.provider.put(
        f"/provider-invoices/{wo}",
        {"invoice_number": invoice_number, "parts": "100.00", "labor": "50.00", "tax": "15.00"},
    )
    await cast.provider.post(f"/provider-invoices/{wo}/submit")
    await cast.dispatcher.post(f"/work-events/{number}/approve-payment")
    return number, wo


async def outstanding_invoice(api, cast) -> dict:
    """A customer invoice awaiting payment: the request above, then marked invoiced by accounts receivable."""
    number, _wo = await approved_for_payment(api, cast)
    await cast.receivable.post(f"/work-events/{number}/invoiced")
    invoices = await cast.receivable.get("/invoices?status=outstanding&limit=200")
    return next(i for i in invoices["items"] if i["request_number"] == number)


async def test_an_admin_builds_an_organisation_and_its_people_through_the_pages(visit, api, admin):
    boss = await api.make_user(admin, "admin")
    visitor = await visit(boss)
    page = visitor.page
    t = tag()
    await page.get_by_role("link", name="Admin", exact=True).click()
    await page.wait_for_url(re.compile(r"/admin$"))
    await visitor.axe("admin-home")

    # A customer, then a site of it.
    customer_name = f"Harbour Foods {t}"
    await page.get_by_role("link", name="Customers and sites").first.click()
    await page.get_by_label("Customer name", exact=True).fill(customer_name)
    await page.get_by_label("Email (optional)").fill(f"office-{t}@harbour.example")
    await page.get_by_role("button", name="Add the customer").click()
    await page.wait_for_url(re.compile(r"/admin/customers/\d+"))
    await page.get_by_text("The customer is added").wait_for()
    assert await page.get_by_role("heading", name=customer_name, level=1).count() == 1
    await page.get_by_label("Site name").fill("North depot")
    await page.get_by_label("Address").fill("5 Quay Street, Portside")
    await page.get_by_role("button", name="Add the site").click()
    await page.get_by_text("The site is added.").wait_for()
    site_row = page.get_by_role("row").filter(has_text="North depot")
    assert await site_row.get_by_text("5 Quay Street, Portside").count() == 1
    await visitor.axe("admin-customer")
    await visitor.goto(f"/admin/customers?q=harbour+foods+{t}")
    card = page.get_by_role("article").filter(has_text=customer_name)
    assert await card.get_by_text("North depot").count() == 1
    await visitor.axe("admin-customers")

    # Two providers, then a team of both.
    providers = [f"Quayside Fix {t}", f"Harbour Cooling {t}"]
    await page.get_by_role("link", name="Providers and teams").click()
    for i, name in enumerate(providers):
        await page.get_by_label("Provider name").fill(name)
        await page.get_by_label("Provider email").fill(f"ops{i}-{t}@providers.example")
        await page.get_by_role("button", name="Add the provider").click()
        await page.get_by_text(f"The provider {name} is added.").wait_for()
    await page.get_by_label("Team name").fill(f"Port team {t}")
    await page.get_by_role("button", name="Make the team").click()
    members_error = page.locator("#members-error")  # no provider chosen: said beside the list, the name kept
    await members_error.wait_for()
    assert "at least one provider" in await members_error.inner_text()
    assert await page.get_by_label("Team name").input_value() == f"Port team {t}"
    for name in providers:
        await page.get_by_label(name).check()
    await page.get_by_role("button", name="Make the team").click()
    await page.get_by_text(f"The team Port team {t} is made.").wait_for()
    team_row = page.get_by_role("row").filter(has_text=f"Port team {t}")
    for name in providers:
        assert await team_row.get_by_text(name).count() == 1
    await visitor.axe("admin-providers")

    # A customer's contact: a bad email first, said beside the field with everything typed kept.
    await page.get_by_role("link", name="Users", exact=True).click()
    contact_email = f"nora-{t}@harbour.example"
    await page.get_by_label("Full name").fill("Nora Quay")
    await page.get_by_label("Email", exact=True).fill("nora-at-harbour")
    await page.get_by_label("Role", exact=True).select_option(label="Customer")
    await page.get_by_label("Customer (for a customer's contact)").select_option(label=customer_name)
    await page.get_by_label("First password").fill("correct-horse-battery")
    await page.get_by_role("button", name="Make the account").click()
    email_error = page.locator("#email-error")
    await email_error.wait_for()
    assert "@" in await email_error.inner_text()
    email = page.get_by_label("Email", exact=True)
    assert await email.get_attribute("aria-invalid") == "true"
    assert "email-error" in await email.get_attribute("aria-describedby")
    assert await email.input_value() == "nora-at-harbour"
    assert await page.get_by_label("Full name").input_value() == "Nora Quay"
    assert await page.get_by_label("Customer (for a customer's contact)").input_value() != ""
    await visitor.axe("admin-users-error")
    await email.fill(contact_email)
    await page.get_by_label("First password").fill("correct-horse-battery")
    await page.get_by_role("button", name="Make the account").click()
    await page.get_by_text("The account for Nora Quay is made").wait_for()
    row = page.get_by_role("row").filter(has_text=contact_email)
    assert await row.get_by_text(customer_name).count() == 1 and await row.get_by_text("Active").count() == 1

    # A provider's staff member.
    fixer_email = f"finn-{t}@quayside.example"
    await page.get_by_label("Full name").fill("Finn Fixer")
    await page.get_by_label("Email", exact=True).fill(fixer_email)
    await page.get_by_label("Role", exact=True).select_option(label="Service provider")
    assert not await page.get_by_label("Customer (for a customer's contact)").is_visible()  # only what the role needs
    await page.get_by_label("Provider (for a provider's staff)").select_option(label=providers[0])
    await page.get_by_label("First password").fill("correct-horse-battery")
    await page.get_by_role("button", name="Make the account").click()
    await page.get_by_text("The account for Finn Fixer is made").wait_for()
    assert await page.get_by_role("row").filter(has_text=fixer_email).get_by_text(providers[0]).count() == 1
    await visitor.axe("admin-users")

    # The new contact signs in and lands on its customer's overview.
    contact = await visit(None)
    await contact.sign_in(contact_email)
    assert contact.page.url.endswith("/overview")

    # Deactivate the provider's staff member, after a confirmation.
    await visitor.goto(f"/admin/users?q={fixer_email}")
    row = page.get_by_role("row").filter(has_text=fixer_email)
    await row.get_by_text("Deactivate Finn Fixer…", exact=True).click()
    await row.get_by_role("button", name="Yes, deactivate Finn Fixer").click()
    await page.get_by_text("Finn Fixer is deactivated").wait_for()
    assert await page.get_by_role("row").filter(has_text=fixer_email).get_by_text("Deactivated").count() == 1
    with pytest.raises(ApiError):
        await api.sign_in(fixer_email, "correct-horse-battery")


async def test_an_admin_approves_and_rejects_an_org_admins_requests(visit, api, admin, cast):
    t = tag()
    org_admin = await api.make_user(admin, "customer", customer_id=cast.customer_id, org_admin=True)
    new_email = f"nia-{t}@example.com"
    await org_admin.post(
        "/account-requests",
        {"action": "create", "email": new_email, "full_name": f"Nia {t}", "reason": "Joins the maintenance team"},
        expect=201,
    )
    await org_admin.post(
        "/account-requests",
        {"action": "deactivate", "user_id": cast.customer.id, "reason": "Left the company"},
        expect=201,
    )
    boss = await api.make_user(admin, "admin")
    visitor = await visit(boss)
    page = visitor.page
    await visitor.goto("/admin")
    await page.get_by_role("link", name="Account requests").first.click()
    create = page.get_by_role("article").filter(has_text=f"New account for Nia {t}")
    assert await create.get_by_text("Joins the maintenance team").count() == 1
    await visitor.axe("admin-account-requests")

    # Rejecting needs a comment: said beside the comment box.
    leave = page.get_by_role("article").filter(has_text="Left the company")
    await leave.get_by_role("button", name="Reject").click()
    comment = (
        page.get_by_role("article")
        .filter(has_text="Left the company")
        .get_by_label("Comment for the organisation admin")
    )
    assert await comment.get_attribute("aria-invalid") == "true"
    await page.get_by_text("Say why, so the organisation admin").wait_for()
    await comment.fill("They still have open requests; ask again next week.")
    await page.get_by_role("article").filter(has_text="Left the company").get_by_role("button", name="Reject").click()
    await page.get_by_text("Declined:").wait_for()

    await create.get_by_label("Comment for the organisation admin").fill("Welcome aboard")
    await create.get_by_role("button", name="Approve").click()
    await page.get_by_text(f"Approved: Nia {t}").wait_for()
    assert await page.get_by_role("article").filter(has_text=f"Nia {t}").count() == 0  # no longer waiting
    made = await admin.get("/users", params={"q": new_email})
    assert [u["email"] for u in made["items"]] == [new_email] and made["items"][0]["customer_id"] == cast.customer_id
    await page.get_by_role("link", name="Approved").click()
    done = page.get_by_role("article").filter(has_text=f"Nia {t}")
    assert await done.get_by_text("Welcome aboard").count() == 1
    await page.get_by_role("link", name="Declined").click()
    assert (
        await page.get_by_role("article")
        .filter(has_text="Left the company")
        .get_by_text("They still have open requests")
        .count()
        == 1
    )
    asked = await org_admin.get("/account-requests")
    assert sorted(r["status"] for r in asked["items"]) == ["done", "rejected"]


async def test_accounts_receivable_records_a_payment_and_the_invoice_is_paid(visit, api, cast):
    invoice = await outstanding_invoice(api, cast)
    visitor = await visit(cast.receivable)
    page = visitor.page
    await page.get_by_role("link", name="Billing").click()
    await page.get_by_role("link", name="Customer invoices").click()
    await page.wait_for_url(re.compile(r"/billing/invoices"))
    row = page.get_by_role("row").filter(has_text=invoice["number"])
    assert await row.get_by_text("Awaiting payment").count() == 1
    await visitor.axe("billing-invoices")

    amount = row.get_by_label("Amount received")
    assert await amount.input_value() == invoice["total"]  # offered the invoice's total
    await amount.fill("1.00")
    await row.get_by_role("button", name="Record payment").click()
    row = page.get_by_role("row").filter(has_text=invoice["number"])
    error = row.locator(f"#amount-{invoice['id']}-error")
    await error.wait_for()
    assert "does not match the invoice total" in await error.inner_text()
    assert await row.get_by_label("Amount received").input_value() == "1.00"
    assert await row.get_by_label("Amount received").get_attribute("aria-invalid") == "true"
    await visitor.axe("billing-invoices-error")

    await row.get_by_label("Amount received").fill(invoice["total"])
    await row.get_by_label("Paid on").fill("2030-01-01")  # in the future
    await row.get_by_role("button", name="Record payment").click()
    row = page.get_by_role("row").filter(has_text=invoice["number"])
    assert "future" in await row.locator(f"#paid-on-{invoice['id']}-error").inner_text()
    await row.get_by_label("Paid on").fill("2026-01-05")
    await row.get_by_role("button", name="Record payment").click()
    await page.get_by_text(f"Payment recorded: invoice {invoice['number']} is paid.").wait_for()
    assert await page.get_by_role("row").filter(has_text=invoice["number"]).count() == 0
    await page.get_by_role("link", name="Paid", exact=True).click()
    paid_row = page.get_by_role("row").filter(has_text=invoice["number"])
    assert await paid_row.get_by_text("Paid").count() >= 1 and await paid_row.get_by_text("5 Jan 2026").count() == 1
    assert (await cast.receivable.get(f"/invoices/{invoice['id']}"))["status"] == "paid"


async def test_a_dispatcher_starts_a_payment_run_and_sees_its_payments(visit, api, cast):
    number, wo = await approved_for_payment(api, cast, invoice_number="RUN3003")
    visitor = await visit(cast.dispatcher)
    page = visitor.page
    await page.get_by_role("link", name="Billing").click()
    await page.wait_for_url(re.compile(r"/billing$"))
    # What the API allows a dispatcher: runs and payments, not customer invoices nor recording their payments.
    assert await page.get_by_role("link", name="Customer invoices").count() == 0
    await visitor.axe("billing-runs")
    await page.get_by_role("button", name="Start a payment run now").click()
    await page.get_by_text("The payment run is done: it paid").wait_for()
    newest = page.get_by_role("article").first
    payment = newest.get_by_role("row").filter(has_text=number)
    assert await payment.get_by_text(f"RUN3003{wo}").count() == 1  # the payment reference
    assert await payment.get_by_text("165.00").count() == 1
    assert await newest.get_by_text("Started by hand").count() == 1
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "paid"
    response = await visitor.goto("/billing/invoices")
    assert response.status == 404 and await page.get_by_text(NOT_YOURS).count() == 1


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
async def test_every_admin_and_billing_screen_reads_well_on_a_desktop_and_a_phone(visit, api, admin, cast, viewport):
    await outstanding_invoice(api, cast)
    await cast.dispatcher.post("/payment-runs", expect=201)  # a run with a payment to show
    org_admin = await api.make_user(admin, "customer", customer_id=cast.customer_id, org_admin=True)
    await org_admin.post(
        "/account-requests",
        {"action": "create", "email": f"ask-{tag()}@example.com", "full_name": "Asked For", "reason": "New colleague"},
        expect=201,
    )
    # Names with no space in them (a pasted link, say) break inside their cells instead of widening the page.
    unbroken = "W" * 200
    await admin.post("/providers", {"name": unbroken, "email": f"long-{tag()}@example.com"}, expect=201)
    await api.make_user(admin, "customer", customer_id=cast.customer_id, full_name=unbroken)
    size = f"{viewport['width']}x{viewport['height']}"
    boss = await api.make_user(admin, "admin")
    screens = [
        (
            boss,
            [
                "/admin",
                "/admin/users",
                "/admin/users?role=customer&q=customer",
                "/admin/customers",
                f"/admin/customers/{cast.customer_id}",
                "/admin/providers",
                "/admin/account-requests",
                "/admin/account-requests?status=done",
                "/billing",
                "/billing/invoices?status=paid",
            ],
        ),
        (cast.receivable, ["/billing", "/billing/invoices"]),
        (cast.dispatcher, ["/billing"]),
    ]
    for user, paths in screens:
        visitor = await visit(user, viewport=viewport)
        for path in paths:
            response = await visitor.goto(path)
            assert response.status == 200, path
            name = re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()).strip("-")
            await visitor.axe(f"{name}-{user.email.split('-')[0]}-{size}")
            await visitor.no_horizontal_scroll()


async def test_people_without_the_role_get_the_404_page(visit, cast):
    for user, paths in (
        (cast.customer, ("/admin", "/admin/users", "/admin/providers", "/billing", "/billing/invoices")),
        (cast.provider, ("/admin", "/billing")),
        (cast.dispatcher, ("/admin", "/admin/account-requests", "/billing/invoices")),
    ):
        visitor = await visit(user)
        for path in paths:
            response = await visitor.goto(path)
            assert response.status == 404, (user.email, path)
            assert await visitor.page.get_by_text(NOT_YOURS).count() == 1
        if user is cast.customer:
            await visitor.axe("admin-404-customer")
        assert await visitor.page.get_by_role("link", name="Admin", exact=True).count() == 0
