"""Every transition and role of docs/api.md's lifecycle table through the gateway, with a 409 naming the current status
for every action a status does not allow."""

from __future__ import annotations

import asyncio

from tests.lifecycle.support import (
    another_provider,
    attempt,
    mails,
    new_request,
    offered,
    probe_refusals,
    timeline,
)
from tests.support.api import upload_invoice_copy, wait_for

pytestmark = __import__("pytest").mark.e2e


async def test_walk_in_walks_every_status_and_refuses_everything_else(api, cast):
    team = await cast.dispatcher.post("/teams", {"name": "Bench", "provider_ids": [cast.provider_id]}, expect=201)
    probe = lambda status, wo=None, **kw: probe_refusals(api, cast, number, wo, status, team_id=team["id"], **kw)  # noqa: E731
    number = (await new_request(cast, kind="walk_in"))["number"]
    tried = await probe("draft")
    assert {"approve-payment", "assign", "invoiced"} <= set(tried)

    await cast.dispatcher.post(f"/work-events/{number}/publish")
    await probe("published")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await probe("waiting_acceptance", wo)
    accepted = await cast.provider.post(f"/work-orders/{wo}/accept", {"notes": "on it"})
    assert accepted["status"] == "accepted" and accepted["provider_id"] == cast.provider_id
    attachment = await upload_invoice_copy(api, cast.provider, number)
    await cast.provider.put(
        f"/provider-invoices/{wo}", {"invoice_number": "WALK1", "parts": "10.00", "labor": "5.00", "tax": "0.00"}
    )
    await probe("accepted", wo, attachment_id=attachment)
    scheduled = await cast.provider.post(f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
    assert scheduled["scheduled_for"].startswith("2030-01-15T09:00:00")
    await probe("scheduled", wo, attachment_id=attachment)
    await cast.provider.post(f"/work-orders/{wo}/start")
    await probe("in_progress", wo, attachment_id=attachment)
    await cast.provider.post(f"/work-orders/{wo}/await-parts", {"notes": "compressor ordered"})
    await probe("awaiting_parts", wo, attachment_id=attachment)
    resumed = await cast.provider.post(f"/work-orders/{wo}/resume")
    assert resumed["status"] == "in_progress"
    ready = await cast.provider.post(f"/work-orders/{wo}/ready-for-return")
    assert ready["status"] == "ready_for_return"
    await probe("ready_for_return", wo, attachment_id=attachment)
    await cast.provider.post(f"/work-orders/{wo}/complete", {"notes": "repaired", "invoice_attachment_id": attachment})
    await probe("completed", wo, attachment_id=attachment)
    await cast.provider.post(f"/provider-invoices/{wo}/submit")
    await probe("invoice_submitted", wo, attachment_id=attachment)
    await cast.dispatcher.post(f"/work-events/{number}/approve-payment")
    await probe("payment_approved", wo, attachment_id=attachment)
    await cast.dispatcher.post("/payment-runs", expect=201)
    await wait_for(lambda: _status(cast, number, "paid"))
    await probe("paid", wo, attachment_id=attachment)
    await cast.receivable.post(f"/work-events/{number}/invoice-not-required")
    # Closed: every action, billing ones too, is a 409 naming the final status.
    for action in ("publish", "approve-payment", "invoiced", "dispatcher-cancel", "resume"):
        response = await attempt(api, cast, action, number, wo, attachment, team["id"])
        assert response.status_code == 409 and "paid" in response.json()["detail"], response.text

    statuses = [e["status"] for e in await timeline(cast.dispatcher, number) if e["kind"] == "status_change"]
    assert statuses == [
        "draft",
        "published",
        "waiting_acceptance",
        "accepted",
        "scheduled",
        "in_progress",
        "awaiting_parts",
        "in_progress",
        "ready_for_return",
        "completed",
        "invoice_submitted",
        "payment_approved",
        "paid",
    ]


async def test_roles_are_enforced(api, cast):
    number, wo = await offered(cast)
    stranger = await another_provider(api, cast)
    assert (await api.http.post(f"/work-events/{number}/publish", headers=cast.customer.headers)).status_code == 403
    assert (
        await api.http.post(
            f"/work-events/{number}/assign", headers=cast.provider.headers, json={"provider_id": cast.provider_id}
        )
    ).status_code == 403
    assert (await api.http.post(f"/work-events/{number}/invoiced", headers=cast.dispatcher.headers)).status_code == 403
    assert (await api.http.post(f"/work-orders/{wo}/accept", headers=cast.dispatcher.headers)).status_code == 403
    assert (
        await api.http.post(f"/requests/{number}/cancel", headers=cast.provider.headers, json={"reason": "x"})
    ).status_code == 403
    # A provider the work order was not offered to does not see it at all.
    assert (await api.http.post(f"/work-orders/{wo}/accept", headers=stranger.headers)).status_code == 404
    assert (await api.http.get(f"/requests/{number}", headers=stranger.headers)).status_code == 404
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "waiting_acceptance"


async def test_decline_returns_to_published_voids_work_order_and_emails_dispatcher(stack, api, cast):
    number, wo = await offered(cast)
    declined = await cast.provider.post(f"/work-orders/{wo}/decline", {"notes": "no capacity this week"})
    assert declined["status"] == "published" and declined["work_order_number"] is None
    assert (await cast.provider.get(f"/work-orders/{wo}"))["status"] == "voided"
    assert (await api.http.post(f"/work-orders/{wo}/accept", headers=cast.provider.headers)).status_code == 409
    subject = f"{number} is ready for routing"
    found = await wait_for(lambda: _mails(stack, cast.dispatcher.email, subject))
    assert len(found) == 1 and "no capacity" in found[0].get_content()
    entry = [e for e in await timeline(cast.dispatcher, number) if e["kind"] == "status_change"][-1]
    assert entry["previous_status"] == "waiting_acceptance" and entry["detail"]["declined_work_order_number"] == wo


async def test_reassign_voids_old_work_order_and_issues_a_new_number(api, cast):
    number, first = await offered(cast)
    await cast.provider.post(f"/work-orders/{first}/accept")
    other = await another_provider(api, cast)
    moved = await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": other.provider_id})
    second = moved["work_order_number"]
    assert moved["status"] == "waiting_acceptance" and int(second) > int(first) and len(second) == 9
    assert (await cast.provider.get(f"/work-orders/{first}"))["status"] == "voided"
    stale = await api.http.post(f"/work-orders/{first}/start", headers=cast.provider.headers)
    assert stale.status_code == 409 and "waiting_acceptance" in stale.json()["detail"]
    taken = await other.post(f"/work-orders/{second}/accept")
    assert taken["provider_id"] == other.provider_id and taken["work_order_number"] == second


async def test_team_offer_first_accept_wins_at_the_same_instant(api, cast):
    members = [cast.provider] + [await another_provider(api, cast, f"Team Co {i}") for i in range(3)]
    team = await cast.dispatcher.post(
        "/teams", {"name": "Night shift", "provider_ids": [m.provider_id for m in members]}, expect=201
    )
    number = (await new_request(cast))["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    assigned = await cast.dispatcher.post(f"/work-events/{number}/assign-team", {"team_id": team["id"]})
    wo = assigned["work_order_number"]
    for member in members:  # one shared number, offered to every member
        assert wo in [w["number"] for w in (await member.get("/work-orders?view=waiting"))["items"]]
    responses = await asyncio.gather(
        *(api.http.post(f"/work-orders/{wo}/accept", headers=m.headers, json={}) for m in members)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409], [r.text for r in responses]
    winner = members[[r.status_code for r in responses].index(200)]
    assert all("accepted" in r.json()["detail"] for r in responses if r.status_code == 409)
    state = await cast.dispatcher.get(f"/requests/{number}")
    assert state["status"] == "accepted" and state["provider_id"] == winner.provider_id
    assert (await winner.get(f"/work-orders/{wo}"))["accepted_by"] == winner.provider_id


async def test_marketplace_offer_first_accept_wins_at_the_same_instant(api, cast):
    bidders = [cast.provider] + [await another_provider(api, cast, f"Market Co {i}") for i in range(4)]
    number = (await new_request(cast))["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/send-to-marketplace"))["work_order_number"]
    await bidders[-1].post(f"/work-orders/{wo}/decline")  # a marketplace decline leaves the offer open
    assert (await cast.dispatcher.get(f"/requests/{number}"))["status"] == "waiting_acceptance"
    responses = await asyncio.gather(
        *(api.http.post(f"/work-orders/{wo}/accept", headers=b.headers, json={}) for b in bidders[:-1])
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [r.text for r in responses]
    state = await cast.dispatcher.get(f"/requests/{number}")
    assert state["status"] == "accepted" and state["work_order_number"] == wo


async def test_customer_cancels_only_before_acceptance(api, cast):
    number, _ = await offered(cast)
    cancelled = await cast.customer.post(f"/requests/{number}/cancel", {"reason": "fixed it ourselves"})
    assert cancelled["status"] == "cancelled"
    again = await api.http.post(f"/requests/{number}/cancel", headers=cast.customer.headers, json={"reason": "x"})
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]

    number, wo = await offered(cast)
    await cast.provider.post(f"/work-orders/{wo}/accept")
    late = await api.http.post(f"/requests/{number}/cancel", headers=cast.customer.headers, json={"reason": "x"})
    assert late.status_code == 409 and "accepted" in late.json()["detail"]
    deleted = await api.http.post(f"/work-events/{number}/delete", headers=cast.dispatcher.headers, json={})
    assert deleted.status_code == 409 and "accepted" in deleted.json()["detail"]
    by_dispatcher = await cast.dispatcher.post(f"/requests/{number}/cancel", {"reason": "customer moved"})
    assert by_dispatcher["status"] == "cancelled"
    assert (await cast.provider.get(f"/work-orders/{wo}"))["status"] == "voided"


async def test_dispatcher_cancels_before_completion_only(api, cast):
    number, wo = await offered(cast)
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await cast.provider.post(f"/work-orders/{wo}/start")
    attachment = await upload_invoice_copy(api, cast.provider, number)
    await cast.provider.post(f"/work-orders/{wo}/complete", {"notes": "done", "invoice_attachment_id": attachment})
    late = await api.http.post(f"/requests/{number}/cancel", headers=cast.dispatcher.headers, json={"reason": "x"})
    assert late.status_code == 409 and "completed" in late.json()["detail"]


async def test_ready_for_return_is_for_walk_in_repairs_only(api, cast):
    number, wo = await offered(cast, kind="service_call")
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await cast.provider.post(f"/work-orders/{wo}/start")
    refused = await api.http.post(f"/work-orders/{wo}/ready-for-return", headers=cast.provider.headers, json={})
    assert refused.status_code == 409
    assert "in_progress" in refused.json()["detail"] and "walk-in" in refused.json()["detail"]


async def _status(cast, number, status):
    current = await cast.dispatcher.get(f"/requests/{number}")
    return current if current["status"] == status else None


async def _mails(stack, to, subject):
    return mails(stack.mail_dir, to, subject)
