"""What a customer sees (docs/api.md, "What a customer sees"; issue 8, items 5 and 6), through the real stack.

After a whole lifecycle the customer reads its request as `completed`, with no payment reference, provider invoice
number or provider amounts, in every answer it gets and every email it receives, while the dispatcher and the
provider still see `paid` and the reference. Every notification email links to its request's page in the portal,
in people's words; the recommendation email links straight to the page that answers it."""

from __future__ import annotations

import json
import re
import uuid
from email.message import Message

from tests.portal.support import accepted_request, read_mail, wait_mail
from tests.support.api import lifecycle, wait_for

PROVIDER_BILLING = {"invoice_submitted", "payment_approved", "paid"}
RAW_STATUSES = {"waiting_acceptance", "in_progress", "awaiting_parts", "ready_for_return", *PROVIDER_BILLING}
# The provider's invoice lines in tests/support/api.py lifecycle, and their total.
PROVIDER_AMOUNTS = ("120.00", "80.50", "20.05", "220.55")
# What the operators read of the provider billing (people's names may say "Provider": these phrases may not).
PROVIDER_BILLING_WORDS = (
    "provider invoice",
    "provider payment",
    "provider paid",
    "payment reference",
    "was paid",
    "payment approved",
)


def body_of(message: Message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def subject_of(message: Message) -> str:
    # A long Subject may be folded onto its next line: read it unfolded, as a mail client shows it.
    return " ".join(message["Subject"].split())


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in (*secrets, *PROVIDER_BILLING_WORDS) if s in text.lower() or s in text]


