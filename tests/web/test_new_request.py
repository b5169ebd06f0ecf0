"""The New request form: a request with a photo uploaded from the browser straight to storage, one request for a
double submit, errors beside their fields, a missing asset added in place, and multipart uploads of big files."""

from __future__ import annotations

import re
import struct
import time
import uuid
import zlib

import httpx

from tests.web.conftest import PHONE

REQUEST_PAGE = re.compile(r"/requests/(SR-\d{6})$")


def png(width: int = 16, height: int = 12) -> bytes:
    """A small real PNG (red pixels), enough for the server's check of a file's first bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def requests_of(user) -> list[dict]:
    return (await user.get("/requests", params={"limit": 200}))["items"]


async def test_a_new_request_with_a_photo_lands_on_its_page_with_the_photo_stored(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests/new")
    await visitor.axe("new-request")
    await page.get_by_label("Service call").check()
    await page.get_by_label("Asset", exact=True).select_option(value=str(cast.asset_id))
    await page.get_by_label("Priority").select_option(label="High")
    await page.get_by_label("Problem summary").fill("Compressor trips after ten minutes")
    await page.get_by_label("Problem detail").fill("Since Monday; a reset helps for a while.")
    photo = png()
    await page.get_by_label("Choose photos and files").set_input_files(
        [{"name": "compressor.png", "mimeType": "image/png", "buffer": photo}]
    )
    progress = page.get_by_role("progressbar", name=re.compile("compressor.png"))
    assert await progress.get_attribute("value") == "0"
    await visitor.screenshot("new-request-filled")

    await page.get_by_role("button", name="Send request").click()
    # Each file's bar fills, says so in words, then the request's own page opens.
    await page.wait_for_function("document.getElementById('file-progress-0')?.value === 100")
    await page.get_by_text("Uploaded", exact=True).wait_for()
    await page.wait_for_url(REQUEST_PAGE)
    number = REQUEST_PAGE.search(page.url).group(1)

    created = await cast.customer.get(f"/requests/{number}")
    assert (created["summary"], created["kind"], created["priority"], created["asset_id"]) == (
        "Compressor trips after ten minutes",
        "service_call",
        "high",
        cast.asset_id,
    )
    assert created["detail"] == "Since Monday; a reset helps for a while."
    files = (await cast.customer.get(f"/requests/{number}/attachments"))["items"]
    assert [(f["filename"], f["kind"], f["status"], f["size_bytes"]) for f in files] == [
        ("compressor.png", "photo", "stored", len(photo))
    ]


async def test_a_double_submit_creates_one_request(visit, stack, cast):
    visitor = await visit(cast.customer)
    await visitor.goto("/requests/new")
    html = await visitor.page.content()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    cookies = {c["name"]: c["value"] for c in await visitor.context.cookies()}
    form = {
        "csrf_token": csrf,
        "idempotency_key": key,
        "customer_id": str(cast.customer_id),
        "kind": "walk_in",
        "asset_id": str(cast.asset_id),
        "priority": "normal",
        "summary": "Pressed twice",
        "detail": "",
    }
    # The form without JavaScript, sent twice as a double click sends it: the same key makes it one request.
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url, cookies=cookies) as browserless:
        first = await browserless.post("/requests/new", data=form)
        second = await browserless.post("/requests/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert REQUEST_PAGE.search(first.headers["location"])
    assert [r["summary"] for r in await requests_of(cast.customer)] == ["Pressed twice"]

    # In the browser, a quick double click on Send request also makes one.
    await visitor.goto("/requests/new")
    await visitor.page.get_by_label("Walk-in repair").check()
    await visitor.page.get_by_label("Asset", exact=True).select_option(value=str(cast.asset_id))
    await visitor.page.get_by_label("Problem summary").fill("Clicked twice")
    await visitor.page.get_by_role("button", name="Send request").dblclick()
    await visitor.page.wait_for_url(REQUEST_PAGE)
    summaries = [r["summary"] for r in await requests_of(cast.customer)]
    assert sorted(summaries) == ["Clicked twice", "Pressed twice"]


async def test_bad_input_is_shown_beside_its_field_and_what_was_typed_is_kept(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests/new")
    await page.get_by_label("Walk-in repair").check()
    await page.get_by_label("Priority").select_option(label="Urgent")
    await page.get_by_label("Problem detail").fill("Smoke from the back panel")
    await page.get_by_label("Choose photos and files").set_input_files(
        [{"name": "smoke.png", "mimeType": "image/png", "buffer": png()}]
    )
    await page.get_by_role("button", name="Send request").click()  # no summary, no asset

    summary = page.get_by_label("Problem summary")
    await page.get_by_text("This cannot be left empty.").wait_for()
    assert await summary.get_attribute("aria-invalid") == "true"
    assert "summary-error" in await summary.get_attribute("aria-describedby")
    assert await page.locator("#summary-error").inner_text() == "This cannot be left empty."
    asset = page.get_by_label("Asset", exact=True)
    assert await asset.get_attribute("aria-invalid") == "true"
    assert await page.locator("#asset_id-error").inner_text() == "Choose the asset, or add it below."
    # Everything typed or chosen is still there, the chosen photo too.
    assert await page.get_by_label("Walk-in repair").is_checked()
    assert await page.get_by_label("Priority").input_value() == "urgent"
    assert await page.get_by_label("Problem detail").input_value() == "Smoke from the back panel"
    assert await page.evaluate("document.getElementById('files').files.length") == 1
    assert await page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    await visitor.axe("new-request-errors")
    assert await requests_of(cast.customer) == []

    # Corrected, the same form goes through.
    await asset.select_option(value=str(cast.asset_id))
    await summary.fill("Smoke from the back panel")
    await page.get_by_role("button", name="Send request").click()
    await page.wait_for_url(REQUEST_PAGE)
    assert [r["priority"] for r in await requests_of(cast.customer)] == ["urgent"]


async def test_a_missing_asset_is_added_in_place_and_chosen(visit, cast):
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests/new")
    await page.get_by_label("Walk-in repair").check()
    await page.get_by_label("Problem summary").fill("New boiler leaks")
    await page.get_by_text("The asset is not in the list? Add it here").click()
    await page.get_by_label("Asset name").fill("Boiler 7")
    await page.get_by_role("button", name="Add this asset").click()
    await page.get_by_text("This cannot be left empty.").wait_for()  # the serial number is required
    assert await page.get_by_label("Serial number").get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Asset name").input_value() == "Boiler 7"

    serial = f"BX-{uuid.uuid4().hex[:6]}"
    await page.get_by_label("Serial number").fill(serial)
    await page.get_by_label("Site of the asset").select_option(label="A new site (name it below)")
    await page.get_by_label("New site's name").fill("North depot")
    await page.get_by_label("New site's address").fill("9 North Road")
    await page.get_by_role("button", name="Add this asset").click()
    await page.get_by_text(f"Boiler 7 ({serial}) is added and chosen as the asset.").wait_for()
    assets = (await cast.customer.get("/assets", params={"customer_id": cast.customer_id}))["items"]
    boiler = next(a for a in assets if a["serial_number"] == serial)
    assert await page.get_by_label("Asset", exact=True).input_value() == str(boiler["id"])
    assert await page.get_by_label("Problem summary").input_value() == "New boiler leaks"
    assert await page.get_by_label("Walk-in repair").is_checked()
    await visitor.axe("new-request-asset-added")

    await page.get_by_role("button", name="Send request").click()
    await page.wait_for_url(REQUEST_PAGE)
    created = await cast.customer.get(f"/requests/{REQUEST_PAGE.search(page.url).group(1)}")
    sites = (await cast.customer.get(f"/customers/{cast.customer_id}/sites"))["items"]
    assert created["asset_id"] == boiler["id"]
    assert created["site_id"] == next(s["id"] for s in sites if s["name"] == "North depot")


async def test_staff_choose_the_customer_first(visit, cast):
    visitor = await visit(cast.dispatcher)
    page = visitor.page
    await visitor.goto("/requests/new")
    await page.get_by_label("Customer").select_option(value=str(cast.customer_id))
    await page.get_by_role("button", name="Choose this customer").click()
    await page.get_by_label("Walk-in repair").check()
    await page.get_by_label("Asset", exact=True).select_option(value=str(cast.asset_id))
    await page.get_by_label("Problem summary").fill("Reported by phone")
    await page.get_by_label("Problem summary").press("Enter")  # Enter sends the request
    await page.wait_for_url(REQUEST_PAGE)
    assert [r["summary"] for r in await requests_of(cast.customer)] == ["Reported by phone"]
    provider = await visit(cast.provider)
    response = await provider.goto("/requests/new")
    assert response.status == 404


async def test_the_new_request_page_on_a_phone(visit, cast):
    visitor = await visit(cast.customer, viewport=PHONE)
    await visitor.goto("/requests/new")
    await visitor.page.get_by_text("The asset is not in the list? Add it here").click()
    await visitor.page.get_by_label("Choose photos and files").set_input_files(
        [{"name": "a-photo-with-a-rather-long-name-taken-on-site.png", "mimeType": "image/png", "buffer": png()}]
    )
    await visitor.axe("new-request-phone")
    await visitor.no_horizontal_scroll()


async def test_a_big_file_goes_in_parts_and_a_failed_part_is_retried(visit, cast):
    """fieldopsUpload on 101 MB made in the page: the API answers with parts; the first try of part 2 fails."""
    number = (
        await cast.customer.post(
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "walk_in",
                "priority": "low",
                "summary": "Manual attached",
            },
        )
    )["number"]
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests/new")  # a page that loads upload.js
    # The first try of part 2 fails as a dropped connection would (onerror, nothing sent); the page's later
    # tries go through. (Routing the PUT through Playwright instead would copy 37 MB through its protocol.)
    await page.evaluate("""() => {
        window.partTwoTries = 0;
        const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.open = function (method, url) {
            this.sentTo = url;
            return open.apply(this, arguments);
        };
        XMLHttpRequest.prototype.send = function (body) {
            if (String(this.sentTo).includes("partNumber=2") && ++window.partTwoTries === 1) {
                setTimeout(() => this.onerror(new ProgressEvent("error")), 10);
                return;
            }
            return send.apply(this, arguments);
        };
    }""")
    started = time.monotonic()
    result = await page.evaluate(
        """async (number) => {
        const size = 101 * 1024 * 1024;
        const head = new TextEncoder().encode("%PDF-1.4\\n");
        const file = new File([head, new Uint8Array(size - head.length)], "manual.pdf", {type: "application/pdf"});
        const seen = [];
        const id = await window.fieldopsUpload(number, file, {onProgress: (sent, total) => seen.push([sent, total])});
        return {id, last: seen[seen.length - 1], calls: seen.length};
    }""",
        number,
    )
    assert time.monotonic() - started < 30
    assert await page.evaluate("window.partTwoTries") == 2
    assert result["last"] == [101 * 1024 * 1024, 101 * 1024 * 1024]
    files = (await cast.customer.get(f"/requests/{number}/attachments"))["items"]
    assert [(f["id"], f["status"], f["size_bytes"], f["kind"]) for f in files] == [
        (result["id"], "stored", 101 * 1024 * 1024, "document")
    ]
