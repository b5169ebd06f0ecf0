"""The customer's other screens: overview, invoices (with the PDF), assets, account, notifications, and an
organisation admin's contacts. Each test makes its own customer (`cast`)."""

from __future__ import annotations

import re
import uuid

from tests.support.api import lifecycle, make_cast, wait_for
from tests.web.conftest import DESKTOP, PHONE

NOT_YOURS = "There is no such page, or it is not yours to see."


async def billed_request(api, cast) -> tuple[dict, dict]:
    """A request taken through its whole lifecycle and billed to the customer: (request, the customer's invoice)."""
    done = await lifecycle(api, cast, pay=False)
    invoices = (await cast.customer.get("/invoices"))["items"]
    return done, next(i for i in invoices if i["request_number"] == done["number"])


async def request_with_news(cast) -> str:
    """A request that a dispatcher has moved on, so its customer has unread notifications about it."""
    made = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "walk_in",
            "priority": "normal",
            "summary": "Door seal leaks",
        },
        expect=201,
    )
    await cast.dispatcher.post(f"/work-events/{made['number']}/publish")
    await cast.dispatcher.post(f"/work-events/{made['number']}/assign", {"provider_id": cast.provider_id})

    async def unread():
        feed = await cast.customer.get("/notifications", params={"unread": "true"})
        return len(feed["items"]) >= 3  # received, submitted, waiting for a technician

    await wait_for(unread)
    return made["number"]


async def test_every_customer_screen_on_a_desktop_and_a_phone(visit, api, cast):
    done, invoice = await billed_request(api, cast)
    screens = {
        "overview": "/overview",
        "invoices": "/invoices",
        "invoices-paid": "/invoices?status=paid",
        "invoice": f"/invoices/{invoice['id']}",
        "assets": "/assets",
        "asset": f"/assets/{cast.asset_id}",
        "account": "/account",
        "notifications": "/notifications",
    }
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        visitor = await visit(cast.customer, viewport)
        for name, path in screens.items():
            response = await visitor.goto(path)
            assert response.status == 200, f"{path}: {response.status}"
            await visitor.page.get_by_role("heading", level=1).wait_for()
            await visitor.axe(f"customer-{name}-{size}")
            await visitor.no_horizontal_scroll()

    # What the screens say, as a person reads them (the phone visitor is still on the last screen).
    page = visitor.page
    await visitor.goto("/overview")
    main = page.get_by_role("main")
    await main.get_by_role("link", name=done["number"]).first.wait_for()
    quick = page.get_by_role("navigation", name="Quick links")
    assert await quick.get_by_role("button", name="New request").get_attribute("href") == "/requests/new"
    assert await quick.get_by_role("button", name="Requests", exact=True).get_attribute("href") == "/requests"
    assert await main.get_by_text("Completed", exact=True).count() >= 1  # the customer's words, not "paid"
    await visitor.goto("/invoices?status=paid")
    await page.get_by_role("link", name=invoice["number"]).click()
    await page.wait_for_url(re.compile(rf"/invoices/{invoice['id']}$"))
    for line in ("Parts", "Labour", "Tax"):
        await page.get_by_role("cell", name=line, exact=True).wait_for()
    await page.get_by_role("cell", name=invoice["total"]).wait_for()


