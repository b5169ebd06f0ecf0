"""Each path of the lifecycle through the workflow with the real activities; each history is kept for replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError, WorkflowUpdateStage

from services.notifications.models import Email
from shared.contracts import names
from shared.contracts.enums import BillingStatus, Kind, OfferKind, Priority, Status
from shared.contracts.models import (
    AssignCommand,
    CancelCommand,
    Command,
    CompleteCommand,
    RequestState,
    SubmitInvoiceCommand,
)
from shared.contracts.wording import status_words
from tests.support.api import PAID_PATH


async def refused(coro, *words: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    message = str(info.value.cause)
    for word in words:
        assert word in message, message
    return message


async def test_paid_path_pays_once_and_ends(wf):
    handle = await wf.start(priority=Priority.normal)
    state = await wf.to_offered(handle, provider=1)
    p1 = wf.people.providers[1]
    await wf.update(handle, "accept", wf.wo(state, 1))

    slot = datetime(2030, 1, 15, 9, tzinfo=UTC)
    await wf.update(handle, "schedule", wf.wo(state, 1, scheduled_for=slot))
    await wf.update(handle, "start_work", wf.wo(state, 1))
    await wf.update(
        handle,
        "complete",
        CompleteCommand(actor=p1, work_order_number=state.work_order_number, invoice_attachment_id="a1", notes="done"),
    )
    await wf.provider_invoice(state, 1, "INV77")
    await wf.update(
        handle,
        "submit_invoice",
        SubmitInvoiceCommand(actor=p1, work_order_number=state.work_order_number, invoice_number="INV77"),
    )
    approved = await wf.update(handle, "approve_payment", Command(actor=wf.people.dispatcher))
    assert approved.status == Status.payment_approved

    first = await wf.payment_run()
    assert [p.reference for p in first.payments if p.request_number == state.number] == [
        f"INV77{state.work_order_number}"
    ]
    second = await wf.payment_run()
    assert not [p for p in second.payments if p.request_number == state.number]  # paid exactly once
    paid = await wf.until(lambda: wf.state(handle), lambda s: s.status == Status.paid)
    assert paid.payment_reference == f"INV77{state.work_order_number}"
    assert len(await wf.payments_of(state.number)) == 1

    await wf.update(handle, "mark_invoice_not_required", Command(actor=wf.people.dispatcher))
    final = await wf.result(handle)
    assert final.status == Status.paid and final.billing_status == BillingStatus.not_required
    assert (await wf.work_order(state.work_order_number)).status == "paid"
    entries = await wf.timeline(state.number)
    assert [e.status for e in entries if e.kind == "status_change"] == PAID_PATH
    await wf.record(handle, "paid")


async def test_decline_returns_to_published_and_voids_the_work_order(wf):
    handle = await wf.start()
    state = await wf.to_offered(handle, provider=1)
    declined = await wf.update(handle, "decline", wf.wo(state, 1, notes="no capacity"))
    assert declined.status == Status.published and declined.work_order_number is None
    voided = await wf.until(lambda: wf.work_order(state.work_order_number), lambda w: w.status == "voided")
    assert voided.status == "voided"
    assert await wf.eventually(lambda: _mail(wf, state.number, wf.people.emails["dispatcher"], "ready for routing"))
    # Offered again to another provider: a new number.
    again = await wf.update(
        handle, "assign", AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.provider, provider_id=2)
    )
    assert again.work_order_number != state.work_order_number
    await wf.update(handle, "cancel", CancelCommand(actor=wf.people.customer, reason="fixed it ourselves"))
    assert (await wf.result(handle)).status == Status.cancelled
    assert [w.status for w in await wf.work_orders_of(state.number)] == ["voided", "voided"]
    await wf.record(handle, "declined")


async def test_reassign_voids_old_work_order_and_issues_new_number(wf):
    handle = await wf.start()
    state = await wf.to_offered(handle, provider=1)
    await wf.update(handle, "accept", wf.wo(state, 1))
    moved = await wf.update(
        handle, "assign", AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.provider, provider_id=2)
    )
    assert moved.status == Status.waiting_acceptance and moved.provider_id is None
    assert int(moved.work_order_number) > int(state.work_order_number)
    voided = await wf.until(lambda: wf.work_order(state.work_order_number), lambda w: w.status == "voided")
    assert voided.status == "voided"
    # The first provider's number is dead.
    await refused(wf.update(handle, "start_work", wf.wo(state, 1)), "waiting_acceptance")
    await wf.update(handle, "accept", wf.wo(moved, 2))
    # The same assignment sent twice changes nothing the second time.
    same = AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.provider, provider_id=3)
    third = await wf.update(handle, "assign", same)
    repeat = await wf.update(handle, "assign", same)
    assert repeat.work_order_number == third.work_order_number and repeat.version == third.version
    rows = await wf.work_orders_of(state.number)
    assert [(w.assignment, w.status) for w in rows] == [(1, "voided"), (2, "voided"), (3, "offered")]
    await wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="duplicate"))
    await wf.result(handle)
    await wf.record(handle, "reassigned")


async def test_team_offer_first_accept_wins_even_at_once(wf):
    handle = await wf.start()
    await wf.update(handle, "publish", Command(actor=wf.people.dispatcher))
    offered = await wf.update(
        handle,
        "assign",
        AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.team, team_id=7, provider_ids=[1, 2, 3]),
    )
    # One member declines: the offer stays open for the others.
    still = await wf.update(handle, "decline", wf.wo(offered, 3))
    assert still.status == Status.waiting_acceptance and still.work_order_number == offered.work_order_number
    await refused(wf.update(handle, "accept", wf.wo(offered, 3)), "waiting_acceptance")  # never mind, declined
    results = await asyncio.gather(
        *(wf.update(handle, "accept", wf.wo(offered, p)) for p in (1, 2)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, WorkflowUpdateFailedError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "accepted" in str(losers[0].cause)
    state = await wf.state(handle)
    assert state.status == Status.accepted and state.provider_id == winners[0].provider_id
    accepted = await wf.until(lambda: wf.work_order(offered.work_order_number), lambda w: w.status == "accepted")
    assert accepted.accepted_by == state.provider_id
    await wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="test over"))
    await wf.result(handle)
    await wf.record(handle, "team_offer")


async def test_team_offer_declined_by_all_returns_to_published(wf):
    handle = await wf.start()
    await wf.update(handle, "publish", Command(actor=wf.people.dispatcher))
    offered = await wf.update(
        handle,
        "assign",
        AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.team, team_id=7, provider_ids=[1, 2]),
    )
    await wf.update(handle, "decline", wf.wo(offered, 1))
    await refused(wf.update(handle, "decline", wf.wo(offered, 1)), "already declined")
    last = await wf.update(handle, "decline", wf.wo(offered, 2))
    assert last.status == Status.published
    voided = await wf.until(lambda: wf.work_order(offered.work_order_number), lambda w: w.status == "voided")
    assert voided.status == "voided"
    await wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="test over", delete=True))
    await wf.result(handle)


async def test_marketplace_offer_and_walk_in_return(wf):
    handle = await wf.start(kind=Kind.walk_in, priority=Priority.low)
    await wf.update(handle, "publish", Command(actor=wf.people.dispatcher))
    offered = await wf.update(
        handle, "assign", AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.marketplace)
    )
    results = await asyncio.gather(
        *(wf.update(handle, "accept", wf.wo(offered, p)) for p in (1, 2, 3)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1, results
    state = await wf.state(handle)
    holder = state.provider_id
    await wf.update(handle, "start_work", wf.wo(state, holder))
    await wf.update(handle, "await_parts", wf.wo(state, holder))
    await wf.update(handle, "resume", wf.wo(state, holder))
    ready = await wf.update(handle, "ready_for_return", wf.wo(state, holder))
    assert ready.status == Status.ready_for_return
    done = await wf.update(
        handle,
        "complete",
        CompleteCommand(
            actor=wf.people.providers[holder], work_order_number=state.work_order_number, invoice_attachment_id="a2"
        ),
    )
    assert done.status == Status.completed
    await refused(wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="late")), "completed")
    await wf.record(handle, "marketplace_walk_in")


async def test_ready_for_return_is_walk_in_only_and_customer_cancel_rules(wf):
    handle = await wf.start(kind=Kind.service_call)
    state = await wf.to_in_progress(handle, provider=1)
    await refused(wf.update(handle, "ready_for_return", wf.wo(state, 1)), "in_progress", "walk-in")
    await refused(wf.update(handle, "cancel", CancelCommand(actor=wf.people.customer, reason="x")), "in_progress")
    await refused(
        wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="x", delete=True)), "in_progress"
    )
    cancelled = await wf.update(handle, "cancel", CancelCommand(actor=wf.people.dispatcher, reason="customer moved"))
    assert cancelled.status == Status.cancelled
    assert (await wf.result(handle)).cancel_reason == "customer moved"
    voided = await wf.until(lambda: wf.work_order(state.work_order_number), lambda w: w.status == "voided")
    assert voided.status == "voided"
    assert await wf.eventually(lambda: _mail(wf, state.number, wf.people.emails["provider1"], "was cancelled"))
    await wf.record(handle, "cancelled_in_progress")


async def test_same_update_id_changes_the_request_once(wf):
    handle = await wf.start()
    await wf.update(handle, "publish", Command(actor=wf.people.dispatcher), id="key-publish")
    again = await wf.update(handle, "publish", Command(actor=wf.people.dispatcher), id="key-publish")
    assert again.status == Status.published and again.version == 2  # the first answer, replayed
    entries = await wf.timeline(again.number)
    assert [e.status for e in entries] == ["draft", "published"]
    await wf.update(handle, "cancel", CancelCommand(actor=wf.people.customer, reason="no longer needed"))
    await wf.result(handle)
    await wf.record(handle, "cancelled_by_customer")


async def _all_sent(wf, number) -> bool:
    async with wf.states["notifications"].db.sessions() as db:
        statuses = (await db.execute(select(Email.status).where(Email.subject.contains(number)))).scalars().all()
    return bool(statuses) and set(statuses) == {"sent"}


async def _mail(wf, number, to, subject_part):
    return [m for m in wf.mails(number, to) if subject_part in m["Subject"]]


async def test_update_delivered_with_the_first_task_is_recorded_after_creation(wf):
    """A request whose worker was down when it was created and published: the first workflow task carries both
    the start and the publish update, and the handler runs before `run`. Creation must still come first."""
    queue = f"first-task-{wf._counter}"
    handle = await wf.start(task_queue=queue)
    publishing = asyncio.create_task(wf.update(handle, "publish", Command(actor=wf.people.dispatcher)))
    await asyncio.sleep(1)  # the update waits in the server with the start: nobody polls this queue yet
    async with wf.workflow_worker(queue):
        published = await publishing
        assert published.status == Status.published and published.version == 2
        entries = await wf.until(lambda: wf.timeline(published.number), lambda es: len(es) == 2)
        assert [(e.seq, e.status, e.previous_status) for e in entries] == [
            (1, "draft", None),
            (2, "published", "draft"),
        ]
        assert [e.id for e in entries] == sorted(e.id for e in entries)  # recorded in that order too
        await wf.update(handle, "cancel", CancelCommand(actor=wf.people.customer, reason="test over"))
        await wf.result(handle)
        await wf.record(handle, "update_with_first_task")


async def test_cancel_racing_an_assignment_leaves_no_live_work_order(wf):
    """The customer cancels while the dispatcher's assignment is still getting its work-order number."""
    handle = await wf.start()
    await wf.update(handle, "publish", Command(actor=wf.people.dispatcher))
    with wf.writes_held("routing"):  # routing cannot issue the number until the cancel is through
        assigning = await handle.start_update(
            "assign",
            AssignCommand(actor=wf.people.dispatcher, offer_kind=OfferKind.provider, provider_id=1),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=RequestState,
        )
        cancelled = await wf.update(handle, "cancel", CancelCommand(actor=wf.people.customer, reason="changed my mind"))
        assert cancelled.status == Status.cancelled and cancelled.work_order_number is None
        assert await wf.work_orders_of(cancelled.number) == []  # the number really was still being issued
    assigned = await assigning.result()
    assert assigned.status == Status.cancelled and assigned.work_order_number is None
    final = await wf.result(handle)
    assert final.status == Status.cancelled
    rows = await wf.work_orders_of(final.number)
    assert len(rows) == 1 and rows[0].status == "voided", [(w.number, w.status) for w in rows]
    entries = await wf.timeline(final.number)
    assert [(e.kind, e.status) for e in entries] == [
        ("status_change", "draft"),
        ("status_change", "published"),
        ("status_change", "cancelled"),
        ("offer_voided", "cancelled"),
    ]
    assert entries[-1].detail["work_order_number"] == rows[0].number


