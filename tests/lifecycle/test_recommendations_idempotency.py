"""Recommendations (post, approve / decline / clarify, timeline, email to the other side) and idempotency (creating
POSTs replay their Idempotency-Key; the same update sent twice changes the request once) through the gateway."""

from __future__ import annotations

import uuid

from tests.lifecycle.support import another_provider, mails, new_request, offered, timeline
from tests.support.api import wait_for

pytestmark = __import__("pytest").mark.e2e


async def started(cast) -> tuple[str, str]:
    number, wo = await offered(cast)
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await cast.provider.post(f"/work-orders/{wo}/start")
    return number, wo


async def test_recommendation_answers_each_timestamped_and_emailed_to_the_other_side(stack, api, cast):
    number, _ = await started(cast)
    customer_inbox = (await cast.customer.get("/me"))["notification_email"]
    provider_inbox = (await cast.provider.get("/me"))["notification_email"] or cast.provider.email
    rec = await cast.provider.post(
        f"/requests/{number}/recommendations",
        {"summary": "Replace the condenser fan", "detail": "Bearings worn", "estimated_cost": "340.00"},
        expect=201,
    )
    assert rec["decision"] is None and rec["estimated_cost"] == "340.00"
    assert await wait_for(lambda: _mails(stack, customer_inbox, "recommends Replace the condenser fan"))

    clarify = await cast.customer.post(
        f"/requests/{number}/recommendations/{rec['id']}/respond",
        {"decision": "clarify", "comment": "Which fan model?"},
    )
    assert clarify["decision"] == "clarify"
    asked = await wait_for(lambda: _mails(stack, provider_inbox, "asked for clarification on a recommendation"))
    assert "Which fan model?" in asked[0].get_content()
    approved = await cast.customer.post(
        f"/requests/{number}/recommendations/{rec['id']}/respond", {"decision": "approve", "comment": "Go ahead"}
    )
    assert approved["decision"] == "approve" and approved["responded_at"]
    assert await wait_for(lambda: _mails(stack, provider_inbox, "approved a recommendation"))
    twice = await api.http.post(
        f"/requests/{number}/recommendations/{rec['id']}/respond",
        headers=cast.customer.headers,
        json={"decision": "decline"},
    )
    assert twice.status_code == 409 and "approve" in twice.json()["detail"]

    second = await cast.provider.post(
        f"/requests/{number}/recommendations", {"summary": "Repaint the housing"}, expect=201
    )
    declined = await cast.customer.post(
        f"/requests/{number}/recommendations/{second['id']}/respond", {"decision": "decline"}
    )
    assert declined["decision"] == "decline"

    entries = await timeline(cast.customer, number)
    steps = [(e["kind"], e["detail"].get("decision")) for e in entries if e["kind"] in ("recommendation", "response")]
    assert steps == [
        ("recommendation", None),
        ("response", "clarify"),
        ("response", "approve"),
        ("recommendation", None),
        ("response", "decline"),
    ]
    stamps = [e["at"] for e in entries]
    assert stamps == sorted(stamps) and all(stamps)


async def test_only_the_holder_recommends_and_only_the_customer_answers(api, cast):
    number, _ = await started(cast)
    stranger = await another_provider(api, cast)
    body = {"summary": "Replace everything"}
    assert (
        await api.http.post(f"/requests/{number}/recommendations", headers=stranger.headers, json=body)
    ).status_code == 404
    assert (
        await api.http.post(f"/requests/{number}/recommendations", headers=cast.customer.headers, json=body)
    ).status_code == 403
    rec = await cast.provider.post(f"/requests/{number}/recommendations", body, expect=201)
    assert (
        await api.http.post(
            f"/requests/{number}/recommendations/{rec['id']}/respond",
            headers=cast.dispatcher.headers,
            json={"decision": "approve"},
        )
    ).status_code == 403
    fresh, _ = await offered(cast)  # not yet accepted: nothing to recommend on
    early = await api.http.post(f"/requests/{fresh}/recommendations", headers=cast.provider.headers, json=body)
    assert early.status_code in (404, 409)