async def test_an_invoice_pdf_downloads(visit, api, cast):
    _done, invoice = await billed_request(api, cast)
    visitor = await visit(cast.customer)
    await visitor.goto(f"/invoices/{invoice['id']}")
    async with visitor.page.expect_download() as started:
        await visitor.page.get_by_role("button", name="Download PDF").click()
    download = await started.value
    assert download.suggested_filename == f"{invoice['number']}.pdf"
    with open(await download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


async def test_another_customers_invoice_and_asset_are_not_found(visit, api, admin, cast):
    _done, invoice = await billed_request(api, cast)
    stranger = await make_cast(api, admin)
    visitor = await visit(stranger.customer)
    for path in (
        f"/invoices/{invoice['id']}",
        f"/invoices/{invoice['id']}/pdf",
        f"/assets/{cast.asset_id}",
        "/account/contacts",
    ):  # the last: a customer who is no organisation admin
        response = await visitor.goto(path)
        assert response.status == 404, path
        await visitor.page.get_by_text(NOT_YOURS).wait_for()
        assert "Traceback" not in await visitor.page.content()


async def test_profile_errors_show_beside_the_field_and_keep_what_was_typed(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/account")
    await page.get_by_label("Full name").fill("Dana Field")
    await page.get_by_label("Phone (optional)").fill("+44 20 7946 0000")
    email = page.get_by_label("Notification email (optional)")
    await email.fill("dana.example.com")
    await page.get_by_role("button", name="Save details").click()
    await page.locator("#notification_email-error").wait_for()
    assert "@" in await page.locator("#notification_email-error").inner_text()
    assert await email.get_attribute("aria-invalid") == "true"
    assert "notification_email-error" in await email.get_attribute("aria-describedby")
    assert await email.input_value() == "dana.example.com"
    assert await page.get_by_label("Full name").input_value() == "Dana Field"
    assert await page.get_by_label("Phone (optional)").input_value() == "+44 20 7946 0000"
    await visitor.axe("customer-account-error")

    await email.fill("dana@example.com")
    await page.get_by_role("button", name="Save details").click()
    await page.get_by_text("Your details are saved.").wait_for()
    me = await cast.customer.get("/me")
    assert (me["full_name"], me["phone"], me["notification_email"]) == (
        "Dana Field",
        "+44 20 7946 0000",
        "dana@example.com",
    )
    assert await page.get_by_label("Notification email (optional)").input_value() == "dana@example.com"


async def test_change_password_then_sign_in_with_the_new_one(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/account")
    await page.get_by_label("Current password").fill("not-my-password")
    await page.get_by_label("New password", exact=True).fill("a-new-secret-1")
    await page.get_by_label("New password again").fill("a-new-secret-1")
    await page.get_by_role("button", name="Change password").click()
    await page.locator("#current_password-error").get_by_text("not your current password").wait_for()
    assert await page.get_by_label("Current password").get_attribute("aria-invalid") == "true"

    await page.get_by_label("Current password").fill("correct-horse-battery")
    await page.get_by_label("New password", exact=True).fill("a-new-secret-1")
    await page.get_by_label("New password again").fill("a-new-secret-2")
    await page.get_by_role("button", name="Change password").click()
    await page.locator("#confirm_password-error").get_by_text("differ").wait_for()

    await page.get_by_label("Current password").fill("correct-horse-battery")
    await page.get_by_label("New password", exact=True).fill("a-new-secret-1")
    await page.get_by_label("New password again").fill("a-new-secret-1")
    await page.get_by_role("button", name="Change password").click()
    await page.get_by_text("Your password is changed.").wait_for()
    # This browser carries on signed in; the API tokens issued before the change stop working.
    await visitor.goto("/overview")
    assert page.url.endswith("/overview")
    await cast.customer.get("/me", expect=401)

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(re.compile(r"/sign-in"))
    await visitor.sign_in(cast.customer.email, "a-new-secret-1")
    await page.wait_for_url(re.compile(r"/overview$"))


async def test_marking_a_notification_read_updates_the_count(visit, cast):
    number = await request_with_news(cast)
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/notifications")
    badge = page.locator("#unread .badge")
    await badge.wait_for()
    before = int(await badge.inner_text())
    assert before == (await cast.customer.get("/notifications/unread-count"))["unread"]
    first = page.locator("ol.feed > li.unread").first
    await first.get_by_role("link", name=re.compile(number)).wait_for()  # each notification links to its request
    await first.get_by_role("button", name=re.compile("^Mark as read")).click()
    await wait_for(lambda: _text_is(badge, str(before - 1)), timeout=10)
    assert await page.locator("ol.feed > li.unread").count() == before - 1
    assert (await cast.customer.get("/notifications/unread-count"))["unread"] == before - 1
    await visitor.axe("customer-notifications-marked")
    # The marked one stays read after a reload, and the Unread view leaves it out.
    await visitor.goto("/notifications?show=unread")
    assert await page.locator("ol.feed > li").count() == before - 1


async def _text_is(locator, text: str) -> bool:
    return await locator.count() == 1 and (await locator.inner_text()).strip() == text


async def test_an_organisation_admin_asks_for_an_account_and_a_deactivation(visit, api, admin, cast):
    org_admin = await api.make_user(admin, "customer", customer_id=cast.customer_id, org_admin=True)
    visitor = await visit(org_admin)
    page = visitor.page
    await visitor.goto("/account")
    await page.get_by_role("link", name="Your organisation's contacts").click()
    await page.wait_for_url(re.compile(r"/account/contacts$"))
    await page.get_by_role("cell", name=cast.customer.email).wait_for()
    await visitor.axe("customer-contacts-desktop")

    newcomer = f"new-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_label("Full name").fill("Robin Newcomer")
    await page.get_by_label("Email", exact=True).fill("robin-at-example")
    await page.get_by_role("button", name="Ask for the account").click()
    await page.locator("#email-error").wait_for()
    assert await page.get_by_label("Full name").input_value() == "Robin Newcomer"  # what was typed is kept
    await page.get_by_label("Email", exact=True).fill(newcomer)
    await page.get_by_role("button", name="Ask for the account").click()
    await page.get_by_text("Your request for a new account is sent").wait_for()
    row = page.get_by_role("row").filter(has_text="New account for Robin Newcomer")
    await row.get_by_text("Waiting for an administrator").wait_for()

    await page.get_by_role("button", name=re.compile("^Ask to deactivate")).first.click()
    await page.get_by_text("Your request to deactivate the account is sent").wait_for()
    await page.get_by_text("Deactivation asked").wait_for()
    asked = (await org_admin.get("/account-requests"))["items"]
    assert sorted((r["action"], r["status"]) for r in asked) == [("create", "pending"), ("deactivate", "pending")]
    assert next(r for r in asked if r["action"] == "create")["email"] == newcomer

    phone = await visit(org_admin, PHONE)
    await phone.goto("/account/contacts")
    await phone.axe("customer-contacts-phone")
    await phone.no_horizontal_scroll()


async def test_add_an_asset_find_it_and_start_a_request_for_it(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/assets")
    serial = f"IM-{uuid.uuid4().hex[:6].upper()}"
    await page.get_by_label("Serial number", exact=True).fill(serial)
    await page.get_by_role("button", name="Add the asset").click()
    await page.locator("#name-error").wait_for()  # the name is missing: said beside it, the rest kept
    assert await page.get_by_label("Name", exact=True).get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Serial number", exact=True).input_value() == serial
    await page.get_by_label("Name", exact=True).fill("Ice machine")
    assert await page.get_by_label("Site", exact=True).input_value() != ""  # the customer's site is chosen
    await page.get_by_role("button", name="Add the asset").click()
    await page.wait_for_url(re.compile(r"/assets/\d+\?added=1$"))
    await page.get_by_role("heading", name="Ice machine", level=1).wait_for()
    await page.get_by_text("Main plant").wait_for()
    asset_id = int(re.search(r"/assets/(\d+)", page.url).group(1))
    new_request = page.get_by_role("button", name="New request for this asset")
    assert await new_request.get_attribute("href") == f"/requests/new?asset_id={asset_id}"

    await visitor.goto("/assets")
    await page.get_by_label("Search by name or serial number").fill(serial)
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url(re.compile(r"/assets\?q="))
    await page.get_by_role("link", name="Ice machine").wait_for()
    assert await page.get_by_role("link", name="Chiller 3").count() == 0
