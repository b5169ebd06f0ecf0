"""A request's page, /requests/{number}: the customer's side (ribbon, timeline, notes, files, answers to
recommendations, cancelling, live changes), the operators' side (work order, SLA chips, actions with their
refusals in words, the Temporal UI link), the provider's, and nobody else's (404)."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import expect

from tests.support.api import PDF_BYTES, lifecycle, upload_invoice_copy, wait_for
from tests.web.conftest import DESKTOP, PHONE, Visitor
from tests.web.support import latest_mail_link

LIVE_WITHIN_MS = 3000  # issue 8: an open page changes by itself within 3 s of any change


async def new_request(cast, summary: str = "Chiller does not cool", kind: str = "service_call") -> str:
    created = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": kind,
            "priority": "high",
            "summary": summary,
            "detail": "Compressor trips after ten minutes",
        },
        expect=201,
    )
    return created["number"]


async def accepted(cast, number: str) -> str:
    """Published, offered to the cast's provider and accepted by it: the work order's number."""
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    offer = await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    await cast.provider.post(f"/work-orders/{offer['work_order_number']}/accept")
    return offer["work_order_number"]


async def test_customer_sees_the_ribbon_and_timeline_and_adds_a_note(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto(f"/requests/{number}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    await expect(page.get_by_role("heading", name="Status: Submitted")).to_be_visible()
    ribbon = page.get_by_role("list", name="Progress of the request")
    current = ribbon.locator('[aria-current="step"]')
    await expect(current).to_have_count(1)
    await expect(current).to_contain_text("Draft")
    await expect(current).to_contain_text("Now")  # the current step in words, not only colour
    await expect(ribbon).not_to_contain_text("Ready for Return")  # a service call is not returned
    timeline = page.get_by_role("region", name="Timeline")
    await expect(timeline).to_contain_text("Request submitted")
    await visitor.axe("request-page-customer")
    await visitor.no_horizontal_scroll()

    await page.get_by_label("Add a note").fill("The unit is in the basement, ask at reception.")
    await page.get_by_role("button", name="Add note").click()
    await expect(timeline.get_by_text("The unit is in the basement, ask at reception.")).to_be_visible()
    await expect(page.get_by_text("Your note is added.")).to_be_visible()
    await expect(page.get_by_label("Add a note")).to_have_value("")  # a fresh composer for the next note
    notes = [e for e in (await cast.customer.get(f"/requests/{number}/timeline"))["items"] if e["kind"] == "note"]
    assert [n["detail"]["body"] for n in notes] == ["The unit is in the basement, ask at reception."]

    phone = await visit(cast.customer, viewport=PHONE)
    await phone.goto(f"/requests/{number}")
    await expect(phone.page.get_by_role("region", name="Timeline")).to_contain_text("ask at reception")
    await phone.axe("request-page-customer-phone")
    await phone.no_horizontal_scroll()


async def test_a_status_change_arrives_live_without_a_reload(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto(f"/requests/{number}")
    await expect(page.get_by_role("heading", name="Status: Submitted")).to_be_visible()
    await page.wait_for_timeout(500)  # the live feed is connected
    await page.evaluate("window.stillTheSamePage = true")
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    await expect(page.get_by_role("heading", name="Status: Waiting for a technician")).to_be_visible(
        timeout=LIVE_WITHIN_MS
    )
    await expect(page.get_by_role("region", name="Timeline")).to_contain_text(
        "Offered to a technician", timeout=LIVE_WITHIN_MS
    )
    assert await page.evaluate("window.stillTheSamePage === true")  # changed in place, not reloaded


async def test_customer_answers_a_recommendation_from_its_emailed_link(visit, stack, cast):
    number = await new_request(cast)
    await accepted(cast, number)
    recommendation = await cast.provider.post(
        f"/requests/{number}/recommendations",
        {"summary": "Replace the condenser fan", "detail": "The bearings are worn.", "estimated_cost": "240.00"},
        expect=201,
    )
    link = await wait_for(lambda: latest_mail_link(stack, cast.customer, f"/recommendations/{recommendation['id']}"))
    assert link.endswith(f"/requests/{number}/recommendations/{recommendation['id']}")

    visitor = await visit(cast.customer)
    page = visitor.page
    await page.goto(link)
    article = page.get_by_role("article", name="Replace the condenser fan")
    await expect(article).to_be_focused()  # the emailed recommendation is where the page opens
    await expect(article).to_contain_text("240.00")
    # Accepted by a technician: the customer may no longer cancel.
    await expect(page.get_by_text("Cancel this request…")).to_have_count(0)
    await visitor.axe("request-page-recommendation")
    await article.get_by_label("Approve").check()
    await article.get_by_label("Comment").fill("Go ahead, before Friday please.")
    await article.get_by_role("button", name="Send answer").click()
    await expect(page.get_by_text("Your answer is sent: you approved.")).to_be_visible()
    await expect(article).to_contain_text("Approved")
    await expect(article.get_by_role("button", name="Send answer")).to_have_count(0)
    answered = (await cast.customer.get(f"/requests/{number}/recommendations"))["items"][0]
    assert (answered["decision"], answered["comment"]) == ("approve", "Go ahead, before Friday please.")
    await expect(page.get_by_role("region", name="Timeline")).to_contain_text(
        "Recommendation answered: Approved", timeout=LIVE_WITHIN_MS
    )


async def test_customer_cancels_with_a_reason(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto(f"/requests/{number}")
    await page.get_by_text("Cancel this request…").click()
    await page.get_by_label("Why cancel it?").fill("The chiller was replaced under warranty.")
    await page.get_by_role("button", name="Yes, cancel the request").click()
    await expect(page.get_by_role("heading", name="Status: Cancelled")).to_be_visible()
    await expect(page.get_by_text("The request is cancelled.")).to_be_visible()
    await expect(page.locator('[aria-current="step"]')).to_contain_text("Cancelled")
    await expect(page.get_by_text("Cancel this request…")).to_have_count(0)
    timeline = page.get_by_role("region", name="Timeline")
    await expect(timeline).to_contain_text("The chiller was replaced under warranty.", timeout=LIVE_WITHIN_MS)
    assert (await cast.customer.get(f"/requests/{number}"))["status"] == "cancelled"
    await visitor.axe("request-page-cancelled")


async def test_another_customer_and_an_unassigned_provider_get_the_404_page(visit, api, admin, cast):
    number = await new_request(cast)
    other_org = await admin.post("/customers", {"name": f"Other {uuid.uuid4().hex[:6]}"}, expect=201)
    stranger = await api.make_user(admin, "customer", customer_id=other_org["id"])
    visitor = await visit(stranger)
    answer = await visitor.goto(f"/requests/{number}")
    assert answer.status == 404
    await expect(visitor.page.get_by_text("There is no such page, or it is not yours to see.")).to_be_visible()
    await expect(visitor.page.get_by_text("Chiller does not cool")).to_have_count(0)
    assert (await visitor.goto(f"/requests/{number}/part/timeline")).status == 404
    await visitor.axe("request-page-404")

    other_company = await cast.dispatcher.post(
        "/providers", {"name": "Elsewhere Ltd", "email": "x@elsewhere.example"}, expect=201
    )
    outsider = await api.make_user(admin, "provider", provider_id=other_company["id"])
    provider_visit = await visit(outsider)
    assert (await provider_visit.goto(f"/requests/{number}")).status == 404


async def test_files_go_up_with_a_progress_bar_and_come_down_through_the_portal(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto(f"/requests/{number}?tab=files")
    await page.get_by_label("Choose photos and files").set_input_files(
        {"name": "wiring-diagram.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}
    )
    await expect(page.get_by_text("Uploaded", exact=True)).to_be_visible()
    await expect(page.get_by_role("progressbar", name=re.compile("wiring-diagram.pdf"))).to_have_attribute(
        "value", "100"
    )
    files = page.get_by_role("region", name="Files")
    link = files.get_by_role("link", name="wiring-diagram.pdf")
    await expect(link).to_be_visible(timeout=LIVE_WITHIN_MS)
    await visitor.axe("request-page-files")
    await visitor.no_horizontal_scroll()
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "wiring-diagram.pdf"
    assert (await download.path()).read_bytes() == PDF_BYTES


async def test_an_operator_sees_the_work_order_and_sla_and_acts_from_the_page(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.dispatcher)
    page = visitor.page
    await visitor.goto(f"/requests/{number}")
    temporal = page.get_by_role("link", name="Open in the Temporal UI")
    assert re.search(rf"/namespaces/default/workflows/service-request:{number}$", await temporal.get_attribute("href"))
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_role("heading", name="Status: Ready for routing")).to_be_visible()
    await expect(page.get_by_text("Published: the request is ready for routing.")).to_be_visible()

    await page.get_by_label("Provider", exact=True).select_option(str(cast.provider_id))
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(page.get_by_role("heading", name="Status: Waiting for a technician")).to_be_visible()
    work_order = (await cast.dispatcher.get(f"/requests/{number}"))["work_order_number"]
    facts = page.get_by_role("region", name="Work order")
    await expect(facts).to_contain_text(work_order)
    await expect(facts).to_contain_text("Offered to a provider, waiting for acceptance.")
    chips = page.get_by_role("list", name="Service level")
    await expect(chips).to_contain_text(re.compile(r"Acceptance due in \d+ hours?"))
    await expect(chips).to_contain_text(re.compile(r"Due in \d+ hours?"))
    await expect(chips).to_contain_text("Within SLA")
    await visitor.axe("request-page-dispatcher")
    phone = await visit(cast.dispatcher, viewport=PHONE)
    await phone.goto(f"/requests/{number}")
    await expect(phone.page.get_by_role("button", name="Send to the marketplace")).to_be_visible()
    await phone.axe("request-page-dispatcher-phone")
    await phone.no_horizontal_scroll()

    await cast.provider.post(f"/work-orders/{work_order}/accept")
    await expect(facts).to_contain_text("Accepted by FixIt Ltd.", timeout=LIVE_WITHIN_MS)


async def test_an_operator_is_told_in_words_why_an_action_was_refused(visit, cast):
    number = await new_request(cast)
    visitor = await visit(cast.dispatcher)
    page = visitor.page
    # This page hears of no change (as if another dispatcher acted a moment ago): its Publish is stale.
    await page.route("**/live", lambda route: route.fulfill(status=204))
    await visitor.goto(f"/requests/{number}")
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    await page.get_by_role("button", name="Publish").click()
    refusal = page.get_by_role("alert").filter(has_text="This cannot be done now")
    await expect(refusal).to_contain_text(f"{number} is “Ready for routing”")
    await expect(page.get_by_role("button", name="Publish")).to_have_attribute("aria-describedby", "publish-error")
    await visitor.axe("request-page-refusal")


async def test_the_customer_never_sees_the_provider_side_of_billing(visit, api, cast):
    final = await lifecycle(api, cast, invoice_number="PINV77")
    number, reference = final["number"], final["payment_reference"]
    assert reference

    customer = await visit(cast.customer)
    await customer.goto(f"/requests/{number}")
    await expect(customer.page.get_by_role("heading", name="Status: Completed")).to_be_visible()
    text = await customer.page.locator("main").inner_text()
    for secret in ("PINV77", reference, "Provider invoice", "Provider paid", "120.00", "220.55", "Payment reference"):
        assert secret not in text, secret
    await customer.goto(f"/requests/{number}?tab=files")
    assert "invoice.pdf" not in await customer.page.locator("main").inner_text()

    dispatcher = await visit(cast.dispatcher)
    await dispatcher.goto(f"/requests/{number}")
    work = dispatcher.page.get_by_role("region", name="Work order")
    await expect(work).to_contain_text("PINV77")
    await expect(work).to_contain_text(reference)
    await expect(work).to_contain_text("220.55")
    await expect(dispatcher.page.get_by_role("region", name="Timeline")).to_contain_text("Provider paid")


async def test_the_provider_sees_its_request_with_a_way_to_its_work_order(visit, cast):
    number = await new_request(cast)
    work_order = await accepted(cast, number)
    visitor = await visit(cast.provider)
    await visitor.goto(f"/requests/{number}")
    await expect(visitor.page.get_by_role("heading", name="Status: Accepted by a technician")).to_be_visible()
    link = visitor.page.get_by_role("link", name=f"Your actions on work order {work_order}")
    assert await link.get_attribute("href") == f"/work-orders/{work_order}"
    await expect(visitor.page.get_by_text("Cancel this request…")).to_have_count(0)
    await visitor.axe("request-page-provider")


async def test_accounts_receivable_flags_billing_and_a_dispatcher_is_not_offered_it(visit, api, cast):
    number = await new_request(cast)
    work_order = await accepted(cast, number)
    await cast.provider.post(f"/work-orders/{work_order}/start")
    copy = await upload_invoice_copy(api, cast.provider, number)
    await cast.provider.post(
        f"/work-orders/{work_order}/complete", {"notes": "Relay replaced", "invoice_attachment_id": copy}
    )
    dispatcher = await visit(cast.dispatcher)
    await dispatcher.goto(f"/requests/{number}")
    await expect(dispatcher.page.get_by_role("heading", name="Status: Completed")).to_be_visible()
    await expect(dispatcher.page.get_by_role("button", name="Mark invoiced")).to_have_count(0)
    await expect(dispatcher.page.get_by_role("button", name="Invoice not required")).to_have_count(0)

    receivable = await visit(cast.receivable)
    page = receivable.page
    await receivable.goto(f"/requests/{number}")
    # The customer's invoice is made from the provider's, which is not in yet: refused, and said why.
    await page.get_by_role("button", name="Mark invoiced").click()
    await expect(page.get_by_role("alert").filter(has_text="This cannot be done now")).to_contain_text(
        "the provider's invoice is not submitted yet"
    )
    await receivable.axe("request-page-receivable")
    await page.get_by_role("button", name="Invoice not required").click()
    await expect(page.get_by_text("Marked as needing no invoice.")).to_be_visible()
    await expect(page.get_by_role("region", name="About")).to_contain_text("No invoice needed")
    assert (await cast.receivable.get(f"/requests/{number}"))["billing_status"] == "not_required"


async def test_the_page_works_without_javascript(browser, stack, cast):
    number = await new_request(cast)
    context = await browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    try:
        visitor = Visitor(context, await context.new_page(), stack.settings.gateway_url)
        page = visitor.page
        await visitor.sign_in(cast.customer.email)
        await visitor.goto(f"/requests/{number}")
        await page.get_by_label("Add a note").fill("Written without JavaScript.")
        await page.get_by_role("button", name="Add note").click()
        await page.wait_for_url(re.compile(rf"/requests/{number}#timeline$"))
        await expect(page.get_by_text("Your note is added.")).to_be_visible()
        await expect(page.get_by_role("region", name="Timeline")).to_contain_text("Written without JavaScript.")
        await page.get_by_text("Cancel this request…").click()
        await page.get_by_label("Why cancel it?").fill("Fixed it ourselves.")
        await page.get_by_role("button", name="Yes, cancel the request").click()
        await expect(page.get_by_text("The request is cancelled.")).to_be_visible()
        await expect(page.get_by_role("heading", name="Status: Cancelled")).to_be_visible()
        await visitor.goto(f"/requests/{number}?tab=files")
        # Uploads go from the browser straight to storage: without a script the part stays hidden (a real
        # browser shows the <noscript> words instead; Playwright's switch leaves the parser's scripting on).
        await expect(page.get_by_role("heading", name="Add photos and files")).to_be_hidden()
        await expect(page.get_by_role("region", name="Files")).to_contain_text("No files yet.")
        visitor.assert_no_console_errors()
    finally:
        await context.close()