async def test_customer_sees_completed_and_nothing_of_the_provider_billing(stack, api, cast):
    c, d, p = cast.customer, cast.dispatcher, cast.provider
    invoice_number = "CV" + uuid.uuid4().hex[:8].upper()
    before = (await c.get("/changes"))["last_id"]
    final = await lifecycle(api, cast, invoice_number=invoice_number)
    number, wo = final["number"], final["work_order_number"]
    reference = f"{invoice_number}{wo}"
    secrets = [invoice_number, reference, *PROVIDER_AMOUNTS]

    # Operators and the provider see everything, as before.
    for user in (d, p):
        seen = await user.get(f"/requests/{number}")
        assert (seen["status"], seen["payment_reference"], seen["billing_status"]) == ("paid", reference, "paid")
    assert [r["number"] for r in (await d.get(f"/requests?q={number}&status=paid"))["items"]] == [number]
    assert (await d.get(f"/requests?q={number}&status=completed"))["items"] == []

    # The request, alone and in lists: completed, no payment reference; the customer's own billing as it is.
    mine = await c.get(f"/requests/{number}")
    assert (mine["status"], mine["billing_status"], mine["work_order_number"]) == ("completed", "paid", wo)
    assert mine.get("payment_reference") is None and not secrets_in(json.dumps(mine), secrets)
    listed = (await c.get(f"/requests?q={number}"))["items"]
    assert [(r["number"], r["status"], r.get("payment_reference")) for r in listed] == [(number, "completed", None)]
    assert [r["number"] for r in (await c.get(f"/requests?q={number}&status=completed"))["items"]] == [number]
    assert [r["number"] for r in (await c.get(f"/requests?q={number}&status=draft&status=completed"))["items"]] == [
        number
    ]
    assert (await c.get(f"/requests?q={number}&status=in_progress"))["items"] == []
    asset = await c.get(f"/assets/{cast.asset_id}")
    assert [(r["status"], r.get("payment_reference")) for r in asset["requests"] if r["number"] == number] == [
        ("completed", None)
    ]

    # The timeline: every status change up to completed, the customer's own invoice and payment; nothing of the
    # provider's invoice (its copy included) or payment.
    everything = (await d.get(f"/requests/{number}/timeline"))["items"]
    assert [e["status"] for e in everything if e["kind"] == "status_change"][-3:] == [
        "invoice_submitted",
        "payment_approved",
        "paid",
    ]
    timeline = (await c.get(f"/requests/{number}/timeline"))["items"]
    assert [e["status"] for e in timeline if e["kind"] == "status_change"] == [
        "draft",
        "published",
        "waiting_acceptance",
        "accepted",
        "scheduled",
        "in_progress",
        "completed",
    ]
    assert {e["kind"] for e in timeline} >= {"invoice", "payment"}
    assert not [e for e in timeline if e["kind"] == "attachment" and e["detail"]["kind"] == "provider_invoice"]
    assert not {e["status"] for e in timeline} & PROVIDER_BILLING
    assert not {e["previous_status"] for e in timeline} & PROVIDER_BILLING
    assert not secrets_in(json.dumps(timeline), secrets) and "invoice_attachment_id" not in json.dumps(timeline)

    # Attachments: the provider's invoice copy is not the customer's to list or download.
    copies = [a for a in (await d.get(f"/requests/{number}/attachments"))["items"] if a["kind"] == "provider_invoice"]
    assert len(copies) == 1
    listed = (await c.get(f"/requests/{number}/attachments"))["items"]
    assert [a for a in listed if a["kind"] == "provider_invoice"] == []
    hidden = await api.http.get(f"/requests/{number}/attachments/{copies[0]['id']}/download", headers=c.headers)
    assert hidden.status_code == 404
    assert (
        await api.http.get(f"/requests/{number}/attachments/{copies[0]['id']}/download", headers=d.headers)
    ).status_code == 307

    # The change feed: the customer is not told of the provider billing; the dispatcher is.
    mine_changed = [i for i in (await c.get(f"/changes?after={before}&limit=500"))["items"] if i["number"] == number]
    theirs = [i for i in (await d.get(f"/changes?after={before}&limit=500"))["items"] if i["number"] == number]
    assert {i["status"] for i in theirs} >= PROVIDER_BILLING
    assert mine_changed and not {i["status"] for i in mine_changed} & PROVIDER_BILLING
    assert len(theirs) - len(mine_changed) == 4  # three status changes and the invoice copy

    # A transition refused to the customer speaks of completed, not paid.
    refused = await api.http.post(f"/requests/{number}/cancel", headers=c.headers, json={"reason": "late"})
    assert refused.status_code == 409
    assert "completed" in refused.json()["detail"] and "paid" not in refused.json()["detail"]

    # Notifications and the overview.
    inbox = (await c.get("/me"))["notification_email"]
    await wait_mail(stack.mail_dir, inbox, f"Your request {number}: your payment was received")
    feed = [n for n in (await c.get("/notifications?limit=200"))["items"] if n["request_number"] == number]
    assert feed and not [n for n in feed if secrets_in(n["subject"] + n["body"], secrets)]
    assert f"Your request {number} is now in progress" in [n["subject"] for n in feed]
    overview = await c.get("/me/overview")
    recent = [r for r in overview["recent_requests"] if r["number"] == number]
    assert [(r["status"], r.get("payment_reference")) for r in recent] == [("completed", None)]
    assert not secrets_in(json.dumps(overview), secrets)

    # Emails to the customer: people's words, a link to the request's page, nothing of the provider billing.
    portal = stack.settings.portal_url.rstrip("/")
    emails = [m for m in read_mail(stack.mail_dir, inbox) if number in m["Subject"]]
    subjects = [subject_of(m) for m in emails]
    assert f"Your request {number} is now in progress" in subjects
    assert len([s for s in subjects if s.startswith(f"Your request {number} ")]) == 7, subjects
    assert len({m["Message-ID"] for m in emails}) == len(emails)
    for message in emails:
        text = subject_of(message) + "\n" + body_of(message)
        assert subject_of(message).startswith(f"Your request {number}"), text
        assert f"{portal}/requests/{number}" in body_of(message), text
        assert not {w for w in RAW_STATUSES if re.search(rf"\b{w}\b", text)}, text
        assert not secrets_in(text, secrets), text

    # The provider's emails keep the operator's words, the reference and the link.
    provider_inbox = (await p.get("/me")).get("notification_email") or p.email
    paid = await wait_mail(stack.mail_dir, provider_inbox, f"Request {number} was paid")
    assert f"Payment reference: {reference}" in body_of(paid[0])
    assert f"{portal}/requests/{number}" in body_of(paid[0])


async def test_recommendation_email_links_to_its_answer(stack, api, cast):
    number, _ = await accepted_request(cast, "Fan rattles")
    rec = await cast.provider.post(
        f"/requests/{number}/recommendations",
        {"summary": "Replace the fan bearing", "estimated_cost": "80.00"},
        expect=201,
    )
    inbox = (await cast.customer.get("/me"))["notification_email"]
    found = await wait_mail(stack.mail_dir, inbox, "recommends Replace the fan bearing")
    assert subject_of(found[0]) == f"Your request {number}: the technician recommends Replace the fan bearing"
    body = body_of(found[0])
    assert f"{stack.settings.portal_url.rstrip('/')}/requests/{number}/recommendations/{rec['id']}" in body
    assert "Estimated cost: 80.00" in body

    # A dispatcher's email of the same request links to the request's page, in the operators' words.
    await cast.customer.post(f"/requests/{number}/notes", {"body": "Please call first"}, expect=201)
    dispatcher_mail = await wait_for(lambda: _mails_about(stack, cast.dispatcher.email, number, "a new note"))
    assert f"{stack.settings.portal_url.rstrip('/')}/requests/{number}\n" in body_of(dispatcher_mail[0])
    assert "Please call first" in body_of(dispatcher_mail[0])


async def _mails_about(stack, to: str, number: str, words: str) -> list[Message]:
    return [m for m in read_mail(stack.mail_dir, to) if number in m["Subject"] and words in m["Subject"]]