async def test_creating_posts_replay_their_idempotency_key(api, cast):
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {
        "customer_id": cast.customer_id,
        "asset_id": cast.asset_id,
        "kind": "service_call",
        "priority": "low",
        "summary": "Door sensor",
    }
    first = await cast.customer.post("/requests", body, expect=201, headers=key)
    again = await cast.customer.post("/requests", body, expect=201, headers=key)
    assert again == first
    other = await api.http.post(
        "/requests", headers={**cast.customer.headers, **key}, json={**body, "priority": "high"}
    )
    assert other.status_code == 422
    listed = (await cast.customer.get("/requests?q=door sensor"))["items"]
    assert [r["number"] for r in listed] == [first["number"]]
    # The replayed request is a live one: its workflow takes transitions.
    assert (await cast.dispatcher.post(f"/work-events/{first['number']}/publish"))["status"] == "published"

    number, _ = await started(cast)
    note_key = {"Idempotency-Key": f"note-{uuid.uuid4()}"}
    note = await cast.customer.post(
        f"/requests/{number}/notes", {"body": "Gate code 1234"}, expect=201, headers=note_key
    )
    assert (
        await cast.customer.post(f"/requests/{number}/notes", {"body": "Gate code 1234"}, expect=201, headers=note_key)
        == note
    )
    rec_key = {"Idempotency-Key": f"rec-{uuid.uuid4()}"}
    rec = await cast.provider.post(
        f"/requests/{number}/recommendations", {"summary": "Oil the hinge"}, expect=201, headers=rec_key
    )
    assert (
        await cast.provider.post(
            f"/requests/{number}/recommendations", {"summary": "Oil the hinge"}, expect=201, headers=rec_key
        )
        == rec
    )
    entries = await timeline(cast.customer, number)
    assert [e["kind"] for e in entries].count("note") == 1
    assert [e["kind"] for e in entries].count("recommendation") == 1


async def test_same_update_twice_changes_the_request_once(api, cast):
    number = (await new_request(cast))["number"]
    key = {"Idempotency-Key": f"publish-{uuid.uuid4()}"}
    first = await cast.dispatcher.post(f"/work-events/{number}/publish", headers=key)
    assert await cast.dispatcher.post(f"/work-events/{number}/publish", headers=key) == first
    # Without a key the repeat is refused, naming the status it already reached.
    repeat = await api.http.post(f"/work-events/{number}/publish", headers=cast.dispatcher.headers, json={})
    assert repeat.status_code == 409 and "published" in repeat.json()["detail"]
    # The same key with another action is that action, not a replay of the first.
    offer = await cast.dispatcher.post(f"/work-events/{number}/send-to-marketplace", headers=key)
    assert offer["status"] == "waiting_acceptance" and offer["work_order_number"]

    assign = {"provider_id": cast.provider_id}  # a re-assignment from the marketplace offer
    one = await cast.dispatcher.post(f"/work-events/{number}/assign", assign)
    two = await cast.dispatcher.post(f"/work-events/{number}/assign", assign)  # no key: the same offer, kept
    assert two["work_order_number"] == one["work_order_number"]
    wo = one["work_order_number"]
    accept_key = {"Idempotency-Key": f"accept-{uuid.uuid4()}"}
    assert (await cast.provider.post(f"/work-orders/{wo}/accept", headers=accept_key))["status"] == "accepted"
    assert (await cast.provider.post(f"/work-orders/{wo}/accept", headers=accept_key))["status"] == "accepted"
    slot = {"scheduled_for": "2030-06-01T10:00:00Z"}
    await cast.provider.post(f"/work-orders/{wo}/schedule", slot)
    await cast.provider.post(f"/work-orders/{wo}/schedule", slot)
    cancel_key = {"Idempotency-Key": f"cancel-{uuid.uuid4()}"}
    cancelled = await cast.dispatcher.post(f"/requests/{number}/cancel", {"reason": "duplicate"}, headers=cancel_key)
    assert cancelled["status"] == "cancelled"
    replay = await cast.dispatcher.post(f"/requests/{number}/cancel", {"reason": "duplicate"}, headers=cancel_key)
    assert replay["status"] == "cancelled"  # the first answer again, though the request is closed now

    statuses = [e["status"] for e in await timeline(cast.dispatcher, number) if e["kind"] == "status_change"]
    assert statuses == [
        "draft",
        "published",
        "waiting_acceptance",
        "waiting_acceptance",
        "accepted",
        "scheduled",
        "cancelled",
    ]
    work_orders = (await cast.provider.get("/work-orders?view=waiting"))["items"]
    assert wo not in [w["number"] for w in work_orders]


async def test_payments_list_by_role(api, cast):
    payments = await cast.provider.get("/payments")
    assert all(p["work_order_number"] for p in payments["items"])
    assert (await api.http.get("/payments", headers=cast.customer.headers)).status_code == 403
    assert "items" in await cast.receivable.get("/payments")


async def _mails(stack, to, subject):
    return mails(stack.mail_dir, to, subject)
