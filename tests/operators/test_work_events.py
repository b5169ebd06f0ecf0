"""The operators' work-event console: the filterable list and every action one at a time or in bulk."""

from __future__ import annotations

import asyncio

from tests.operators.flow import assigned, invoice_submitted, new_request, refused, started, status_of
from tests.support.api import wait_for


def by_number(results: list[dict]) -> dict[str, dict]:
    return {r["number"]: r for r in results}


async def test_list_filters_by_customer_status_provider_and_priority(stack, api, cast):
    urgent = await new_request(cast, priority="urgent")
    low = await new_request(cast, priority="low")
    working = await new_request(cast)
    await cast.dispatcher.post(f"/work-events/{low}/publish")
    await started(cast, working)

    async def numbers(user=cast.dispatcher, **params) -> list[str]:
        return [i["number"] for i in (await user.get("/work-events", params=params))["items"]]

    assert await numbers(customer_id=cast.customer_id) == [working, low, urgent]  # newest first
    assert await numbers(customer_id=cast.customer_id, status="draft") == [urgent]
    assert await numbers(customer_id=cast.customer_id, status=["draft", "published"]) == [low, urgent]
    assert await numbers(customer_id=cast.customer_id, priority="urgent") == [urgent]
    assert await numbers(provider_id=cast.provider_id) == [working]
    assert await numbers(customer_id=cast.customer_id, sort="created_at") == [urgent, low, working]
    assert await numbers(cast.receivable, customer_id=cast.customer_id, status="in_progress") == [working]
    page = await cast.dispatcher.get("/work-events", params={"customer_id": cast.customer_id, "limit": 2})
    rest = await cast.dispatcher.get(
        "/work-events", params={"customer_id": cast.customer_id, "cursor": page["next_cursor"]}
    )
    assert [i["number"] for i in page["items"] + rest["items"]] == [working, low, urgent]
    assert rest["next_cursor"] is None
    assert "status" in await refused(cast.dispatcher, "GET", "/work-events?status=nonsense", 422)
    for outsider in (cast.customer, cast.provider):
        await refused(outsider, "GET", "/work-events", 403)


async def test_bulk_publish_one_result_each_and_failures_do_not_stop_others(stack, api, cast):
    numbers = [await new_request(cast) for _ in range(4)]
    await cast.dispatcher.post(f"/work-events/{numbers[1]}/publish")  # already published: this one fails
    body = {"action": "publish", "numbers": [*numbers, "SR-999999", numbers[0]]}
    results = (await cast.dispatcher.post("/work-events/bulk", body))["results"]
    assert [r["number"] for r in results] == [*numbers, "SR-999999"]  # one result per request, in order
    got = by_number(results)
    assert [got[n]["ok"] for n in numbers] == [True, False, True, True]
    assert "published" in got[numbers[1]]["detail"]
    assert got["SR-999999"]["ok"] is False and "not found" in got["SR-999999"]["detail"]
    for n in numbers:
        assert (await status_of(cast.dispatcher, n))["status"] == "published"


async def test_bulk_assign_team_and_marketplace(stack, api, admin, cast):
    second = await cast.dispatcher.post("/providers", {"name": "Second Co", "email": "ops@second.example"}, expect=201)
    team = await cast.dispatcher.post(
        "/teams", {"name": "North", "provider_ids": [cast.provider_id, second["id"]]}, expect=201
    )
    numbers = [await new_request(cast) for _ in range(6)]
    draft_one = numbers[5]
    published = await cast.dispatcher.post("/work-events/bulk", {"action": "publish", "numbers": numbers[:5]})
    assert all(r["ok"] for r in published["results"])

    direct = await cast.dispatcher.post(
        "/work-events/bulk", {"action": "assign", "numbers": [numbers[0], draft_one], "provider_id": cast.provider_id}
    )
    got = by_number(direct["results"])
    assert got[numbers[0]] == {"number": numbers[0], "ok": True, "status": "waiting_acceptance"}
    assert got[draft_one]["ok"] is False and "draft" in got[draft_one]["detail"]
    teamed = await cast.dispatcher.post(
        "/work-events/bulk", {"action": "assign-team", "numbers": numbers[1:3], "team_id": team["id"]}
    )
    market = await cast.dispatcher.post("/work-events/bulk", {"action": "send-to-marketplace", "numbers": numbers[3:5]})
    assert all(r["ok"] and r["status"] == "waiting_acceptance" for r in teamed["results"] + market["results"])

    # Every offer has its own work order; team and marketplace offers reach the right providers.
    states = [await status_of(cast.dispatcher, n) for n in numbers[:5]]
    work_orders = [s["work_order_number"] for s in states]
    assert len(set(work_orders)) == 5
    waiting = {w["number"]: w for w in (await cast.provider.get("/work-orders?view=waiting&limit=200"))["items"]}
    assert set(work_orders) <= set(waiting)
    assert waiting[work_orders[1]]["offer_kind"] == "team" and waiting[work_orders[3]]["offer_kind"] == "marketplace"

    # A target that does not exist refuses the whole bulk before anything is done.
    assert "provider_id" in await refused(
        cast.dispatcher,
        "POST",
        "/work-events/bulk",
        422,
        {"action": "assign", "numbers": [draft_one], "provider_id": 10**9},
    )
    assert "team_id" in await refused(
        cast.dispatcher, "POST", "/work-events/bulk", 422, {"action": "assign-team", "numbers": [draft_one]}
    )
    assert (await status_of(cast.dispatcher, draft_one))["status"] == "draft"


