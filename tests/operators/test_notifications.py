"""Every event reaches the right people, by email and in the in-portal feed; unread counts and mark-as-read.
(Acceptance expiries and SLA breaches reaching the dispatcher need short clocks: tests/workflows/test_clocks.py
proves them on the time-skipping server with the real activities and an SMTP server.)"""

from __future__ import annotations

import uuid

from tests.operators.flow import assigned, mails, new_request, refused
from tests.support.api import lifecycle, wait_for


async def subjects(user, number: str) -> list[str]:
    items = (await user.get("/notifications", params={"limit": 200}))["items"]
    return [n["subject"] for n in items if n["request_number"] == number]


async def heard(user, number: str, subject: str) -> list[str]:
    """The user's feed of the request once `subject` is in it: feed entries follow the action's answer."""

    async def check():
        found = await subjects(user, number)
        return found if subject in found else None

    return await wait_for(check, timeout=20)


async def address(user) -> str:
    me = await user.get("/me")
    return me.get("notification_email") or me["email"]


async def emailed(stack, user, number: str) -> list[str]:
    # A long Subject may be folded onto its next line: read it unfolded, as a mail client shows it.
    subjects = [" ".join(m["Subject"].split()) for m in mails(stack.mail_dir, await address(user))]
    return [s for s in subjects if number in s]


async def test_offers_declines_notes_recommendations_and_responses(stack, api, admin, cast):
    company = await cast.dispatcher.post(
        "/providers", {"name": f"Bystander {uuid.uuid4().hex[:6]}", "email": "b@x.example"}, expect=201
    )
    bystander = await api.make_user(admin, "provider", provider_id=company["id"])
    number = await new_request(cast)

    async def received():  # the workflow records its first event just after the request is created
        return await subjects(cast.customer, number)

    assert await wait_for(received) == [f"Your request {number} was received"]

    # An offer reaches the provider it is made to, and nobody else's company.
    wo = await assigned(cast, number)
    await heard(cast.provider, number, f"Request {number} was offered to a provider")
    assert await subjects(bystander, number) == []
    # A decline reaches the dispatcher, naming the work order.
    await cast.provider.post(f"/work-orders/{wo}/decline", {"notes": "no technician free"})
    await heard(cast.dispatcher, number, f"Request {number} is ready for routing")
    declined = [
        n
        for n in (await cast.dispatcher.get("/notifications", params={"limit": 200}))["items"]
        if n["request_number"] == number and "ready for routing" in n["subject"]
    ]
    assert len(declined) == 1  # the dispatcher's own publish told only the customer
    assert f"Declined work order number: {wo}" in declined[0]["body"] and "no technician free" in declined[0]["body"]

    # The marketplace: every provider is offered it; a decline there reaches the dispatcher too.
    wo = (await cast.dispatcher.post(f"/work-events/{number}/send-to-marketplace"))["work_order_number"]
    await heard(bystander, number, f"Request {number} was offered to a provider")
    await bystander.post(f"/work-orders/{wo}/decline")
    await heard(cast.dispatcher, number, f"Request {number}: a provider declined work order {wo}")
    await cast.provider.post(f"/work-orders/{wo}/accept")
    await heard(cast.customer, number, f"Your request {number} is now accepted by a technician")
    await heard(cast.dispatcher, number, f"Request {number} was accepted by a provider")

    # A note reaches the customer's contacts, the dispatcher and the provider holding the work.
    await cast.customer.post(f"/requests/{number}/notes", {"body": "Gate code is 4711"}, expect=201)
    for user in (cast.dispatcher, cast.provider):

        async def noted(user=user):
            return [s for s in await subjects(user, number) if "a new note" in s]

        assert await wait_for(noted, timeout=20)
    assert [s for s in await subjects(bystander, number) if "a new note" in s] == []

    # A recommendation reaches the customer; the customer's answer reaches the provider.
    rec = await cast.provider.post(
        f"/requests/{number}/recommendations",
        {"summary": "replace the compressor", "estimated_cost": "900.00"},
        expect=201,
    )
    await heard(cast.customer, number, f"Your request {number}: the technician recommends replace the compressor")
    await cast.customer.post(
        f"/requests/{number}/recommendations/{rec['id']}/respond", {"decision": "approve", "comment": "go ahead"}
    )
    await heard(cast.provider, number, f"Request {number}: the customer approved a recommendation")
    assert not [s for s in await subjects(cast.customer, number) if "the customer" in s]

    # The same events arrived by email, each message once (an event's emails follow its feed entries).
    async def all_emailed():
        for user in (cast.customer, cast.provider, cast.dispatcher):
            if sorted(await emailed(stack, user, number)) != sorted(await subjects(user, number)):
                return False
        return True

    await wait_for(all_emailed, timeout=20)
    customer_mail = await emailed(stack, cast.customer, number)
    assert f"Your request {number} was received" in customer_mail
    assert f"Your request {number}: the technician recommends replace the compressor" in customer_mail
    provider_mail = await emailed(stack, cast.provider, number)
    assert provider_mail.count(f"Request {number} was offered to a provider") == 2
    assert f"Request {number}: the customer approved a recommendation" in provider_mail
    dispatcher_mail = await emailed(stack, cast.dispatcher, number)
    assert f"Request {number}: a provider declined work order {wo}" in dispatcher_mail
    for user in (cast.customer, cast.provider, cast.dispatcher):
        feed = await subjects(user, number)
        assert sorted(await emailed(stack, user, number)) == sorted(feed), user.email


