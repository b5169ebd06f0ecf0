"""`GET /me/overview`: the customer's recent requests and counts (intake), outstanding invoices (invoicing)
and latest notifications (notifications), gathered in one call."""

from __future__ import annotations

from tests.portal.support import new_request
from tests.support.api import upload_invoice_copy, wait_for


async def test_overview_gathers_requests_invoices_and_notifications(api, cast):
    c, p, d = cast.customer, cast.provider, cast.dispatcher
    empty = await c.get("/me/overview")
    assert empty["recent_requests"] == [] and empty["outstanding_invoices"]["items"] == []
    assert empty["outstanding_invoices"]["total_outstanding"] == "0.00" and empty["unavailable"] == []

    number = (await new_request(cast, "Invoice me"))["number"]
    await d.post(f"/work-events/{number}/publish")
    wo = (await d.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))["work_order_number"]
    await p.post(f"/work-orders/{wo}/accept")
    await p.post(f"/work-orders/{wo}/start")
    await p.post(
        f"/work-orders/{wo}/complete",
        {"notes": "done", "invoice_attachment_id": await upload_invoice_copy(api, p, number)},
    )
    await p.put(
        f"/provider-invoices/{wo}", {"invoice_number": "OV1", "parts": "10.00", "labor": "20.00", "tax": "0.00"}
    )
    await p.post(f"/provider-invoices/{wo}/submit")
    await cast.receivable.post(f"/work-events/{number}/invoiced")
    draft = (await new_request(cast, "Still a draft"))["number"]

    # The overview's feed is the customer's own newest entries (they follow the actions by a moment).
    async def notified():
        view = await c.get("/me/overview")
        own = (await c.get("/notifications?limit=10"))["items"]
        shown = [n["id"] for n in view["notifications"]["items"]]
        return view if len(shown) >= 5 and shown == [n["id"] for n in own][: len(shown)] else None

    overview = await wait_for(notified)
    assert overview["customer_id"] == cast.customer_id and overview["unavailable"] == []
    assert [r["number"] for r in overview["recent_requests"]] == [draft, number]  # most recently changed first
    assert overview["counts"] == {"draft": 1, "published": 0, "assigned": 0, "in_progress": 0, "completed": 1}
    invoices = overview["outstanding_invoices"]
    assert [i["request_number"] for i in invoices["items"]] == [number]
    assert invoices["total_outstanding"] == invoices["items"][0]["total"] != "0.00"
    feed = overview["notifications"]
    assert feed["unread_count"] >= len(feed["items"]) >= 5
    assert all(n["request_number"] in (number, draft) for n in feed["items"])

    for user in (p, d, cast.receivable, cast.admin):
        response = await api.http.get("/me/overview", headers=user.headers)
        assert response.status_code == 403
