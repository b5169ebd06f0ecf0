"""The requests list: search, filters and sort kept in the address, paging, a live refresh, and a phone layout."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlparse

from tests.web.conftest import PHONE


async def new_request(cast, summary: str, priority: str = "normal", kind: str = "walk_in") -> str:
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
    return created["number"]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


async def row_numbers(page) -> list[str]:
    return [n.strip() for n in await page.locator("#results tbody tr td:first-child").all_inner_texts()]


async def test_find_a_request_by_search_filters_and_sort_kept_in_the_address(visit, cast):
    pump = await new_request(cast, "Pump rattles at night", priority="high")
    door = await new_request(cast, "Door seal worn", priority="low")
    valve = await new_request(cast, "Pump valve drips", priority="high")
    await cast.customer.post(f"/requests/{door}/cancel", {"reason": "fixed it ourselves"})
    asset = await cast.customer.get(f"/assets/{cast.asset_id}")

    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests")
    await visitor.axe("requests")
    assert await row_numbers(page) == [valve, door, pump]  # newest first
    row = page.get_by_role("row").filter(has_text=pump)
    for words in ("Pump rattles at night", "Chiller 3", asset["serial_number"], "Submitted", "High"):
        assert await row.get_by_text(words).count() >= 1, words
    assert await row.get_by_role("link", name=pump).get_attribute("href") == f"/requests/{pump}"
    # A customer is offered its own words, never the provider-billing steps.
    options = await page.get_by_label("Status").locator("option").all_inner_texts()
    assert "Completed" in options and "Cancelled" in options
    assert not {"Provider paid", "Provider invoice submitted", "Provider payment approved"} & set(options)

    # Search by number, then by words of the summary with a priority and the oldest first.
    await page.get_by_label("Search").fill(door)
    await page.get_by_role("button", name="Show requests").click()
    await page.wait_for_url(re.compile(r"q=SR-"))
    assert await row_numbers(page) == [door]
    await page.get_by_label("Search").fill("pump")
    await page.get_by_label("Priority").select_option(label="High")
    await page.get_by_label("Sort by").select_option(label="Oldest first")
    await page.get_by_role("button", name="Show requests").click()
    await page.wait_for_url(re.compile(r"q=pump"))
    assert await row_numbers(page) == [pump, valve]
    params = query(page.url)
    assert (params["q"], params["priority"], params["sort"]) == (["pump"], ["high"], ["created_at"])

    # The address is the view: opened again (a bookmark, a shared link), it shows the same, controls included.
    bookmark = page.url
    other = await visit(cast.customer)
    await other.page.goto(bookmark)
    assert await row_numbers(other.page) == [pump, valve]
    assert await other.page.get_by_label("Search").input_value() == "pump"
    assert await other.page.get_by_label("Priority").input_value() == "high"
    assert await other.page.get_by_label("Sort by").input_value() == "created_at"

    # Status in words, by the asset's serial number, and the most recently updated first.
    await other.goto(f"/requests?q={asset['serial_number']}&status=cancelled&sort=-updated_at")
    assert await row_numbers(other.page) == [door]
    assert await other.page.get_by_label("Status").input_value() == "cancelled"
    await other.page.get_by_role("row").filter(has_text=door).get_by_text("Cancelled").wait_for()
    await other.goto("/requests?q=nothing-like-this")
    await other.page.get_by_text("No requests match these filters.").wait_for()
    await other.page.get_by_role("link", name="Clear the filters").click()
    await other.page.wait_for_url(re.compile(r"/requests$"))
    assert len(await row_numbers(other.page)) == 3


async def test_paging_goes_on_with_the_cursor_and_back_to_the_first_page(visit, cast):
    numbers = [await new_request(cast, f"Routine check {i:02d}") for i in range(27)]
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests?sort=created_at&q=routine")
    first = await row_numbers(page)
    assert first == numbers[:25]
    await page.get_by_role("link", name="Next page").click()
    await page.wait_for_url(re.compile(r"cursor="))
    assert query(page.url)["q"] == ["routine"] and query(page.url)["sort"] == ["created_at"]
    assert await row_numbers(page) == numbers[25:]
    assert await page.get_by_role("link", name="Next page").count() == 0
    await page.get_by_role("link", name="Back to the first page").click()
    await page.wait_for_url(re.compile(r"^(?!.*cursor=).*q=routine"))
    assert await row_numbers(page) == numbers[:25]


async def test_the_list_changes_by_itself_when_a_dispatcher_moves_a_request(visit, cast):
    number = await new_request(cast, "Freezer too warm", priority="urgent")
    visitor = await visit(cast.customer)
    page = visitor.page
    await visitor.goto("/requests")
    row = page.get_by_role("row").filter(has_text=number)
    await row.get_by_text("Submitted").wait_for()
    await page.evaluate("window.notReloaded = true")
    await asyncio.sleep(1.5)  # the page's live connection is open

    # Published, a customer still reads "Submitted"; offered to a provider, "Waiting for a technician".
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
    changed_at = time.monotonic()
    await row.get_by_text("Waiting for a technician").wait_for(timeout=3000)
    assert time.monotonic() - changed_at <= 3
    assert await page.evaluate("window.notReloaded === true")
    await visitor.screenshot("requests-live")

    # A request made elsewhere appears too.
    another = await new_request(cast, "Second freezer too warm")
    await page.get_by_role("row").filter(has_text=another).wait_for(timeout=3000)
    assert await page.evaluate("window.notReloaded === true")


async def test_the_list_on_a_phone_and_its_empty_state(visit, cast):
    visitor = await visit(cast.customer, viewport=PHONE)
    page = visitor.page
    await visitor.goto("/requests")
    await page.get_by_text("There are no requests yet.").wait_for()
    await visitor.axe("requests-empty-phone")
    await page.get_by_role("link", name="Make a new request").click()
    await page.wait_for_url(re.compile(r"/requests/new$"))

    for i in range(3):
        await new_request(cast, f"Compressor {i} makes a grinding noise when it starts in the morning")
    await visitor.goto("/requests")
    await visitor.axe("requests-phone")
    await visitor.no_horizontal_scroll()
    desktop = await visit(cast.customer)
    await desktop.goto("/requests?status=draft&priority=normal&sort=-updated_at")
    await desktop.axe("requests-filtered")
    await desktop.no_horizontal_scroll()