async def test_payments_reach_the_provider_and_never_the_customer(stack, api, cast):
    final = await lifecycle(api, cast, invoice_number="PAY" + uuid.uuid4().hex[:6].upper())
    number = final["number"]
    feed = await heard(cast.provider, number, f"Request {number} was paid")
    assert f"Request {number} has its provider payment approved" in feed and f"Request {number} was paid" in feed
    assert f"Request {number} was paid" in await emailed(stack, cast.provider, number)
    paid = next(
        n for n in (await cast.provider.get("/notifications"))["items"] if n["subject"] == f"Request {number} was paid"
    )
    assert f"Payment reference: {final['payment_reference']}" in paid["body"]
    # The provider's invoice and payment are between the provider and the operator (docs/api.md).
    for told in (await subjects(cast.customer, number), await emailed(stack, cast.customer, number)):
        assert not [s for s in told if "provider" in s.lower() or "paid" in s], told


async def test_unread_counts_and_mark_as_read(stack, api, cast):
    number = await new_request(cast)
    await cast.dispatcher.post(f"/work-events/{number}/publish")  # published after the workflow recorded its draft

    async def both():  # feed entries follow the action's answer
        feed = await cast.customer.get("/notifications")
        return feed if len(feed["items"]) == 2 else None

    feed = await wait_for(both, timeout=20)
    assert feed["unread_count"] == len(feed["items"]) == 2
    newest, oldest = feed["items"]
    assert newest["read_at"] is None and newest["subject"] == f"Your request {number} is now submitted"

    read = await cast.customer.post(f"/notifications/{oldest['id']}/read")
    assert read["read_at"] is not None
    assert (await cast.customer.post(f"/notifications/{oldest['id']}/read"))["read_at"] == read["read_at"]
    after = await cast.customer.get("/notifications")
    assert after["unread_count"] == 1
    assert [n["id"] for n in (await cast.customer.get("/notifications?unread=true"))["items"]] == [newest["id"]]
    assert [n["id"] for n in (await cast.customer.get("/notifications?unread=false"))["items"]] == [oldest["id"]]
    # Someone else's notification does not exist for this user.
    await refused(cast.provider, "POST", f"/notifications/{newest['id']}/read", 404)
    assert (await cast.customer.get("/notifications"))["unread_count"] == 1