async def test_delete_only_before_acceptance_kept_as_cancelled_with_who_and_why(stack, api, cast):
    draft = await new_request(cast)
    offered = await new_request(cast)
    await assigned(cast, offered)
    accepted = await new_request(cast)
    await started(cast, accepted)
    body = {"action": "delete", "numbers": [draft, offered, accepted], "reason": "duplicate of an older request"}
    got = by_number((await cast.dispatcher.post("/work-events/bulk", body))["results"])
    assert got[draft]["ok"] and got[offered]["ok"] and got[draft]["status"] == "cancelled"
    assert got[accepted]["ok"] is False and "in_progress" in got[accepted]["detail"]

    single = await new_request(cast)

    async def draft_recorded():
        # A delete that reaches the workflow before its first task has run gets recorded ahead of the draft
        # event (update handlers start before `run` in a first activation): wait for the draft to be recorded.
        return (await cast.customer.get(f"/requests/{single}/timeline"))["items"]

    await wait_for(draft_recorded)
    await cast.dispatcher.post(f"/work-events/{single}/delete", {"reason": "entered by mistake"})
    for number, reason in (
        (draft, "duplicate of an older request"),
        (offered, "duplicate of an older request"),
        (single, "entered by mistake"),
    ):
        # Never erased: still listed and readable, as a cancelled request, with who deleted it and why.
        assert (await status_of(cast.customer, number))["status"] == "cancelled"
        timeline = (await cast.customer.get(f"/requests/{number}/timeline"))["items"]
        deletion = [e for e in timeline if e["kind"] == "status_change" and e["status"] == "cancelled"]
        assert len(deletion) == 1, timeline
        assert deletion[0]["detail"]["deleted"] is True and deletion[0]["detail"]["reason"] == reason
        assert deletion[0]["actor_user_id"] == cast.dispatcher.id and deletion[0]["actor_role"] == "dispatcher"
    listed = await cast.dispatcher.get("/work-events", params={"customer_id": cast.customer_id, "status": "cancelled"})
    assert {i["number"] for i in listed["items"]} == {draft, offered, single}
    assert (await status_of(cast.dispatcher, accepted))["status"] == "in_progress"
    # The voided offer is gone from the provider's waiting list.
    waiting = (await cast.provider.get("/work-orders?view=waiting&limit=200"))["items"]
    assert offered not in {w["request_number"] for w in waiting}
    assert "cancelled" in await refused(cast.dispatcher, "POST", f"/work-events/{draft}/delete", 409)


async def test_billing_actions_belong_to_accounts_receivable(stack, api, cast):
    done = await new_request(cast)
    await invoice_submitted(api, cast, done)
    waiting = await new_request(cast)

    for action in ("invoiced", "invoice-not-required"):
        await refused(cast.dispatcher, "POST", f"/work-events/{done}/{action}", 403)
        await refused(cast.dispatcher, "POST", "/work-events/bulk", 403, {"action": action, "numbers": [done]})
        await refused(cast.provider, "POST", "/work-events/bulk", 403, {"action": action, "numbers": [done]})
    await refused(cast.receivable, "POST", "/work-events/bulk", 403, {"action": "publish", "numbers": [waiting]})

    got = by_number(
        (
            await cast.receivable.post(
                "/work-events/bulk", {"action": "invoice-not-required", "numbers": [done, waiting]}
            )
        )["results"]
    )
    assert got[done]["ok"] is True
    assert got[waiting]["ok"] is False and "draft" in got[waiting]["detail"]
    assert (await status_of(cast.receivable, done))["billing_status"] == "not_required"


async def test_bulk_approve_payment_and_invoiced(stack, api, cast):
    ready = [await new_request(cast) for _ in range(2)]
    await asyncio.gather(*(invoice_submitted(api, cast, n) for n in ready))
    early = await new_request(cast)
    await started(cast, early)
    got = by_number(
        (await cast.dispatcher.post("/work-events/bulk", {"action": "approve-payment", "numbers": [*ready, early]}))[
            "results"
        ]
    )
    assert [got[n]["status"] for n in ready] == ["payment_approved"] * 2
    assert got[early]["ok"] is False and "in_progress" in got[early]["detail"]
    got = by_number(
        (await cast.receivable.post("/work-events/bulk", {"action": "invoiced", "numbers": [*ready, early]}))["results"]
    )
    assert all(got[n]["ok"] for n in ready)
    assert "billing starts once the work is completed" in got[early]["detail"]
    outstanding = (await cast.customer.get("/invoices?status=outstanding"))["items"]
    assert sorted(i["request_number"] for i in outstanding) == sorted(ready)
