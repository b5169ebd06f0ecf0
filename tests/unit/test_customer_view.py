"""The customer's view of a request and its events (shared/contracts/customer_view.py) and the words of the
messages made from events (shared/contracts/messages.py): pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts import customer_view
from shared.contracts.messages import describe, portal_path
from shared.contracts.models import Actor, Recommendation, RequestState, TimelineEvent

AT = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
STATE = RequestState(
    number="SR-000145",
    customer_id=1,
    kind="service_call",
    priority="high",
    created_at=AT,
    recommendations=[Recommendation(id=7, summary="Replace impeller", posted_at=AT)],
)
PROVIDER = Actor(name="Pat Smith", role="provider")


def event(kind: str, status: str, previous: str | None = None, **detail) -> TimelineEvent:
    return TimelineEvent(
        seq=3, kind=kind, at=AT, actor=PROVIDER, status=status, previous_status=previous, detail=detail
    )


def test_provider_billing_statuses_read_completed_and_filters_find_them():
    assert [
        customer_view.status(s)
        for s in ("in_progress", "completed", "invoice_submitted", "payment_approved", "paid", None)
    ] == ["in_progress", "completed", "completed", "completed", "completed", None]
    assert set(customer_view.statuses_matching(["completed"])) == {
        "completed",
        "invoice_submitted",
        "payment_approved",
        "paid",
    }
    assert customer_view.statuses_matching(["draft", "cancelled"]) == ["draft", "cancelled"]
    seen = customer_view.request({"status": "paid", "payment_reference": "AB1600010001", "billing_status": "paid"})
    assert seen == {"status": "completed", "payment_reference": None, "billing_status": "paid"}


def test_provider_billing_events_are_hidden_and_the_rest_cleaned():
    hidden = [
        {"kind": "status_change", "status": s, "previous_status": "completed", "detail": {}}
        for s in ("invoice_submitted", "payment_approved", "paid")
    ]
    hidden.append({"kind": "attachment", "status": None, "detail": {"kind": "provider_invoice"}})
    assert [customer_view.event(e) for e in hidden] == [None] * 4
    completed = customer_view.event(
        {
            "kind": "status_change",
            "status": "completed",
            "previous_status": "in_progress",
            "detail": {"invoice_attachment_id": "x", "notes": "done"},
        }
    )
    assert completed["detail"] == {"notes": "done"}
    own_invoice = customer_view.event(
        {
            "kind": "invoice",
            "status": "paid",
            "previous_status": None,
            "detail": {"invoice_number": "CI-1", "total": "10.00"},
        }
    )
    assert own_invoice["status"] == "completed" and own_invoice["detail"] == {
        "invoice_number": "CI-1",
        "total": "10.00",
    }
    assert customer_view.message("cannot cancel SR-000001: its status is paid (closed)") == (
        "cannot cancel SR-000001: its status is completed (closed)"
    )


def test_messages_speak_to_people_in_their_own_words():
    change = event("status_change", "in_progress", "scheduled")
    assert describe(STATE, change, customer=True)[0] == "Your request SR-000145 is now in progress"
    assert describe(STATE, change)[0] == "Request SR-000145 is in progress"
    subject, body = describe(
        STATE, event("status_change", "published", "waiting_acceptance", work_order_number="600010001")
    )
    assert subject == "Request SR-000145 is ready for routing"
    assert "Ready for routing (before: Waiting for a technician)" in body and "Work order number: 600010001" in body
    assert "By Pat Smith, 15 Jan 2030, 09:00 UTC." in body
    for customer in (True, False):
        text = "\n".join(
            describe(
                STATE,
                event("status_change", "scheduled", "accepted", scheduled_for="2030-01-16T08:00:00+00:00"),
                customer=customer,
            )
        )
        assert "scheduled_for" not in text and "Scheduled for: 16 Jan 2030, 08:00 UTC" in text
    paid = describe(STATE, event("status_change", "paid", "payment_approved", payment_reference="AB1600010001"))
    assert paid[0] == "Request SR-000145 was paid" and "Payment reference: AB1600010001" in paid[1]
    response = describe(STATE, event("response", "in_progress", recommendation_id=7, decision="clarify"))
    assert response[0] == "Request SR-000145: the customer asked for clarification on a recommendation"
    assert "Recommendation: Replace impeller" in response[1]


def test_emails_link_to_the_request_or_to_the_recommendation_to_answer():
    assert portal_path(STATE, event("status_change", "completed", "in_progress")) == "/requests/SR-000145"
    recommendation = event("recommendation", "in_progress", recommendation_id=7, summary="Replace impeller")
    assert portal_path(STATE, recommendation) == "/requests/SR-000145/recommendations/7"
    assert portal_path(STATE, event("reminder", "in_progress", recommendation_id=7)) == (
        "/requests/SR-000145/recommendations/7"
    )
