"""The lifecycle table (workflows/lifecycle.py) on its own, without Temporal: every action of the workflow has
a row, the happy paths walk through it, nothing leaves a closed request, and everybody is told what they must be."""

from __future__ import annotations

import typing

import pytest

from shared.contracts import names
from shared.contracts.enums import BUCKETS, DONE, WORKING, Status
from shared.contracts.models import Audience
from workflows import lifecycle
from workflows.lifecycle import OFFER_EXPIRED, STEPS, after
from workflows.service_request import ServiceRequestWorkflow

ACTIONS = {
    names.PUBLISH,
    names.ASSIGN,
    names.APPROVE_PAYMENT,
    names.CANCEL,
    names.MARK_INVOICED,
    names.MARK_INVOICE_NOT_REQUIRED,
    names.RECORD_CUSTOMER_PAYMENT,
    names.ACCEPT,
    names.DECLINE,
    names.SCHEDULE,
    names.START_WORK,
    names.AWAIT_PARTS,
    names.RESUME,
    names.READY_FOR_RETURN,
    names.COMPLETE,
    names.SUBMIT_INVOICE,
    names.RECOMMEND,
    names.RESPOND,
}


def walk(status: Status, *actions: str) -> Status:
    for action in actions:
        following = after(action, status)
        assert following is not None, f"{action} is not allowed from {status}"
        status = following
    return status


def test_every_update_and_the_payment_signal_has_a_row_and_nothing_else_does():
    assert set(STEPS) == ACTIONS | {names.PAYMENT_MADE, OFFER_EXPIRED}
    for action in ACTIONS | {names.PAYMENT_MADE}:
        assert callable(getattr(ServiceRequestWorkflow, action)), action


def test_the_paid_path_and_the_walk_in_path():
    assert (
        walk(
            Status.draft,
            names.PUBLISH,
            names.ASSIGN,
            names.ACCEPT,
            names.SCHEDULE,
            names.START_WORK,
            names.AWAIT_PARTS,
            names.RESUME,
            names.COMPLETE,
            names.SUBMIT_INVOICE,
            names.APPROVE_PAYMENT,
            names.PAYMENT_MADE,
            names.MARK_INVOICE_NOT_REQUIRED,
        )
        == Status.paid
    )
    assert (
        walk(Status.published, names.ASSIGN, names.ACCEPT, names.START_WORK, names.READY_FOR_RETURN, names.COMPLETE)
        == Status.completed
    )


def test_offers_come_back_to_the_dispatcher_and_may_be_made_again():
    assert walk(Status.published, names.ASSIGN, names.DECLINE) == Status.published
    assert walk(Status.published, names.ASSIGN, OFFER_EXPIRED) == Status.published
    assert walk(Status.published, names.ASSIGN, names.ASSIGN, names.ACCEPT, names.ASSIGN) == Status.waiting_acceptance
    assert after(names.ASSIGN, Status.in_progress) is None  # once work started, it stays with its provider


@pytest.mark.parametrize(
    "action,refused_from",
    [
        (names.PUBLISH, Status.published),
        (names.ACCEPT, Status.published),
        (names.ACCEPT, Status.accepted),
        (names.START_WORK, Status.waiting_acceptance),
        (names.COMPLETE, Status.accepted),
        (names.READY_FOR_RETURN, Status.awaiting_parts),
        (names.SUBMIT_INVOICE, Status.in_progress),
        (names.APPROVE_PAYMENT, Status.completed),
        (names.PAYMENT_MADE, Status.invoice_submitted),
        (names.CANCEL, Status.completed),
        (names.MARK_INVOICED, Status.completed),
        (names.MARK_INVOICE_NOT_REQUIRED, Status.in_progress),
        (names.RECOMMEND, Status.completed),
    ],
)
def test_wrong_statuses_are_refused(action, refused_from):
    assert after(action, refused_from) is None


def test_nothing_leaves_a_cancelled_request_and_only_billing_follows_a_paid_one():
    assert [a for a in STEPS if after(a, Status.cancelled) is not None] == []
    from_paid = {a for a in STEPS if after(a, Status.paid) is not None}
    assert from_paid == {
        names.MARK_INVOICED,
        names.MARK_INVOICE_NOT_REQUIRED,
        names.RECORD_CUSTOMER_PAYMENT,
        names.RESPOND,
    }
    assert all(after(a, Status.paid) == Status.paid for a in from_paid)


def test_every_status_but_draft_is_some_action_s_target():
    targets = {s.target for s in STEPS.values() if s.target is not None}
    assert targets == set(Status) - {Status.draft}


def test_events_that_keep_the_status_say_what_they_are_about():
    for name, step in STEPS.items():
        assert (step.target is None) == (step.kind != "status_change"), name


def test_the_customer_hears_of_every_status_change_and_audiences_are_known():
    known = set(typing.get_args(Audience))
    for name, step in STEPS.items():
        assert set(step.audiences) <= known, name
        if step.target is not None:
            assert "customer" in step.audiences, name
    # An offer goes to those it is made to; the provider's side of billing stays between provider and operator.
    assert "offer" in STEPS[names.ASSIGN].audiences
    assert "provider" in STEPS[names.APPROVE_PAYMENT].audiences and "provider" in STEPS[names.PAYMENT_MADE].audiences


def test_the_table_s_status_sets_match_the_dashboard_buckets():
    assert BUCKETS["draft"] + BUCKETS["published"] + BUCKETS["assigned"] == lifecycle.BEFORE_ACCEPT
    assert STEPS[names.CANCEL].allowed == lifecycle.BEFORE_ACCEPT + WORKING
    assert STEPS[names.MARK_INVOICE_NOT_REQUIRED].allowed == DONE
    assert STEPS[names.RECOMMEND].allowed == WORKING
