"""The customers dashboard: the five bucket counts of each customer, right after every step of the lifecycle."""

from __future__ import annotations

from tests.operators.flow import complete, new_request


async def counts(cast) -> dict:
    name = (await cast.dispatcher.get(f"/customers/{cast.customer_id}"))["name"]
    items = (await cast.dispatcher.get("/customers", params={"q": name}))["items"]
    assert [c["id"] for c in items] == [cast.customer_id]
    return items[0]["counts"]


def expect(draft=0, published=0, assigned=0, in_progress=0, completed=0) -> dict:
    return {
        "draft": draft,
        "published": published,
        "assigned": assigned,
        "in_progress": in_progress,
        "completed": completed,
    }


async def test_counts_follow_every_step(stack, api, cast):
    assert await counts(cast) == expect()
    first = await new_request(cast)
    second = await new_request(cast, kind="walk_in")
    assert await counts(cast) == expect(draft=2)

    await cast.dispatcher.post(f"/work-events/{first}/publish")
    assert await counts(cast) == expect(draft=1, published=1)
    wo = (await cast.dispatcher.post(f"/work-events/{first}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    assert await counts(cast) == expect(draft=1, assigned=1)
    await cast.provider.post(f"/work-orders/{wo}/accept")
    assert await counts(cast) == expect(draft=1, in_progress=1)
    await cast.provider.post(f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
    await cast.provider.post(f"/work-orders/{wo}/start")
    await cast.provider.post(f"/work-orders/{wo}/await-parts")
    assert await counts(cast) == expect(draft=1, in_progress=1)
    await cast.provider.post(f"/work-orders/{wo}/resume")
    await complete(api, cast.provider, first, wo)
    assert await counts(cast) == expect(draft=1, completed=1)

    # The walk-in: offered, declined (back to published), offered again, accepted, ready for return.
    await cast.dispatcher.post(f"/work-events/{second}/publish")
    wo2 = (await cast.dispatcher.post(f"/work-events/{second}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    assert await counts(cast) == expect(assigned=1, completed=1)
    await cast.provider.post(f"/work-orders/{wo2}/decline", {"notes": "no bench space"})
    assert await counts(cast) == expect(published=1, completed=1)
    wo2 = (await cast.dispatcher.post(f"/work-events/{second}/send-to-marketplace"))["work_order_number"]
    assert await counts(cast) == expect(assigned=1, completed=1)
    await cast.provider.post(f"/work-orders/{wo2}/accept")
    await cast.provider.post(f"/work-orders/{wo2}/start")
    await cast.provider.post(f"/work-orders/{wo2}/ready-for-return")
    assert await counts(cast) == expect(in_progress=1, completed=1)

    # A cancelled request leaves every bucket.
    third = await new_request(cast)
    assert await counts(cast) == expect(draft=1, in_progress=1, completed=1)
    await cast.customer.post(f"/requests/{third}/cancel", {"reason": "fixed it ourselves"})
    assert await counts(cast) == expect(in_progress=1, completed=1)


async def test_search_by_name_and_counts_are_per_customer(stack, api, admin, cast):
    other = await admin.post("/customers", {"name": f"Other {cast.customer_id} Holdings"}, expect=201)
    await new_request(cast)
    mine = (await cast.dispatcher.get(f"/customers/{cast.customer_id}"))["name"]
    found = (await cast.dispatcher.get("/customers", params={"q": mine.upper()}))["items"]
    assert [c["counts"]["draft"] for c in found] == [1]
    theirs = (await cast.dispatcher.get("/customers", params={"q": f"Other {cast.customer_id} Hold"}))["items"]
    assert [(c["id"], c["counts"]) for c in theirs] == [(other["id"], expect())]
    # Customers do not see the operators' dashboard.
    response = await api.http.get("/customers", headers=cast.customer.headers)
    assert response.status_code == 403
