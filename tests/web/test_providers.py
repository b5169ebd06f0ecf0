"""The providers' screens on a phone: an offer accepted with notes, scheduled, started, completed with a copy of the
provider's invoice, the invoice number checked as it is typed, the invoice submitted and, after a payment run, its
payment reference among the payments; two team members accepting at once; another provider's work order a 404."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

from tests.support.api import PDF_BYTES, wait_for
from tests.web.conftest import DESKTOP, PHONE, Visitor


async def offered_request(cast, summary: str, kind: str = "service_call", priority: str = "high") -> tuple[str, str]:
    """A new request, published and offered to the cast's provider: (request number, work order number)."""
    created = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": kind,
            "priority": priority,
            "summary": summary,
        },
    )
    number = created["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    assigned = await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    return number, assigned["work_order_number"]


async def scan(visitor, name: str) -> None:
    """axe finds nothing serious, and the page does not scroll sideways."""
    await visitor.axe(name)
    await visitor.no_horizontal_scroll()


async def view_numbers(page) -> list[str]:
    rows = page.locator("#listing tbody tr td:first-child a")
    return [n.strip() for n in await rows.all_inner_texts()]


async def test_a_provider_on_a_phone_takes_a_work_order_from_offer_to_payment(visit, cast, api):
    number, wo = await offered_request(cast, "Chiller does not cool")
    phone = await visit(cast.provider, viewport=PHONE)
    page = phone.page

    # The Waiting view lists the offer, with the count of each view.
    # Marketplace offers from other tests reach every provider: this one's offer is among what is waiting.
    await phone.goto("/work-orders")
    waiting_numbers = await view_numbers(page)
    assert wo in waiting_numbers
    waiting = page.get_by_role("link", name=re.compile("Waiting on Acceptance"))
    assert await waiting.get_attribute("aria-current") == "page"
    assert (await page.locator("#count-waiting").inner_text()).strip() == str(len(waiting_numbers))
    assert (await page.locator("#count-accepted").inner_text()).strip() == "0"
    await page.get_by_role("row").filter(has_text=wo).get_by_text("Chiller does not cool").wait_for()
    await scan(phone, "provider-waiting-phone")

    # The work order's detail, by its number: accepted with notes.
    await page.get_by_role("link", name=wo).click()
    await page.wait_for_url(re.compile(rf"/work-orders/{wo}$"))
    await page.get_by_text("Waiting for your answer").wait_for()
    assert await page.get_by_role("button", name="Start work").count() == 0  # only what the status allows
    await scan(phone, "provider-offer-phone")
    accept = page.get_by_role("form", name="Accept")
    await accept.get_by_label("Notes (optional)").fill("Can be there Monday morning")
    await accept.get_by_role("button", name="Accept").click()
    await page.get_by_text(f"You accepted work order {wo}.").wait_for()
    await page.locator("#notes").get_by_text("Can be there Monday morning").wait_for()
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "accepted"
    assert await page.get_by_role("button", name="Accept").count() == 0
    assert await page.get_by_role("button", name="Complete").count() == 0
    await scan(phone, "provider-accepted-phone")

    # It left Waiting and appears in Accepted.
    await page.get_by_role("link", name="Back to the work orders").click()
    await page.wait_for_url(re.compile(r"view=accepted"))
    assert await view_numbers(page) == [wo]
    assert (await page.locator("#count-waiting").inner_text()).strip() == str(len(waiting_numbers) - 1)
    assert (await page.locator("#count-accepted").inner_text()).strip() == "1"
    await scan(phone, "provider-accepted-list-phone")
    await page.get_by_role("link", name=re.compile("Waiting on Acceptance")).click()
    await page.wait_for_url(re.compile(r"/work-orders(\?view=waiting)?$"))
    assert wo not in await view_numbers(page)

    # Scheduled for a date and time (UTC), then started.
    await phone.goto(f"/work-orders/{wo}")
    await page.get_by_label("Date").fill("2030-01-15")
    await page.get_by_label("Time (UTC)").fill("09:30")
    await page.get_by_role("button", name="Schedule", exact=True).click()
    await page.get_by_text("The visit is scheduled.").wait_for()
    assert (await cast.dispatcher.get(f"/requests/{number}"))["scheduled_for"].startswith("2030-01-15T09:30:00")
    await page.get_by_text("15 Jan 2030, 09:30 UTC").first.wait_for()
    await page.get_by_role("button", name="Reschedule").wait_for()
    await page.get_by_role("form", name="Start work").get_by_role("button", name="Start work").click()
    await page.get_by_text("Work is under way.").wait_for()
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "in_progress"
    assert await page.get_by_role("button", name="Ready for return").count() == 0  # a service call: no return
    await page.get_by_role("button", name="Await parts").wait_for()

    # Complete: the button waits for both the invoice copy and the notes.
    complete = page.get_by_role("button", name="Complete", exact=True)
    assert await complete.is_disabled()
    await page.get_by_label("Copy of your invoice").set_input_files(
        [{"name": "fixit-invoice.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}]
    )
    await page.get_by_text("Your invoice copy fixit-invoice.pdf is attached.").wait_for()
    assert await complete.is_disabled()
    await page.get_by_label("Completion notes").fill("Replaced the start relay")
    assert await complete.is_enabled()
    await scan(phone, "provider-complete-phone")
    await complete.click()
    await page.get_by_text("The work is completed.").wait_for()
    done = await cast.dispatcher.get(f"/requests/{number}")
    assert done["status"] == "completed"
    copies = (await cast.dispatcher.get(f"/requests/{number}/attachments"))["items"]
    assert [(c["filename"], c["kind"]) for c in copies] == [("fixit-invoice.pdf", "provider_invoice")]

    # The invoice number is checked as it is typed, the broken rule named; the payment reference shown beside it.
    invoice_number = page.get_by_label("Invoice number")
    message = page.locator("#invoice_number-error")
    reference = page.locator("#payment-reference-value")
    await invoice_number.press_sequentially("inv1001")
    assert await message.inner_text() == "Letters must be capitals (A-Z)."
    assert await invoice_number.get_attribute("aria-invalid") == "true"
    assert await page.locator("li[data-rule=capitals]").get_attribute("class") == "bad"
    assert (await reference.inner_text()).strip() == "—"
    await invoice_number.fill("INV-1001")
    assert "no spaces, dashes or other special characters" in await message.inner_text()
    await invoice_number.fill(f"A{wo}")
    assert await message.inner_text() == f"It must not contain the work order number {wo}."
    await invoice_number.fill("INV10012345678")
    assert await message.inner_text() == "Too long: at most 13 characters (it has 14)."
    await scan(phone, "provider-invoice-rule-phone")

    # Saved anyway, the API refuses it too, and its words stand beside the field.
    await invoice_number.fill("inv1001")
    for label, amount in (("Parts", "120.00"), ("Labour", "80.50"), ("Tax", "0")):
        await page.get_by_label(label, exact=True).fill(amount)
    async with page.expect_response(lambda r: r.url.endswith(f"/work-orders/{wo}/invoice")) as answer:
        await page.get_by_role("button", name="Save invoice").click()
    assert (await answer.value).status == 422
    await page.locator("#invoice_number-error").get_by_text(re.compile("must be capitals", re.I)).wait_for()
    assert await page.get_by_label("Invoice number").get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Labour", exact=True).input_value() == "80.50"  # what was typed is kept

    await page.get_by_label("Invoice number").fill("INV1001")
    assert await message.inner_text() == ""
    assert (await reference.inner_text()).strip() == f"INV1001{wo}"
    await page.get_by_role("button", name="Submit invoice").click()
    await page.get_by_text("The invoice is submitted.").wait_for()
    assert await page.get_by_label("Invoice number").count() == 0  # read-only once submitted
    assert await page.get_by_role("button", name="Submit invoice").count() == 0
    await page.locator("#invoice-facts").get_by_text(f"INV1001{wo}").wait_for()
    await page.locator("#invoice-facts").get_by_text("200.50").wait_for()
    await scan(phone, "provider-submitted-phone")
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "invoice_submitted"

    # Completed view; then paid in a payment run, the payment's reference is among the payments.
    await phone.goto("/work-orders?view=completed")
    assert await view_numbers(page) == [wo]
    await page.get_by_role("row").filter(has_text=wo).get_by_text("Invoice submitted").wait_for()
    await scan(phone, "provider-completed-list-phone")
    await cast.dispatcher.post(f"/work-events/{number}/approve-payment")
    await cast.dispatcher.post("/payment-runs", expect=201)

    async def paid():
        return (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "paid"

    await wait_for(paid)
    await phone.goto("/payments")
    row = page.get_by_role("row").filter(has_text=f"INV1001{wo}")
    await row.get_by_text("200.50").wait_for()
    await row.get_by_role("link", name=wo).wait_for()
    await scan(phone, "provider-payments-phone")

    # The same screens on a desktop.
    desk = await visit(cast.provider, viewport=DESKTOP)
    for path, name in (
        (f"/work-orders/{wo}", "provider-paid-desktop"),
        ("/payments", "provider-payments-desktop"),
        ("/work-orders?view=completed", "provider-completed-list-desktop"),
        ("/work-orders?view=accepted", "provider-accepted-list-desktop"),
    ):
        await desk.goto(path)
        await scan(desk, name)
    await desk.goto(f"/work-orders/{wo}")
    await desk.page.locator("#invoice-facts").get_by_text("Paid").wait_for()


async def test_screens_of_each_status_pass_axe_on_a_desktop_and_a_walk_in_can_be_returned(visit, cast):
    number, wo = await offered_request(cast, "Drill chuck jams", kind="walk_in", priority="urgent")
    desk = await visit(cast.provider, viewport=DESKTOP)
    page = desk.page
    await desk.goto("/work-orders")
    await scan(desk, "provider-waiting-desktop")
    await desk.goto(f"/work-orders/{wo}")
    await scan(desk, "provider-offer-desktop")
    await page.get_by_role("form", name="Accept").get_by_role("button", name="Accept").click()
    await page.get_by_text(f"You accepted work order {wo}.").wait_for()
    await scan(desk, "provider-accepted-desktop")
    await page.get_by_role("form", name="Start work").get_by_role("button", name="Start work").click()
    await page.get_by_text("Work is under way.").wait_for()
    await scan(desk, "provider-in-progress-desktop")

    # Awaiting parts, then resumed, each with notes; then ready for return (a walk-in only).
    parts = page.get_by_role("form", name="Await parts")
    await parts.get_by_label("Notes (optional)").fill("Chuck key on order")
    await parts.get_by_role("button", name="Await parts").click()
    await page.get_by_text("Work is paused until the parts arrive.").wait_for()
    assert await page.get_by_role("button", name="Complete", exact=True).count() == 0
    await scan(desk, "provider-awaiting-parts-desktop")
    await page.get_by_role("button", name="Resume work").click()
    await page.get_by_text("Work is under way again.").wait_for()
    await page.get_by_role("button", name="Ready for return").click()
    await page.get_by_text("The item is ready for return.").wait_for()
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "ready_for_return"
    await page.locator("#notes").get_by_text("Chuck key on order").wait_for()

    # Without a copy of the invoice nor notes, the server refuses too, and says so beside each field.
    await page.evaluate("document.getElementById('complete-button').disabled = false")
    await page.get_by_role("button", name="Complete", exact=True).click()
    await page.get_by_text("Attach a copy of your invoice.", exact=True).wait_for()
    await page.get_by_text("Write what was done.", exact=True).wait_for()
    assert await page.get_by_label("Completion notes").get_attribute("aria-invalid") == "true"
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "ready_for_return"
    await scan(desk, "provider-complete-refused-desktop")

    # Submit waits for the completed work; the invoice can be saved before.
    assert await page.get_by_role("button", name="Submit invoice").is_disabled()
    await page.get_by_label("Invoice number").fill("WK77")
    await page.get_by_label("Parts", exact=True).fill("0")
    await page.get_by_label("Labour", exact=True).fill("45")
    await page.get_by_label("Tax", exact=True).fill("4.50")
    await page.get_by_role("button", name="Save invoice").click()
    await page.get_by_text("The invoice is saved.").wait_for()
    saved = await cast.provider.get(f"/provider-invoices/{wo}")
    assert (saved["invoice_number"], saved["labor"], saved["total"], saved["status"]) == (
        "WK77",
        "45.00",
        "49.50",
        "draft",
    )
    assert await page.get_by_label("Invoice number").input_value() == "WK77"
    assert (await page.locator("#payment-reference-value").inner_text()).strip() == f"WK77{wo}"


async def test_two_team_members_accept_at_once_and_exactly_one_wins(visit, cast, api, admin):
    members = []
    for name in ("North", "South", "East"):
        company = await cast.dispatcher.post(
            "/providers", {"name": f"{name} Repairs {uuid.uuid4().hex[:4]}", "email": f"{name.lower()}@repairs.example"}
        )
        members.append(await api.make_user(admin, "provider", provider_id=company["id"]))
    team = await cast.dispatcher.post(
        "/teams", {"name": f"Team {uuid.uuid4().hex[:6]}", "provider_ids": [m.provider_id for m in members]}
    )

    async def offer_to_team(summary: str) -> tuple[str, str]:
        created = await cast.customer.post(
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "service_call",
                "priority": "normal",
                "summary": summary,
            },
        )
        await cast.dispatcher.post(f"/work-events/{created['number']}/publish")
        offered = await cast.dispatcher.post(f"/work-events/{created['number']}/assign-team", {"team_id": team["id"]})
        return created["number"], offered["work_order_number"]

    number, wo = await offer_to_team("Boiler pressure drops")
    north, south = await visit(members[0], viewport=PHONE), await visit(members[1], viewport=PHONE)
    for member in (north, south):
        await member.goto(f"/work-orders/{wo}")
        await member.page.get_by_text("Offered to your team").wait_for()
    await asyncio.gather(
        *(
            m.page.get_by_role("form", name="Accept").get_by_role("button", name="Accept").click()
            for m in (north, south)
        )
    )

    async def outcome(member) -> str:
        won = member.page.get_by_text(f"You accepted work order {wo}.")
        lost = member.page.get_by_text("This offer was taken by another provider.")
        await won.or_(lost).wait_for()
        return "won" if await won.count() else "lost"

    results = await asyncio.gather(outcome(north), outcome(south))
    assert sorted(results) == ["lost", "won"]
    winner, loser = (north, south) if results[0] == "won" else (south, north)
    await loser.page.get_by_text("Another provider accepted this work order first").wait_for()
    await scan(loser, "provider-offer-taken-phone")
    holder = (await cast.dispatcher.get(f"/requests/{number}"))["provider_id"]
    assert holder == (members[0] if winner is north else members[1]).provider_id
    await loser.goto("/work-orders")
    assert wo not in await view_numbers(loser.page)
    await winner.goto("/work-orders?view=accepted")
    assert await view_numbers(winner.page) == [wo]

    # Live: a new offer to the team appears in an open Waiting view by itself; then a member accepts it elsewhere,
    # and the others' Waiting view drops it while an open detail page says it was taken.
    await north.goto("/work-orders")
    assert wo not in await view_numbers(north.page)
    waiting_before = (await north.page.locator("#count-waiting").inner_text()).strip()
    _, second = await offer_to_team("Boiler leaks at the valve")
    offered_at = time.monotonic()
    await north.page.get_by_role("link", name=second).wait_for(timeout=3000)
    assert time.monotonic() - offered_at <= 3
    await south.goto(f"/work-orders/{second}")
    await south.page.get_by_text("Waiting for your answer").wait_for()
    await asyncio.sleep(1)
    await members[2].post(f"/work-orders/{second}/accept", {"notes": "On my way"})
    accepted_at = time.monotonic()
    await north.page.get_by_role("link", name=second).wait_for(state="detached", timeout=3000)
    await south.page.get_by_text("This offer was taken by another provider.").wait_for(timeout=3000)
    assert time.monotonic() - accepted_at <= 3
    assert (await north.page.locator("#count-waiting").inner_text()).strip() == waiting_before


async def test_another_providers_work_order_is_a_404(visit, cast, api, admin):
    _, wo = await offered_request(cast, "Fan belt squeals")
    company = await cast.dispatcher.post("/providers", {"name": "Elsewhere Ltd", "email": "ops@elsewhere.example"})
    other = await api.make_user(admin, "provider", provider_id=company["id"])
    visitor = await visit(other, viewport=PHONE)
    for path in (f"/work-orders/{wo}", "/work-orders/12345"):
        response = await visitor.goto(path)
        assert response.status == 404
        await visitor.page.get_by_text("There is no such page, or it is not yours to see.").wait_for()
    await scan(visitor, "provider-404-phone")
    # Nor can it act on it: the action answers the same 404, and the offer stays open.
    headers = json.loads(await visitor.page.evaluate("document.body.getAttribute('hx-headers:inherited')"))
    refused = await visitor.page.request.post(
        visitor.url(f"/work-orders/{wo}/accept"), form={"notes": "mine now"}, headers=headers
    )
    assert refused.status == 404
    assert (await cast.provider.get(f"/work-orders/{wo}"))["status"] == "offered"
    await visitor.goto("/work-orders")
    assert wo not in await view_numbers(visitor.page)
    # Staff have no work-order screens of their own here.
    staff = await visit(cast.dispatcher)
    assert (await staff.goto("/work-orders")).status == 404


async def test_without_javascript_every_step_is_a_plain_form(browser, stack, cast):
    number, wo = await offered_request(cast, "Compressor hums", kind="walk_in")
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        visitor = Visitor(context, await context.new_page(), stack.settings.gateway_url)
        await visitor.sign_in(cast.provider.email)
        page = visitor.page
        await visitor.goto(f"/work-orders/{wo}")
        await page.get_by_role("form", name="Accept").get_by_role("button", name="Accept").click()
        await page.get_by_text(f"You accepted work order {wo}.").wait_for()
        await page.get_by_role("form", name="Start work").get_by_role("button", name="Start work").click()
        await page.get_by_text("Work is under way.").wait_for()

        # The invoice copy goes with the form; the portal sends it on to storage.
        await page.get_by_label("Copy of your invoice").set_input_files(
            [{"name": "paper-invoice.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}]
        )
        await page.get_by_role("button", name="Complete", exact=True).click()  # no notes yet: refused, copy kept
        await page.get_by_text("Write what was done.", exact=True).wait_for()
        await page.get_by_text("Your invoice copy is attached.").wait_for()
        await page.get_by_label("Completion notes").fill("Rewound the motor")
        await page.get_by_role("button", name="Complete", exact=True).click()
        await page.get_by_text("The work is completed.").wait_for()
        copies = (await cast.dispatcher.get(f"/requests/{number}/attachments"))["items"]
        assert [(c["filename"], c["kind"]) for c in copies] == [("paper-invoice.pdf", "provider_invoice")]

        # A lowercase invoice number: the API's rule beside the field, then fixed and submitted.
        await page.get_by_label("Invoice number").fill("nj5")
        for label in ("Parts", "Labour", "Tax"):
            await page.get_by_label(label, exact=True).fill("10")
        await page.get_by_role("button", name="Submit invoice").click()
        await page.locator("#invoice_number-error").get_by_text(re.compile("must be capitals", re.I)).wait_for()
        await page.get_by_label("Invoice number").fill("NJ5")
        await page.get_by_role("button", name="Submit invoice").click()
        await page.get_by_text("The invoice is submitted.").wait_for()
        await page.locator("#invoice-facts").get_by_text(f"NJ5{wo}").wait_for()
        assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "invoice_submitted"
    finally:
        await context.close()
