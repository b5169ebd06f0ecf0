"""The timeline (every kind of event, oldest first, with who and when), search, filters, sorts and cursors."""

from __future__ import annotations

from itertools import pairwise
from urllib.parse import quote

from tests.portal.support import PNG_BYTES, accepted_request, new_request, unique, upload
from tests.support.api import PAID_PATH, upload_invoice_copy, wait_for


async def test_timeline_holds_every_event_oldest_first_with_who_and_when(api, cast):
    c, p, d, ar = cast.customer, cast.provider, cast.dispatcher, cast.receivable
    number, wo = await accepted_request(cast, "Pump cavitates")
    note = await c.post(f"/requests/{number}/notes", {"body": "Access via the back gate"}, expect=201)
    assert note["kind"] == "note" and note["actor_user_id"] == c.id
    rec = await p.post(
        f"/requests/{number}/recommendations", {"summary": "Replace impeller", "estimated_cost": "340.00"}, expect=201
    )
    answered = await c.post(
        f"/requests/{number}/recommendations/{rec['id']}/respond", {"decision": "approve", "comment": "Go ahead"}
    )
    assert answered["decision"] == "approve"
    await p.post(f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-03-01T08:00:00Z"})
    await p.post(f"/work-orders/{wo}/start")
    photo = await upload(c, number, PNG_BYTES)
    await c.post(f"/requests/{number}/attachments/{photo['id']}/complete", {})
    invoice_copy = await upload_invoice_copy(api, p, number)
    await p.post(f"/work-orders/{wo}/complete", {"notes": "Impeller replaced", "invoice_attachment_id": invoice_copy})
    await p.put(
        f"/provider-invoices/{wo}", {"invoice_number": "TL900", "parts": "200.00", "labor": "100.00", "tax": "30.00"}
    )
    await p.post(f"/provider-invoices/{wo}/submit")
    await d.post(f"/work-events/{number}/approve-payment")
    await d.post("/payment-runs", expect=201)

    async def paid():
        return (await d.get(f"/requests/{number}"))["status"] == "paid"

    await wait_for(paid, timeout=60)
    await ar.post(f"/work-events/{number}/invoiced")
    invoice = next(i for i in (await c.get("/invoices?status=outstanding"))["items"] if i["request_number"] == number)
    await ar.post(
        f"/invoices/{invoice['id']}/record-payment", {"amount": invoice["total"], "paid_at": "2030-03-10T12:00:00Z"}
    )

    timeline = (await d.get(f"/requests/{number}/timeline"))["items"]
    kinds = [e["kind"] for e in timeline]
    assert {"status_change", "note", "attachment", "recommendation", "response", "invoice", "payment"} <= set(kinds)
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)  # oldest first
    assert all(e["at"] and e["actor_name"] for e in timeline)
    # The events appear in the order they happened.
    order = [k for k in kinds if k != "status_change"]
    assert order == ["note", "recommendation", "response", "attachment", "attachment", "invoice", "payment"]
    statuses = [e["status"] for e in timeline if e["kind"] == "status_change"]
    assert statuses == PAID_PATH
    changes = [e for e in timeline if e["kind"] == "status_change"]
    assert all(b["previous_status"] == a["status"] for a, b in pairwise(changes))
    by_kind = {e["kind"]: e for e in timeline}
    who = {
        k: (by_kind[k]["actor_user_id"], by_kind[k]["actor_role"])
        for k in ("note", "recommendation", "response", "invoice", "payment")
    }
    assert who == {
        "note": (c.id, "customer"),
        "recommendation": (p.id, "provider"),
        "response": (c.id, "customer"),
        "invoice": (ar.id, "accounts_receivable"),
        "payment": (ar.id, "accounts_receivable"),
    }
    assert by_kind["note"]["detail"]["body"] == "Access via the back gate"
    assert by_kind["response"]["detail"]["decision"] == "approve"
    assert by_kind["invoice"]["detail"]["invoice_number"] == invoice["number"]
    assert by_kind["payment"]["detail"]["amount"] == invoice["total"]
    paid_event = changes[-1]
    assert paid_event["detail"]["payment_reference"] == f"TL900{wo}" and paid_event["detail"]["amount"] == "330.00"
    attachments = [e["detail"] for e in timeline if e["kind"] == "attachment"]
    assert [(a["attachment_id"], a["kind"]) for a in attachments] == [
        (photo["id"], "photo"),
        (invoice_copy, "provider_invoice"),
    ]
    # The operators and the provider see the same timeline; the customer the same without the provider's invoice
    # and payment (docs/api.md, "What a customer sees").
    assert (await p.get(f"/requests/{number}/timeline"))["items"] == timeline
    own = (await c.get(f"/requests/{number}/timeline"))["items"]
    hidden = {
        e["id"]
        for e in timeline
        if e["status"] in ("invoice_submitted", "payment_approved", "paid") and e["kind"] == "status_change"
    } | {e["id"] for e in timeline if e["kind"] == "attachment" and e["detail"]["kind"] == "provider_invoice"}
    assert len(hidden) == 4 and [e["id"] for e in own] == [e["id"] for e in timeline if e["id"] not in hidden]
    assert {e["status"] for e in own} - {None} <= {
        "draft",
        "published",
        "waiting_acceptance",
        "accepted",
        "scheduled",
        "in_progress",
        "completed",
    }


