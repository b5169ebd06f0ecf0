"""Provider companies with their users, teams, and each provider's three views of only its own work orders."""

from __future__ import annotations

import uuid

from tests.operators.flow import complete, new_request, refused, started


async def second_provider(api, admin, cast, name: str = "Other Repairs"):
    company = await cast.dispatcher.post(
        "/providers", {"name": f"{name} {uuid.uuid4().hex[:6]}", "email": "desk@other.example"}, expect=201
    )
    user = await api.make_user(admin, "provider", provider_id=company["id"])
    return company, user


async def view(provider, name: str, customer_id: int) -> list[str]:
    """The provider's view, narrowed to one customer (marketplace offers of other tests are everyone's)."""
    items = (await provider.get(f"/work-orders?view={name}&limit=200"))["items"]
    return [w["request_number"] for w in items if w["customer_id"] == customer_id]


async def test_companies_users_and_teams(stack, api, admin, cast):
    company, user = await second_provider(api, admin, cast)
    assert company["id"] and company["name"].startswith("Other Repairs")
    assert user.provider_id == company["id"]
    listed = (await cast.dispatcher.get("/providers", params={"q": company["name"]}))["items"]
    assert [p["id"] for p in listed] == [company["id"]]

    team = await cast.dispatcher.post(
        "/teams", {"name": "Night shift", "provider_ids": [cast.provider_id, company["id"], company["id"]]}, expect=201
    )
    assert team["provider_ids"] == sorted([cast.provider_id, company["id"]])
    assert team["id"] in {t["id"] for t in (await cast.dispatcher.get("/teams"))["items"]}
    assert "unknown provider" in await refused(
        cast.dispatcher, "POST", "/teams", 422, {"name": "Ghosts", "provider_ids": [10**9]}
    )
    await refused(cast.provider, "POST", "/providers", 403, {"name": "Rogue", "email": "r@x.example"})
    await refused(cast.customer, "POST", "/teams", 403, {"name": "Mine", "provider_ids": [cast.provider_id]})
    # Creating is idempotent with a key: the same key and body give the first company again.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    once = await cast.dispatcher.post("/providers", {"name": "Keyed", "email": "k@x.example"}, headers=key)
    again = await cast.dispatcher.post("/providers", {"name": "Keyed", "email": "k@x.example"}, headers=key)
    assert once["id"] == again["id"]


async def test_each_provider_sees_only_its_own_work_orders(stack, api, admin, cast):
    other_company, other = await second_provider(api, admin, cast)
    mine_waiting, theirs_waiting, mine_working, theirs_working, mine_done = [await new_request(cast) for _ in range(5)]
    for number, provider_id in ((mine_waiting, cast.provider_id), (theirs_waiting, other_company["id"])):
        await cast.dispatcher.post(f"/work-events/{number}/publish")
        await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": provider_id})
    await started(cast, mine_working)
    theirs_wo = await started(cast, theirs_working, other)
    done_wo = await started(cast, mine_done)
    await complete(api, cast.provider, mine_done, done_wo)

    assert await view(cast.provider, "waiting", cast.customer_id) == [mine_waiting]
    assert await view(cast.provider, "accepted", cast.customer_id) == [mine_working]
    assert await view(cast.provider, "completed", cast.customer_id) == [mine_done]
    assert await view(other, "waiting", cast.customer_id) == [theirs_waiting]
    assert await view(other, "accepted", cast.customer_id) == [theirs_working]
    assert await view(other, "completed", cast.customer_id) == []

    # Another provider's work order does not exist for this one: 404, never 403.
    assert "not found" in await refused(cast.provider, "GET", f"/work-orders/{theirs_wo}", 404)
    await refused(cast.provider, "POST", f"/work-orders/{theirs_wo}/start", 404)
    await refused(
        cast.provider,
        "PUT",
        f"/provider-invoices/{theirs_wo}",
        404,
        {"invoice_number": "A1", "parts": "0.00", "labor": "0.00", "tax": "0.00"},
    )
    await refused(cast.dispatcher, "GET", "/work-orders?view=waiting", 403)
    # Requests follow the same rule.
    await refused(cast.provider, "GET", f"/requests/{theirs_working}", 404)


async def test_team_offer_shared_until_one_accepts(stack, api, admin, cast):
    other_company, other = await second_provider(api, admin, cast)
    team = await cast.dispatcher.post(
        "/teams", {"name": "Both", "provider_ids": [cast.provider_id, other_company["id"]]}, expect=201
    )
    number = await new_request(cast)
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign-team", {"team_id": team["id"]}))[
        "work_order_number"
    ]
    assert number in await view(cast.provider, "waiting", cast.customer_id)
    assert number in await view(other, "waiting", cast.customer_id)
    # One declines: the offer stays open for the other, who is first to accept and wins.
    await cast.provider.post(f"/work-orders/{wo}/decline", {"notes": "fully booked"})
    assert number not in await view(cast.provider, "waiting", cast.customer_id)
    assert number in await view(other, "waiting", cast.customer_id)
    accepted = await other.post(f"/work-orders/{wo}/accept")
    assert accepted["status"] == "accepted" and accepted["provider_id"] == other_company["id"]
    assert accepted["work_order_number"] == wo
    assert number not in await view(other, "waiting", cast.customer_id)
    assert await view(other, "accepted", cast.customer_id) == [number]
    assert await view(cast.provider, "accepted", cast.customer_id) == []
