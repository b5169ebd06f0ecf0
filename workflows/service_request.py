"""ServiceRequestWorkflow: the one durable owner of a service request's lifecycle.

Every transition is an Update whose validator rejects a wrong state before anything reaches history; the
handler checks again (two updates in one activation are both validated before either runs), changes the
state synchronously, then records the change through activities, in order (a lock for the read copy's writes,
one for work-order changes). What each action is allowed from, moves to and tells whom is the table in
workflows/lifecycle.py; `_advance` is its check-move-commit. An action answers once the read copy is written;
its emails and feed entries follow, in order, from one queue.
Timers (acceptance window, SLA due time, recommendation reminders) are workflow timers in `run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared.contracts import names
    from shared.contracts.enums import DONE, BillingStatus, Kind, OfferKind, Role, Status
    from shared.contracts.messages import describe
    from shared.contracts.models import (
        SYSTEM,
        Actor,
        AssignCommand,
        Audience,
        CancelCommand,
        Command,
        CompleteCommand,
        CustomerInvoiceIssued,
        CustomerPaymentCommand,
        Deliver,
        IssueCustomerInvoice,
        IssueWorkOrder,
        MarkProviderInvoice,
        NoteAdded,
        PaymentMade,
        Recipients,
        Recommendation,
        RecommendCommand,
        RecordTransition,
        RequestState,
        RespondCommand,
        SettleCustomerInvoice,
        StartRequest,
        SubmitInvoiceCommand,
        TimelineEvent,
        UpdateWorkOrder,
        WorkOrderCommand,
        WorkOrderIssued,
        WorkOrderStatus,
    )
    from shared.contracts.search import CUSTOMER_KEY, PRIORITY_KEY, PROVIDER_KEY, SLA_KEY, STATUS_KEY
    from workflows import lifecycle
    from workflows.lifecycle import BEFORE_ACCEPT, OFFER_EXPIRED

# Activities retry until they succeed: a service that is down delays a request, never loses a step.
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=10)
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)

# Patches (see README, "Changing the workflow"): runs started before each change replay the old way.
CREATION_FIRST = "creation-event-first"
REPEAT_IS_NOOP = "repeated-offer-or-slot-is-noop"
VOID_OVERTAKEN_OFFER = "void-overtaken-offer"
DELIVER_AFTER_ANSWER = "deliver-after-answer"
LOCAL_EFFECTS = "local-effects"
CONCURRENT_EFFECTS = "concurrent-effects"


def conflict(state: RequestState, action: str, why: str = "") -> ApplicationError:
    reason = f" ({why})" if why else ""
    return ApplicationError(
        f"cannot {action} {state.number}: its status is {state.status.value}{reason}",
        {"status": state.status.value},
        type="Conflict",
        non_retryable=True,
    )


def not_found(what: str) -> ApplicationError:
    return ApplicationError(f"{what} not found", type="NotFound", non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="Invalid", non_retryable=True)


@workflow.defn(name=names.SERVICE_REQUEST_WORKFLOW)
class ServiceRequestWorkflow:
    @workflow.init
    def __init__(self, start: StartRequest) -> None:
        self.start = start
        self.s = RequestState(
            number=start.number,
            customer_id=start.customer_id,
            kind=start.kind,
            priority=start.priority,
            created_at=start.created_at,
            due_at=start.created_at + start.clocks.due_within[start.priority.value],
        )
        self._effects = asyncio.Lock()
        self._changed = False
        # The creation event is captured here, before any update delivered with the first task can change the
        # status, and recorded first by `run`. Runs started before this change record it as they always did.
        self._creation_first = workflow.patched(CREATION_FIRST)
        self._created = self._event("status_change", start.actor, None) if self._creation_first else None
        self._creation_recording = not self._creation_first
        # Emails and feed entries wait here, in the order their events happened, for `_deliver_in_order`; the
        # action that caused them has answered by then. Runs started before this change deliver inside the action.
        self._deliver_later = workflow.patched(DELIVER_AFTER_ANSWER)
        self._deliveries: list[Deliver] = []
        self._delivering: asyncio.Task | None = None  # kept: a task nobody refers to may be collected
        # The effects on an action's critical path run as local activities (workflows/effects.py), so an action
        # answers in one workflow task; and search attributes are upserted only when they change. Runs started
        # before this change hand every effect to its service's task queue and upsert on every event.
        self._local_effects = workflow.patched(LOCAL_EFFECTS)
        self._upserted: list[SearchAttributeUpdate] | None = None
        # An action's work-order or invoice change runs beside the writing of its read copy, not before it: the
        # action answers after the slower of the two. Each kind keeps its own order (its own lock). Runs started
        # before this change make the change first, then write, under one lock.
        self._concurrent_effects = workflow.patched(CONCURRENT_EFFECTS)
        self._work_orders = asyncio.Lock() if self._concurrent_effects else self._effects

    # --- the main loop: timers --------------------------------------------------------------
    @workflow.run
    async def run(self, start: StartRequest) -> RequestState:
        if self._deliver_later:
            # Started before anything is recorded: every delivery is queued after this (see `_commit`).
            self._delivering = asyncio.create_task(self._deliver_in_order())
        self._search_attributes()
        if self._created is not None:
            self._search_attributes()  # as every commit does: recorded histories carry both upserts
            self._creation_recording = True
            await self._record(*self._created, ["customer"])
        else:
            await self._commit("status_change", start.actor, ["customer"], previous=None)
        while not self._ended():
            deadline = self._next_deadline()
            self._changed = False
            try:
                if deadline is None:
                    await workflow.wait_condition(lambda: self._changed)
                else:
                    wait = max(deadline - workflow.now(), timedelta(0))
                    await workflow.wait_condition(lambda: self._changed, timeout=wait)
            except TimeoutError:
                pass
            await self._fire_timers()
        # Every action answered and every email and feed entry out before the request's workflow ends.
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._deliveries)
        return self.s

    def _ended(self) -> bool:
        s = self.s
        if s.status == Status.cancelled:
            return True
        return s.status == Status.paid and s.billing_status in (BillingStatus.paid, BillingStatus.not_required)

    def _sla_running(self) -> bool:
        s = self.s
        return not s.sla_breached and s.status not in DONE and s.status not in (Status.cancelled, Status.awaiting_parts)

    def _reminder_due(self, rec: Recommendation) -> datetime:
        return rec.posted_at + self.start.clocks.recommendation_reminder_after

    def _next_deadline(self) -> datetime | None:
        s = self.s
        times: list[datetime] = []
        if s.status == Status.waiting_acceptance and s.accept_by:
            times.append(s.accept_by)
        if self._sla_running() and s.due_at:
            times.append(s.due_at)
        for rec in s.recommendations:
            if rec.decision in (None, "clarify") and not rec.reminded and s.status != Status.cancelled:
                times.append(self._reminder_due(rec))
        return min(times) if times else None

    async def _fire_timers(self) -> None:
        now = workflow.now()
        s = self.s
        if s.status == Status.waiting_acceptance and s.accept_by and now >= s.accept_by:
            # Nobody accepted in time: withdraw the offer and hand it back to the dispatcher.
            work_order = s.work_order_number
            self._clear_offer()
            await self._advance(
                OFFER_EXPIRED,
                SYSTEM,
                None,
                {"reason": "acceptance window expired", "work_order_number": work_order},
                beside=lambda: self._work_order(work_order, "withdrawn"),
            )
        if self._sla_running() and s.due_at and now >= s.due_at:
            s.sla_breached = True
            await self._commit("sla_breached", SYSTEM, ["dispatchers"], None, {"due_at": s.due_at.isoformat()})
        for rec in s.recommendations:
            if rec.decision in (None, "clarify") and not rec.reminded and now >= self._reminder_due(rec):
                rec.reminded = True
                await self._commit(
                    "reminder", SYSTEM, ["customer"], None, {"recommendation_id": rec.id, "summary": rec.summary}
                )

    # --- queries ------------------------------------------------------------------------------
    @workflow.query(name=names.STATE_QUERY)
    def state(self) -> RequestState:
        return self.s

    # --- dispatcher ----------------------------------------------------------------------------
    @workflow.update(name=names.PUBLISH)
    async def publish(self, cmd: Command) -> RequestState:
        self._check_publish(cmd)
        return await self._advance(names.PUBLISH, cmd.actor, cmd.notes)

    @publish.validator
    def _check_publish(self, cmd: Command) -> None:
        self._allow(names.PUBLISH)

    @workflow.update(name=names.ASSIGN)
    async def assign(self, cmd: AssignCommand) -> RequestState:
        self._check_assign(cmd)
        s = self.s
        if self._same_offer(cmd) and workflow.patched(REPEAT_IS_NOOP):
            # The same offer sent again (a retried request without Idempotency-Key): nothing changes.
            return self.s
        old_work_order = s.work_order_number
        s.assignments += 1
        assignment = s.assignments
        s.offer_kind = cmd.offer_kind
        s.offer_target_id = cmd.provider_id if cmd.offer_kind == OfferKind.provider else cmd.team_id
        s.offer_provider_ids = list(cmd.provider_ids)
        s.declined_provider_ids = []
        s.provider_id = None
        s.scheduled_for = None
        s.work_order_number = None
        s.accept_by = workflow.now() + self.start.clocks.accept_within[s.priority.value]
        step = lifecycle.step(names.ASSIGN)
        if step.target is None:
            raise invalid(f"the lifecycle's {names.ASSIGN} step moves to no status")
        previous = self._move(step.target)
        await self._work_order(old_work_order, "voided")
        issued = await self._activity(
            names.ISSUE_WORK_ORDER,
            names.ROUTING_QUEUE,
            WorkOrderIssued,
            IssueWorkOrder(
                request_number=s.number,
                assignment=s.assignments,
                offer_kind=cmd.offer_kind,
                provider_id=cmd.provider_id,
                team_id=cmd.team_id,
                provider_ids=cmd.provider_ids,
                customer_id=s.customer_id,
                priority=s.priority,
                summary=self.start.summary,
            ),
        )
        detail = {
            "work_order_number": issued.number,
            "offer_kind": cmd.offer_kind.value,
            "voided_work_order_number": old_work_order,
        }
        overtaken = s.assignments != assignment or s.status != Status.waiting_acceptance
        if overtaken and workflow.patched(VOID_OVERTAKEN_OFFER):
            # Cancelled or assigned again while this number was being issued: the offer is dead on arrival.
            await self._work_order(issued.number, "voided")
            await self._commit("offer_voided", cmd.actor, [], None, detail, cmd.notes)
            return self.s
        s.work_order_number = issued.number
        await self._commit(step.kind, cmd.actor, step.audiences, previous, detail, cmd.notes, status=step.target)
        return self.s

    def _same_offer(self, cmd: AssignCommand) -> bool:
        s = self.s
        if s.status != Status.waiting_acceptance or s.offer_kind != cmd.offer_kind:
            return False
        if cmd.offer_kind == OfferKind.provider:
            return s.offer_target_id == cmd.provider_id
        if cmd.offer_kind == OfferKind.team:
            return s.offer_target_id == cmd.team_id
        return True

    @assign.validator
    def _check_assign(self, cmd: AssignCommand) -> None:
        self._allow(names.ASSIGN)
        if cmd.offer_kind == OfferKind.provider and cmd.provider_id is None:
            raise invalid("provider_id is required")
        if cmd.offer_kind == OfferKind.team and not cmd.provider_ids:
            raise invalid("the team has no providers")

    @workflow.update(name=names.APPROVE_PAYMENT)
    async def approve_payment(self, cmd: Command) -> RequestState:
        self._check_approve_payment(cmd)
        return await self._advance(
            names.APPROVE_PAYMENT,
            cmd.actor,
            cmd.notes,
            beside=lambda: self._activity(
                names.MARK_INVOICE,
                names.INVOICING_QUEUE,
                None,
                MarkProviderInvoice(work_order_number=self._work_order_number(), status="approved"),
            ),
        )

    @approve_payment.validator
    def _check_approve_payment(self, cmd: Command) -> None:
        self._allow(names.APPROVE_PAYMENT)

    @workflow.update(name=names.CANCEL)
    async def cancel(self, cmd: CancelCommand) -> RequestState:
        self._check_cancel(cmd)
        s = self.s
        work_order = s.work_order_number
        told: Audience = "provider" if s.provider_id is not None else "offer"
        s.cancel_reason = cmd.reason
        s.accept_by = None
        return await self._advance(
            names.CANCEL,
            cmd.actor,
            None,
            {"reason": cmd.reason, "work_order_number": work_order, "deleted": cmd.delete},
            beside=lambda: self._work_order(work_order, "voided"),
            audiences=(*lifecycle.step(names.CANCEL).audiences, told),
        )

    @cancel.validator
    def _check_cancel(self, cmd: CancelCommand) -> None:
        if cmd.delete:
            self._require("delete", *BEFORE_ACCEPT, why="only a request no provider has accepted is deleted")
        elif cmd.actor.role == Role.customer:
            self._require("cancel", *BEFORE_ACCEPT, why="a customer may cancel only before a provider accepts")
        else:
            self._allow(names.CANCEL)

    # --- accounts receivable: the customer side of billing --------------------------------------
    @workflow.update(name=names.MARK_INVOICED)
    async def mark_invoiced(self, cmd: Command) -> RequestState:
        self._check_mark_invoiced(cmd)
        s = self.s
        s.billing_status = BillingStatus.invoiced

        async def issue() -> dict:
            issued = await self._activity(
                names.ISSUE_CUSTOMER_INVOICE,
                names.INVOICING_QUEUE,
                CustomerInvoiceIssued,
                IssueCustomerInvoice(
                    request_number=s.number,
                    customer_id=s.customer_id,
                    work_order_number=s.work_order_number,
                    issued_at=workflow.now(),
                ),
            )
            s.customer_invoice_id = issued.id
            return {"invoice_id": issued.id, "invoice_number": issued.number, "total": issued.total}

        return await self._advance(names.MARK_INVOICED, cmd.actor, None, {"billing_status": "invoiced"}, effect=issue)

    @mark_invoiced.validator
    def _check_mark_invoiced(self, cmd: Command) -> None:
        self._require_billing(names.MARK_INVOICED)
        if self.s.status == Status.completed:
            # The customer's invoice is made from the provider's, so that one must be in first.
            raise conflict(self.s, "mark invoiced", "the provider's invoice is not submitted yet")

    @workflow.update(name=names.MARK_INVOICE_NOT_REQUIRED)
    async def mark_invoice_not_required(self, cmd: Command) -> RequestState:
        self._check_mark_invoice_not_required(cmd)
        self.s.billing_status = BillingStatus.not_required
        return await self._advance(
            names.MARK_INVOICE_NOT_REQUIRED, cmd.actor, cmd.notes, {"billing_status": "not_required"}
        )

    @mark_invoice_not_required.validator
    def _check_mark_invoice_not_required(self, cmd: Command) -> None:
        self._require_billing(names.MARK_INVOICE_NOT_REQUIRED)

    @workflow.update(name=names.RECORD_CUSTOMER_PAYMENT)
    async def record_customer_payment(self, cmd: CustomerPaymentCommand) -> RequestState:
        self._check_record_customer_payment(cmd)
        self.s.billing_status = BillingStatus.paid
        return await self._advance(
            names.RECORD_CUSTOMER_PAYMENT,
            cmd.actor,
            None,
            {"billing_status": "paid", "invoice_id": cmd.invoice_id, "amount": cmd.amount},
            beside=lambda: self._activity(
                names.SETTLE_CUSTOMER_INVOICE,
                names.INVOICING_QUEUE,
                None,
                SettleCustomerInvoice(invoice_id=cmd.invoice_id, amount=cmd.amount, paid_at=cmd.paid_at),
            ),
        )

    @record_customer_payment.validator
    def _check_record_customer_payment(self, cmd: CustomerPaymentCommand) -> None:
        if self.s.billing_status != BillingStatus.invoiced:
            raise ApplicationError(
                f"cannot record a payment for {self.s.number}: its billing status is "
                f"{self.s.billing_status.value} (status {self.s.status.value})",
                {"status": self.s.status.value},
                type="Conflict",
                non_retryable=True,
            )
        if cmd.invoice_id != self.s.customer_invoice_id:
            raise not_found("invoice")

    # --- provider ------------------------------------------------------------------------------
    @workflow.update(name=names.ACCEPT)
    async def accept(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_accept(cmd)
        s = self.s
        s.provider_id = cmd.actor.provider_id
        s.accept_by = None
        return await self._advance(
            names.ACCEPT,
            cmd.actor,
            cmd.notes,
            {"work_order_number": s.work_order_number},
            beside=lambda: self._work_order(s.work_order_number, "accepted", s.provider_id),
        )

    @accept.validator
    def _check_accept(self, cmd: WorkOrderCommand) -> None:
        self._require_offer(names.ACCEPT, cmd)

    @workflow.update(name=names.DECLINE)
    async def decline(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_decline(cmd)
        s = self.s
        if cmd.actor.provider_id is None:
            raise invalid("only a provider declines an offer")
        s.declined_provider_ids.append(cmd.actor.provider_id)
        if s.offer_kind == OfferKind.team and set(s.offer_provider_ids) - set(s.declined_provider_ids):
            # Others on the team may still take it: record this decline, keep the offer open.
            await self._commit(
                "decline", cmd.actor, ["dispatchers"], None, {"work_order_number": s.work_order_number}, cmd.notes
            )
            return self.s
        if s.offer_kind == OfferKind.marketplace:
            await self._commit("decline", cmd.actor, [], None, {"work_order_number": s.work_order_number}, cmd.notes)
            return self.s
        work_order = s.work_order_number
        self._clear_offer()
        return await self._advance(
            names.DECLINE,
            cmd.actor,
            cmd.notes,
            {"declined_work_order_number": work_order},
            beside=lambda: self._work_order(work_order, "voided"),
        )

    @decline.validator
    def _check_decline(self, cmd: WorkOrderCommand) -> None:
        self._require_offer(names.DECLINE, cmd)

    @workflow.update(name=names.SCHEDULE)
    async def schedule(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_schedule(cmd)
        if (
            self.s.status == Status.scheduled
            and self.s.scheduled_for == cmd.scheduled_for
            and workflow.patched(REPEAT_IS_NOOP)
        ):
            return self.s  # the same slot again: nothing changes
        when = cmd.scheduled_for
        if when is None:
            raise invalid("scheduled_for is required")
        self.s.scheduled_for = when
        return await self._advance(names.SCHEDULE, cmd.actor, cmd.notes, {"scheduled_for": when.isoformat()})

    @schedule.validator
    def _check_schedule(self, cmd: WorkOrderCommand) -> None:
        self._require_holder(names.SCHEDULE, cmd)
        if cmd.scheduled_for is None:
            raise invalid("scheduled_for is required")

    @workflow.update(name=names.START_WORK)
    async def start_work(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_start_work(cmd)
        return await self._advance(names.START_WORK, cmd.actor, cmd.notes)

    @start_work.validator
    def _check_start_work(self, cmd: WorkOrderCommand) -> None:
        self._require_holder(names.START_WORK, cmd)

    @workflow.update(name=names.AWAIT_PARTS)
    async def await_parts(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_await_parts(cmd)
        self.s.paused_at = workflow.now()
        return await self._advance(names.AWAIT_PARTS, cmd.actor, cmd.notes)

    @await_parts.validator
    def _check_await_parts(self, cmd: WorkOrderCommand) -> None:
        self._require_holder(names.AWAIT_PARTS, cmd)

    @workflow.update(name=names.RESUME)
    async def resume(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_resume(cmd)
        s = self.s
        if s.paused_at and s.due_at:
            # Time spent waiting for parts does not count against the due time.
            s.due_at = s.due_at + (workflow.now() - s.paused_at)
        s.paused_at = None
        return await self._advance(
            names.RESUME, cmd.actor, cmd.notes, {"due_at": s.due_at.isoformat() if s.due_at else None}
        )

    @resume.validator
    def _check_resume(self, cmd: WorkOrderCommand) -> None:
        self._require_holder(names.RESUME, cmd)

    @workflow.update(name=names.READY_FOR_RETURN)
    async def ready_for_return(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_ready_for_return(cmd)
        return await self._advance(names.READY_FOR_RETURN, cmd.actor, cmd.notes)

    @ready_for_return.validator
    def _check_ready_for_return(self, cmd: WorkOrderCommand) -> None:
        self._require_holder(names.READY_FOR_RETURN, cmd)
        if self.s.kind != Kind.walk_in:
            raise conflict(self.s, "mark ready for return", "only walk-in repairs are returned")

    @workflow.update(name=names.COMPLETE)
    async def complete(self, cmd: CompleteCommand) -> RequestState:
        self._check_complete(cmd)
        return await self._advance(
            names.COMPLETE,
            cmd.actor,
            cmd.notes,
            {"invoice_attachment_id": cmd.invoice_attachment_id},
            beside=lambda: self._work_order(self.s.work_order_number, "completed", self.s.provider_id),
        )

    @complete.validator
    def _check_complete(self, cmd: CompleteCommand) -> None:
        self._require_holder(names.COMPLETE, cmd)

    @workflow.update(name=names.SUBMIT_INVOICE)
    async def submit_invoice(self, cmd: SubmitInvoiceCommand) -> RequestState:
        self._check_submit_invoice(cmd)
        s = self.s
        s.invoice_number = cmd.invoice_number
        return await self._advance(
            names.SUBMIT_INVOICE,
            cmd.actor,
            None,
            {"invoice_number": cmd.invoice_number},
            beside=lambda: self._activity(
                names.MARK_INVOICE,
                names.INVOICING_QUEUE,
                None,
                MarkProviderInvoice(work_order_number=self._work_order_number(), status="submitted"),
            ),
        )

    @submit_invoice.validator
    def _check_submit_invoice(self, cmd: SubmitInvoiceCommand) -> None:
        self._require_holder(names.SUBMIT_INVOICE, cmd)

    # --- recommendations ----------------------------------------------------------------------
    @workflow.update(name=names.RECOMMEND)
    async def recommend(self, cmd: RecommendCommand) -> RequestState:
        self._check_recommend(cmd)
        rec = Recommendation(
            id=cmd.recommendation_id,
            summary=cmd.summary,
            estimated_cost=cmd.estimated_cost,
            provider_id=cmd.actor.provider_id,
            posted_at=workflow.now(),
        )
        self.s.recommendations.append(rec)
        return await self._advance(
            names.RECOMMEND,
            cmd.actor,
            cmd.notes,
            {"recommendation_id": rec.id, "summary": rec.summary, "estimated_cost": rec.estimated_cost},
        )

    @recommend.validator
    def _check_recommend(self, cmd: RecommendCommand) -> None:
        if cmd.actor.provider_id is None or cmd.actor.provider_id != self.s.provider_id:
            raise not_found("request")
        self._allow(names.RECOMMEND)
        if any(r.id == cmd.recommendation_id for r in self.s.recommendations):
            raise conflict(self.s, "post a recommendation on", "this recommendation was already posted")

    @workflow.update(name=names.RESPOND)
    async def respond(self, cmd: RespondCommand) -> RequestState:
        self._check_respond(cmd)
        rec = next(r for r in self.s.recommendations if r.id == cmd.recommendation_id)
        rec.decision = cmd.decision
        rec.responded_at = workflow.now()
        rec.reminded = False
        if cmd.decision == "clarify":
            rec.posted_at = workflow.now()  # a fresh reminder clock once the provider clarifies
        return await self._advance(
            names.RESPOND,
            cmd.actor,
            None,
            {"recommendation_id": rec.id, "decision": cmd.decision, "comment": cmd.comment},
        )

    @respond.validator
    def _check_respond(self, cmd: RespondCommand) -> None:
        rec = next((r for r in self.s.recommendations if r.id == cmd.recommendation_id), None)
        if rec is None:
            raise not_found("recommendation")
        if rec.decision in ("approve", "decline"):
            raise ApplicationError(
                f"recommendation {rec.id} was already answered: {rec.decision}",
                {"status": self.s.status.value},
                type="Conflict",
                non_retryable=True,
            )
        self._allow(names.RESPOND)

    # --- signals: facts that happened elsewhere -------------------------------------------------
    @workflow.signal(name=names.PAYMENT_MADE)
    async def payment_made(self, payment: PaymentMade) -> None:
        s = self.s
        if not lifecycle.step(names.PAYMENT_MADE).allows(s.status) or payment.work_order_number != s.work_order_number:
            workflow.logger.warning("payment %s ignored in status %s", payment.reference, s.status)
            return
        s.payment_reference = payment.reference
        await self._advance(
            names.PAYMENT_MADE,
            SYSTEM,
            None,
            {"payment_reference": payment.reference, "amount": payment.amount, "paid_at": payment.paid_at.isoformat()},
            beside=lambda: self._work_order(s.work_order_number, "paid", s.provider_id),
        )

    @workflow.signal(name=names.NOTE_ADDED)
    async def note_added(self, note: NoteAdded) -> None:
        audiences: list[Audience] = ["customer", "dispatchers"]
        if self.s.provider_id is not None:
            audiences.append("provider")
        await self._commit("note", note.actor, audiences, None, {"note_id": note.note_id, "body": note.body})

    # --- helpers ---------------------------------------------------------------------------------
    async def _advance(
        self,
        name: str,
        actor: Actor,
        notes: str | None,
        detail: dict | None = None,
        *,
        effect: Callable[[], Awaitable[dict]] | None = None,
        beside: Callable[[], Awaitable[None]] | None = None,
        audiences: Iterable[Audience] | None = None,
    ) -> RequestState:
        """One step of the lifecycle table: check the status allows it, move to its target (synchronously, so an
        update right behind sees it), run its effect (an invoice issued, whose answer adds to the event's detail),
        then commit its event to the step's audiences (or `audiences`). A change whose answer adds nothing (a
        work order's status, a provider invoice marked) runs `beside` the commit (CONCURRENT_EFFECTS)."""
        step = self._allow(name)
        previous = self._move(step.target) if step.target is not None else None
        if effect is not None:
            detail = {**(detail or {}), **await effect()}
        if beside is not None and not self._concurrent_effects:
            await beside()
            beside = None
        commit = self._commit(
            step.kind,
            actor,
            step.audiences if audiences is None else audiences,
            previous,
            detail,
            notes,
            status=step.target,
        )
        if beside is None:
            await commit
        else:
            await asyncio.gather(beside(), commit)
        return self.s

    def _allow(self, name: str) -> lifecycle.Step:
        step = lifecycle.step(name)
        if not step.allows(self.s.status):
            raise conflict(self.s, step.verb, step.why)
        return step

    def _require(self, action: str, *allowed: Status, why: str = "") -> None:
        if self.s.status not in allowed:
            raise conflict(self.s, action, why)

    def _require_billing(self, name: str) -> None:
        s = self.s
        step = lifecycle.step(name)
        if s.status not in DONE:
            raise conflict(s, step.verb, step.why)
        if s.billing_status != BillingStatus.pending:
            raise ApplicationError(
                f"cannot {step.verb} {s.number}: its billing status is already {s.billing_status.value}"
                f" (status {s.status.value})",
                {"status": s.status.value},
                type="Conflict",
                non_retryable=True,
            )

    def _require_offer(self, name: str, cmd: WorkOrderCommand) -> None:
        s = self.s
        action = lifecycle.step(name).verb
        provider = cmd.actor.provider_id
        if provider is None:
            raise not_found("work order")
        if s.status != Status.waiting_acceptance or cmd.work_order_number != s.work_order_number:
            raise conflict(s, action)
        eligible = (
            s.offer_kind == OfferKind.marketplace
            or (s.offer_kind == OfferKind.provider and s.offer_target_id == provider)
            or (s.offer_kind == OfferKind.team and provider in s.offer_provider_ids)
        )
        if not eligible:
            raise not_found("work order")
        if provider in s.declined_provider_ids:
            raise conflict(s, action, "already declined by this provider")

    def _require_holder(self, name: str, cmd: WorkOrderCommand) -> None:
        s = self.s
        action = lifecycle.step(name).verb
        if cmd.actor.provider_id is None or cmd.work_order_number != s.work_order_number:
            raise conflict(s, action) if cmd.actor.provider_id is not None else not_found("work order")
        if s.provider_id != cmd.actor.provider_id:
            raise not_found("work order") if s.provider_id is not None else conflict(s, action)
        self._allow(name)

    def _move(self, status: Status) -> Status:
        previous = self.s.status
        self.s.status = status
        self._changed = True
        return previous

    def _clear_offer(self) -> None:
        s = self.s
        s.offer_kind = None
        s.offer_target_id = None
        s.offer_provider_ids = []
        s.declined_provider_ids = []
        s.work_order_number = None
        s.accept_by = None
        s.provider_id = None

    def _search_attributes(self) -> None:
        s = self.s
        values: list[SearchAttributeUpdate] = [
            STATUS_KEY.value_set(s.status.value),
            PRIORITY_KEY.value_set(s.priority.value),
            CUSTOMER_KEY.value_set(str(s.customer_id)),
            PROVIDER_KEY.value_set(str(s.provider_id)) if s.provider_id is not None else PROVIDER_KEY.value_unset(),
            SLA_KEY.value_set(s.sla_breached),
        ]
        if self._local_effects:
            if values == self._upserted:
                return  # nothing changed: an upsert would cost the server a visibility write for nothing
            self._upserted = values
        workflow.upsert_search_attributes(values)

    async def _activity(self, name: str, queue: str, result_type: type | None, arg: object):
        if self._local_effects and name in names.EFFECTS:
            return await workflow.execute_local_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
        return await workflow.execute_activity(
            name,
            arg,
            task_queue=queue,
            result_type=result_type,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )

    def _work_order_number(self) -> str:
        """The request's current work order, which every billing step has (its status allows no other)."""
        if self.s.work_order_number is None:
            raise conflict(self.s, "bill", "it has no work order")
        return self.s.work_order_number

    async def _work_order(self, number: str | None, status: WorkOrderStatus, provider_id: int | None = None):
        if number:
            # Under a lock: work-order changes reach routing in the order they happened here.
            async with self._work_orders:
                await self._activity(
                    names.UPDATE_WORK_ORDER,
                    names.ROUTING_QUEUE,
                    None,
                    UpdateWorkOrder(number=number, status=status, provider_id=provider_id),
                )

    def _event(
        self,
        kind: str,
        actor: Actor,
        previous: Status | None,
        detail: dict | None = None,
        notes: str | None = None,
        status: Status | None = None,
    ) -> tuple[TimelineEvent, RequestState]:
        """Capture one event as it happens: the next version, the status now, a snapshot of the state."""
        s = self.s
        s.version += 1
        self._changed = True
        detail = {**(detail or {}), **({"notes": notes} if notes else {})}
        event = TimelineEvent(
            seq=s.version,
            kind=kind,
            at=workflow.now(),
            actor=actor,
            status=status or s.status,
            previous_status=previous,
            detail=detail,
        )
        return event, s.model_copy(deep=True)

    async def _commit(
        self,
        kind: str,
        actor: Actor,
        audiences: Iterable[Audience],
        previous: Status | None,
        detail: dict | None = None,
        notes: str | None = None,
        status: Status | None = None,
    ) -> None:
        """Record one event: bump the version, refresh search attributes, write the read copy and the
        timeline (intake), then notify (notifications: queued for `_deliver_in_order`, or at once in runs started
        before DELIVER_AFTER_ANSWER). Events are recorded, and delivered, in the order they happened.
        `status` is the one this handler moved to: another update may have moved on while it waited."""
        if not self._creation_recording:
            # An update delivered with the very first task runs before `run`: the creation event goes first.
            await workflow.wait_condition(lambda: self._creation_recording)
        self._search_attributes()
        event, snapshot = self._event(kind, actor, previous, detail, notes, status)
        await self._record(event, snapshot, audiences)

    async def _record(self, event: TimelineEvent, snapshot: RequestState, audiences: Iterable[Audience]) -> None:
        audiences = list(audiences)
        async with self._effects:
            recipients: Recipients = await self._activity(
                names.RECORD_TRANSITION,
                names.INTAKE_QUEUE,
                Recipients,
                RecordTransition(state=snapshot, event=event, audiences=audiences),
            )
            if recipients.items:
                subject, body = describe(snapshot, event)
                deliver = Deliver(
                    key=f"{snapshot.number}:{event.seq}",
                    request_number=snapshot.number,
                    recipients=recipients.items,
                    subject=subject,
                    body=body,
                )
                if self._deliver_later:
                    self._deliveries.append(deliver)  # queued under the lock: in the order events happened
                else:
                    await self._activity(names.DELIVER, names.NOTIFICATIONS_QUEUE, None, deliver)

    async def _deliver_in_order(self) -> None:
        """Sends the queued deliveries one at a time, oldest first; one leaves the queue once it is sent (the
        notifications service keys each by its event, so a retried one is never sent twice)."""
        while True:
            await workflow.wait_condition(lambda: bool(self._deliveries))
            await self._activity(names.DELIVER, names.NOTIFICATIONS_QUEUE, None, self._deliveries[0])
            self._deliveries.pop(0)