async def test_search_filter_sort_and_cursor_pages(api, admin, cast):
    c = cast.customer
    tag = unique("tag").lower()
    made = []
    for index, (priority, site) in enumerate((("low", "Harbour"), ("urgent", "Airport"), ("high", "Harbour"))):
        serial = unique("SER").upper()
        asset = await c.post(
            "/assets",
            {
                "customer_id": cast.customer_id,
                "name": f"Compressor {index}",
                "serial_number": serial,
                "site": {"name": f"{site} {tag}", "address": f"{index} Dock Rd"},
            },
            expect=201,
        )
        request = await new_request(cast, f"Fault {tag} number {index}", priority, asset["id"])
        made.append({**request, "serial": serial})
    numbers = [m["number"] for m in made]
    # Another organisation with the same words in its requests: never in this customer's results.
    other = await admin.post("/customers", {"name": "Other"}, expect=201)
    other_user = await api.make_user(admin, "customer", customer_id=other["id"])
    other_asset = await other_user.post(
        "/assets", {"customer_id": other["id"], "name": "Compressor", "serial_number": unique("X")}, expect=201
    )
    await other_user.post(
        "/requests",
        {
            "customer_id": other["id"],
            "asset_id": other_asset["id"],
            "kind": "walk_in",
            "priority": "low",
            "summary": f"Fault {tag}",
        },
        expect=201,
    )

    async def found(user, query: str) -> list[str]:
        return [r["number"] for r in (await user.get(f"/requests?{query}"))["items"]]

    assert await found(c, f"q={tag}") == numbers[::-1]  # default sort: newest first
    assert await found(c, f"q={made[1]['serial'].lower()}") == [numbers[1]]
    assert await found(c, f"q={made[0]['serial']}") == [numbers[0]]  # case does not matter
    assert await found(c, f"q=harbour%20{tag}") == [numbers[2], numbers[0]]
    assert await found(c, f"q={numbers[1]}") == [numbers[1]]
    assert await found(c, "q=FAULT%20" + tag + "%20NUMBER%201") == [numbers[1]]  # the summary
    assert await found(c, f"q={quote('%')}") == [] and await found(c, "q=_") == []
    assert await found(c, f"q={tag}&priority=urgent") == [numbers[1]]
    assert await found(c, f"q={tag}&sort=created_at") == numbers

    await c.post(f"/requests/{numbers[0]}/cancel", {"reason": "duplicate"})
    assert await found(c, f"q={tag}&status=cancelled") == [numbers[0]]
    assert await found(c, f"q={tag}&status=draft&status=cancelled&sort=created_at") == numbers
    assert (await found(c, f"q={tag}&sort=-updated_at"))[0] == numbers[0]
    assert (await found(c, f"q={tag}&sort=updated_at"))[-1] == numbers[0]

    # Cursor pages: every item once, in order, then no cursor.
    for sort in ("created_at", "-created_at", "updated_at", "-updated_at"):
        seen, cursor = [], None
        while True:
            page = await c.get(f"/requests?q={tag}&sort={sort}&limit=1" + (f"&cursor={cursor}" if cursor else ""))
            seen += [r["number"] for r in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == await found(c, f"q={tag}&sort={sort}") and sorted(seen) == sorted(numbers), sort

    # Scope: the customer sees only its own; staff filter by customer; a provider sees only what it holds.
    assert await found(c, f"customer_id={other['id']}") == []
    assert await found(other_user, f"q={tag}") != [] and not set(await found(other_user, f"q={tag}")) & set(numbers)
    assert await found(cast.dispatcher, f"customer_id={cast.customer_id}&q={tag}&sort=created_at") == numbers
    assert await found(cast.provider, f"q={tag}") == []
    held, _ = await accepted_request(cast, f"Held {tag}")
    assert await found(cast.provider, f"q={tag}") == [held]

    for query, status in (
        ("sort=priority", 422),
        ("status=bogus", 422),
        ("priority=extreme", 422),
        ("cursor=not-a-cursor", 400),
        ("cursor=e30=", 400),
    ):
        response = await api.http.get(f"/requests?{query}", headers=c.headers)
        assert response.status_code == status, (query, response.text)
    assert (await api.http.get("/requests?limit=1000", headers=c.headers)).status_code == 422  # never clamped