async def test_an_actions_work_order_change_runs_beside_its_read_copy(wf):
    """An action's work-order change and the writing of its read copy run side by side: with routing's writes
    held, the acceptance is in the read copy while the work order waits, and the action answers once both are in."""
    handle = await wf.start()
    state = await wf.to_offered(handle, provider=1)
    with wf.writes_held("routing"):
        accepting = await handle.start_update(
            names.ACCEPT, wf.wo(state, 1), wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=RequestState
        )
        answer = asyncio.ensure_future(accepting.result())
        read = await wf.until(lambda: wf.read_copy(state.number), lambda r: r.status == Status.accepted.value)
        assert read.provider_id == 1
        assert (await wf.work_order(state.work_order_number)).status == "offered"
        await asyncio.sleep(0.5)
        assert not answer.done()  # the work order is not changed yet
    accepted = await answer
    assert accepted.status == Status.accepted
    assert (await wf.work_order(state.work_order_number)).status == "accepted"
    await wf.update(handle, names.CANCEL, CancelCommand(actor=wf.people.dispatcher, reason="test over"))
    assert (await wf.result(handle)).status == Status.cancelled


async def test_actions_answer_before_their_emails_which_follow_in_order_before_the_end(wf):
    """Emails and feed entries are off an action's critical path: with the notifications database held, actions
    still answer; what they caused is delivered afterwards, in the order it happened, and the workflow ends only
    once all of it is out."""
    handle = await wf.start()
    customer, d = wf.people.emails["customer"], wf.people.dispatcher
    steps = (
        (names.PUBLISH, Command(actor=d)),
        (names.ASSIGN, AssignCommand(actor=d, offer_kind=OfferKind.provider, provider_id=1)),
        (names.CANCEL, CancelCommand(actor=d, reason="test over")),
    )
    number = (await wf.state(handle)).number
    await wf.eventually(lambda: _all_sent(wf, number))  # the creation's email, its sending finished
    with wf.writes_held("notifications"):
        for update, command in steps:
            state = await asyncio.wait_for(wf.update(handle, update, command), timeout=20)
        assert state.status == Status.cancelled
        assert len(wf.mails(number, customer)) == 1  # the creation's, from before
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await wf.result(handle)
    # Nothing is awaited here: the workflow ended, so every email was already out.
    subjects = [" ".join(m["Subject"].split()) for m in wf.mails(number, customer)]
    assert subjects == [f"Your request {number} was received"] + [
        f"Your request {number} is now {status_words(s, customer=True).lower()}"
        for s in ("published", "waiting_acceptance", "cancelled")
    ]
