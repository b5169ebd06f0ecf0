"""The clocks a dispatcher would otherwise watch, as workflow timers, proven on the time-skipping server with the
real activities: acceptance expiry, SLA breach, awaiting_parts excluded from the due time, recommendation reminders."""

from __future__ import annotations

from shared.contracts.enums import Priority, Status
from shared.contracts.models import RecommendCommand, RespondCommand, WorkOrderCommand
from shared.contracts.search import SLA_KEY, STATUS_KEY
from tests.workflows.harness import hours


async def test_unaccepted_offer_is_withdrawn_and_dispatcher_emailed(wf):
    handle = await wf.start(priority=Priority.high)  # high: four hours to accept
    offered = await wf.to_offered(handle, provider=1)
    work_order = offered.work_order_number
    assert offered.status == Status.waiting_acceptance
    assert offered.accept_by - offered.created_at >= hours(4) - hours(0.1)

    await wf.env.sleep(hours(3.5))
    assert (await wf.state(handle)).status == Status.waiting_acceptance  # not a minute early

    await wf.env.sleep(hours(1))
    state = await wf.until(lambda: wf.state(handle), lambda s: s.status == Status.published)
    assert state.work_order_number is None and state.accept_by is None and state.provider_id is None

    row = await wf.until(lambda: wf.work_order(work_order), lambda w: w.status == "withdrawn")
    assert row.status == "withdrawn"
    entries = await wf.until(lambda: wf.timeline(state.number), lambda es: any(e.detail.get("reason") for e in es))
    expired = next(e for e in entries if e.detail.get("reason"))
    assert expired.status == "published" and expired.previous_status == "waiting_acceptance"
    assert expired.detail["work_order_number"] == work_order and expired.actor_user_id is None
    mails = await wf.eventually(lambda: _mails(wf, state.number, wf.people.emails["dispatcher"]))
    assert any("ready for routing" in m["Subject"] and work_order in m.get_content() for m in mails)
    assert (await wf.read_copy(state.number)).status == "published"
    assert (await wf.search_attributes(handle))[STATUS_KEY] == "published"

    # Accepting the withdrawn offer is refused, naming the status.
    try:
        await wf.update(handle, "accept", WorkOrderCommand(actor=wf.people.providers[1], work_order_number=work_order))
        raise AssertionError("accepted a withdrawn offer")
    except Exception as exc:  # WorkflowUpdateFailedError
        assert "published" in str(exc.cause)
    await wf.record(handle, "acceptance_expired")


async def test_sla_breach_flags_request_and_search_attribute(wf):
    handle = await wf.start(priority=Priority.high)  # high: due 24 hours after submission
    state = await wf.to_in_progress(handle, provider=1)
    assert state.due_at == state.created_at + hours(24)
    assert (await wf.search_attributes(handle))[SLA_KEY] is False

    await wf.env.sleep(hours(23))
    assert (await wf.state(handle)).sla_breached is False
    await wf.env.sleep(hours(1.5))
    state = await wf.until(lambda: wf.state(handle), lambda s: s.sla_breached)
    assert state.status == Status.in_progress  # flagged, not stopped

    assert (await wf.until(lambda: wf.read_copy(state.number), lambda r: r.sla_breached)).sla_breached is True
    assert (await wf.search_attributes(handle))[SLA_KEY] is True
    mails = await wf.eventually(lambda: _mails(wf, state.number, wf.people.emails["dispatcher"], "past its due"))
    assert len(mails) == 1
    entries = await wf.timeline(state.number)
    assert [e.kind for e in entries].count("sla_breached") == 1
    # Flagged once: more time passing sends nothing more.
    await wf.env.sleep(hours(48))
    await wf.update(handle, "await_parts", wf.wo(state, 1))
    assert len(_mails_now(wf, state.number, wf.people.emails["dispatcher"], "past its due")) == 1
    await wf.record(handle, "sla_breached")


async def test_time_awaiting_parts_does_not_count(wf):
    handle = await wf.start(priority=Priority.high)
    state = await wf.to_in_progress(handle, provider=1)
    due = state.due_at
    await wf.env.sleep(hours(2))
    paused = await wf.update(handle, "await_parts", wf.wo(state, 1))
    assert paused.status == Status.awaiting_parts

    await wf.env.sleep(hours(30))  # well past the original due time, all of it waiting for parts
    still = await wf.state(handle)
    assert still.sla_breached is False and still.status == Status.awaiting_parts

    resumed = await wf.update(handle, "resume", wf.wo(state, 1))
    assert resumed.status == Status.in_progress
    pause = resumed.due_at - due
    assert hours(30) <= pause < hours(30.5), pause  # pushed later by the time spent waiting
    copy = await wf.until(lambda: wf.read_copy(state.number), lambda r: r.due_at == resumed.due_at)
    assert copy.due_at == resumed.due_at

    # 2 h worked before the pause; 21 h more is still inside the 24 h.
    await wf.env.sleep(hours(21))
    assert (await wf.state(handle)).sla_breached is False
    await wf.env.sleep(hours(2))
    assert (await wf.until(lambda: wf.state(handle), lambda s: s.sla_breached)).sla_breached is True
    await wf.record(handle, "awaiting_parts")


async def test_unanswered_recommendation_is_reminded(wf):
    handle = await wf.start(priority=Priority.low)  # low: 10 days due, so only the reminder fires
    state = await wf.to_in_progress(handle, provider=2)
    posted = await wf.update(
        handle,
        "recommend",
        RecommendCommand(
            actor=wf.people.providers[2],
            recommendation_id=501,
            summary="replace the compressor",
            estimated_cost="950.00",
        ),
    )
    assert posted.recommendations[0].decision is None
    customer = wf.people.emails["customer"]
    assert await wf.eventually(lambda: _mails(wf, state.number, customer, "recommends replace the compressor"))

    await wf.env.sleep(hours(47))
    assert not _mails_now(wf, state.number, customer, "waiting for your answer")
    await wf.env.sleep(hours(2))
    reminders = await wf.eventually(lambda: _mails(wf, state.number, customer, "waiting for your answer"))
    assert len(reminders) == 1
    entries = await wf.timeline(state.number)
    reminder = next(e for e in entries if e.kind == "reminder")
    assert reminder.detail["recommendation_id"] == 501

    # One reminder, not one a day; an answer stops it for good.
    await wf.env.sleep(hours(72))
    assert len(_mails_now(wf, state.number, customer, "waiting for your answer")) == 1
    answered = await wf.update(
        handle,
        "respond",
        RespondCommand(actor=wf.people.customer, recommendation_id=501, decision="approve", comment="go ahead"),
    )
    assert answered.recommendations[0].decision == "approve"
    await wf.env.sleep(hours(100))
    assert len(_mails_now(wf, state.number, customer, "waiting for your answer")) == 1
    await wf.record(handle, "recommendation_reminder")


# --- small polls ------------------------------------------------------------------------------------
def _mails_now(wf, number, to, subject_part=""):
    return [m for m in wf.mails(number, to) if subject_part in m["Subject"]]


async def _mails(wf, number, to, subject_part=""):
    return _mails_now(wf, number, to, subject_part)
