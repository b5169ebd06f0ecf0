"""ServiceRequestWorkflow: the one durable owner of a service request's lifecycle.

Every transition is an Update whose validator rejects a wrong state before anything reaches history; the
handler checks again (two updates in one activation are both validated before either runs), changes the
state synchronously, then records the change through activities, in order, under one lock.
Timers (acceptance window, SLA due time, recommendation reminders) are workflow timers in `run`.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Iterable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared.contracts import names
    from shared.contracts.enums import DONE, WORKING, BillingStatus, Kind, OfferKind, Role, Status
    from shared.contracts.messages import describe
    from shared.contracts.search import CUSTOMER_KEY, PRIORITY_KEY, PROVIDER_KEY, SLA_KEY, STATUS_KEY
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
        RecommendCommand,
        Recommendation,
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

# Activities retry until they succeed: a service that is down delays a request, never loses a step.
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=10))
ACTIVITY_TIMEOUT = timedelta(seconds=30)

BEFORE_ACCEPT = (Status.draft, Status.published, Status.waiting_acceptance)
ASSIGNABLE = (Status.published, Status.waiting_acceptance, Status.accepted, Status.scheduled)
# Patches (see README, "Changing the workflow"): runs started before each change replay the old way.
CREATION_FIRST = "creation-event-first"
REPEAT_IS_NOOP = "repeated-offer-or-slot-is-noop"
VOID_OVERTAKEN_OFFER = "void-overtaken-offer"


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


@workflow.defn(name="ServiceRequestWorkflow")
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

    # --- the main loop: timers --------------------------------------------------------------
    @workflow.run
    async def run(self, start: StartRequest) -> RequestState:
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
            except asyncio.TimeoutError:
                pass
            await self._fire_timers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s

    def _ended(self) -> bool:
        s = self.s
        if s.status == Status.cancelled:
            return True
        return s.status == Status.paid and s.billing_status in (BillingStatus.paid, BillingStatus.not_required)

    def _sla_running(self) -> bool:
        s = self.s
        return not s.sla_breached and s.status not in DONE and s.status not in (
            Status.cancelled, Status.awaiting_parts)

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
            previous = self._move(Status.published)
            await self._work_order(work_order, "withdrawn")
            await self._commit("status_change", SYSTEM, ["customer", "dispatchers"], previous,
                               {"reason": "acceptance window expired", "work_order_number": work_order}, status=Status.published)
        if self._sla_running() and s.due_at and now >= s.due_at:
            s.sla_breached = True
            await self._commit("sla_breached", SYSTEM, ["dispatchers"], None, {"due_at": s.due_at.isoformat()})
        for rec in s.recommendations:
            if rec.decision in (None, "clarify") and not rec.reminded and now >= self._reminder_due(rec):
                rec.reminded = True
                await self._commit("reminder", SYSTEM, ["customer"], None,
                                   {"recommendation_id": rec.id, "summary": rec.summary})

    # --- queries ------------------------------------------------------------------------------
    @workflow.query
    def state(self) -> RequestState:
        return self.s

    # --- dispatcher ----------------------------------------------------------------------------
    @workflow.update
    async def publish(self, cmd: Command) -> RequestState:
        self._check_publish(cmd)
        previous = self._move(Status.published)
        await self._commit("status_change", cmd.actor, ["customer"], previous, notes=cmd.notes, status=Status.published)
        return self.s

    @publish.validator
    def _check_publish(self, cmd: Command) -> None:
        self._require("publish", Status.draft)

    @workflow.update
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
        previous = self._move(Status.waiting_acceptance)
        await self._work_order(old_work_order, "voided")
        issued = await self._activity(
            names.ISSUE_WORK_ORDER, names.ROUTING_QUEUE, WorkOrderIssued,
            IssueWorkOrder(request_number=s.number, assignment=s.assignments, offer_kind=cmd.offer_kind,
                           provider_id=cmd.provider_id, team_id=cmd.team_id, provider_ids=cmd.provider_ids,
                           customer_id=s.customer_id, priority=s.priority, summary=self.start.summary),
        )
        detail = {"work_order_number": issued.number, "offer_kind": cmd.offer_kind.value,
                  "voided_work_order_number": old_work_order}
        overtaken = s.assignments != assignment or s.status != Status.waiting_acceptance
        if overtaken and workflow.patched(VOID_OVERTAKEN_OFFER):
            # Cancelled or assigned again while this number was being issued: the offer is dead on arrival.
            await self._work_order(issued.number, "voided")
            await self._commit("offer_voided", cmd.actor, [], None, detail, cmd.notes)
            return self.s
        s.work_order_number = issued.number
        await self._commit("status_change", cmd.actor, ["customer", "offer"], previous, detail, cmd.notes, status=Status.waiting_acceptance)
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
        self._require("assign", *ASSIGNABLE)
        if cmd.offer_kind == OfferKind.provider and cmd.provider_id is None:
            raise invalid("provider_id is required")
        if cmd.offer_kind == OfferKind.team and not cmd.provider_ids:
            raise invalid("the team has no providers")

    @workflow.update
    async def approve_payment(self, cmd: Command) -> RequestState:
        self._check_approve_payment(cmd)
        previous = self._move(Status.payment_approved)
        await self._activity(names.MARK_INVOICE, names.INVOICING_QUEUE, None,
                             MarkProviderInvoice(work_order_number=self.s.work_order_number, status="approved"))
        await self._commit("status_change", cmd.actor, ["customer", "provider"], previous, notes=cmd.notes, status=Status.payment_approved)
        return self.s

    @approve_payment.validator
    def _check_approve_payment(self, cmd: Command) -> None:
        self._require("approve payment for", Status.invoice_submitted)

    @workflow.update
    async def cancel(self, cmd: CancelCommand) -> RequestState:
        self._check_cancel(cmd)
        s = self.s
        work_order = s.work_order_number
        had_provider = s.provider_id is not None
        s.cancel_reason = cmd.reason
        s.accept_by = None
        previous = self._move(Status.cancelled)
        await self._work_order(work_order, "voided")
        audiences: list[Audience] = ["customer", "dispatchers"]
        audiences.append("provider" if had_provider else "offer")
        await self._commit("status_change", cmd.actor, audiences, previous,
                           {"reason": cmd.reason, "work_order_number": work_order, "deleted": cmd.delete}, status=Status.cancelled)
        return self.s

    @cancel.validator
    def _check_cancel(self, cmd: CancelCommand) -> None:
        if cmd.delete:
            self._require("delete", *BEFORE_ACCEPT, why="only a request no provider has accepted is deleted")
        elif cmd.actor.role == Role.customer:
            self._require("cancel", *BEFORE_ACCEPT, why="a customer may cancel only before a provider accepts")
        else:
            self._require("cancel", *BEFORE_ACCEPT, *WORKING)

    # --- accounts receivable: the customer side of billing --------------------------------------
    @workflow.update
    async def mark_invoiced(self, cmd: Command) -> RequestState:
        self._check_mark_invoiced(cmd)
        s = self.s
        s.billing_status = BillingStatus.invoiced
        issued = await self._activity(
            names.ISSUE_CUSTOMER_INVOICE, names.INVOICING_QUEUE, CustomerInvoiceIssued,
            IssueCustomerInvoice(request_number=s.number, customer_id=s.customer_id,
                                 work_order_number=s.work_order_number, issued_at=workflow.now()),
        )
        s.customer_invoice_id = issued.id
        await self._commit("invoice", cmd.actor, ["customer"], None,
                           {"billing_status": "invoiced", "invoice_id": issued.id,
                            "invoice_number": issued.number, "total": issued.total})
        return self.s

    @mark_invoiced.validator
    def _check_mark_invoiced(self, cmd: Command) -> None:
        self._require_billing("mark invoiced")
        if self.s.status == Status.completed:
            # The customer's invoice is made from the provider's, so that one must be in first.
            raise conflict(self.s, "mark invoiced", "the provider's invoice is not submitted yet")

    @workflow.update
    async def mark_invoice_not_required(self, cmd: Command) -> RequestState:
        self._check_mark_invoice_not_required(cmd)
        self.s.billing_status = BillingStatus.not_required
        await self._commit("invoice", cmd.actor, ["customer"], None, {"billing_status": "not_required"},
                           cmd.notes)
        return self.s

    @mark_invoice_not_required.validator
    def _check_mark_invoice_not_required(self, cmd: Command) -> None:
        self._require_billing("mark invoice not required for")

    @workflow.update
    async def record_customer_payment(self, cmd: CustomerPaymentCommand) -> RequestState:
        self._check_record_customer_payment(cmd)
        self.s.billing_status = BillingStatus.paid
        await self._activity(names.SETTLE_CUSTOMER_INVOICE, names.INVOICING_QUEUE, None,
                             SettleCustomerInvoice(invoice_id=cmd.invoice_id, amount=cmd.amount,
                                                   paid_at=cmd.paid_at))
        await self._commit("payment", cmd.actor, ["customer"], None,
                           {"billing_status": "paid", "invoice_id": cmd.invoice_id, "amount": cmd.amount})
        return self.s

    @record_customer_payment.validator
    def _check_record_customer_payment(self, cmd: CustomerPaymentCommand) -> None:
        if self.s.billing_status != BillingStatus.invoiced:
            raise ApplicationError(
                f"cannot record a payment for {self.s.number}: its billing status is "
                f"{self.s.billing_status.value} (status {self.s.status.value})",
                {"status": self.s.status.value}, type="Conflict", non_retryable=True)
        if cmd.invoice_id != self.s.customer_invoice_id:
            raise not_found("invoice")

    # --- provider ------------------------------------------------------------------------------
    @workflow.update
    async def accept(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_accept(cmd)
        s = self.s
        s.provider_id = cmd.actor.provider_id
        s.accept_by = None
        previous = self._move(Status.accepted)
        await self._work_order(s.work_order_number, "accepted", s.provider_id)
        await self._commit("status_change", cmd.actor, ["customer", "dispatchers"], previous,
                           {"work_order_number": s.work_order_number}, cmd.notes, status=Status.accepted)
        return self.s

    @accept.validator
    def _check_accept(self, cmd: WorkOrderCommand) -> None:
        self._require_offer("accept", cmd)

    @workflow.update
    async def decline(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_decline(cmd)
        s = self.s
        s.declined_provider_ids.append(cmd.actor.provider_id)
        if s.offer_kind == OfferKind.team and set(s.offer_provider_ids) - set(s.declined_provider_ids):
            # Others on the team may still take it: record this decline, keep the offer open.
            await self._commit("decline", cmd.actor, ["dispatchers"], None,
                               {"work_order_number": s.work_order_number}, cmd.notes)
            return self.s
        if s.offer_kind == OfferKind.marketplace:
            await self._commit("decline", cmd.actor, [], None, {"work_order_number": s.work_order_number},
                               cmd.notes)
            return self.s
        work_order = s.work_order_number
        self._clear_offer()
        previous = self._move(Status.published)
        await self._work_order(work_order, "voided")
        await self._commit("status_change", cmd.actor, ["customer", "dispatchers"], previous,
                           {"declined_work_order_number": work_order}, cmd.notes, status=Status.published)
        return self.s

    @decline.validator
    def _check_decline(self, cmd: WorkOrderCommand) -> None:
        self._require_offer("decline", cmd)

    @workflow.update
    async def schedule(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_schedule(cmd)
        if (self.s.status == Status.scheduled and self.s.scheduled_for == cmd.scheduled_for
                and workflow.patched(REPEAT_IS_NOOP)):
            return self.s  # the same slot again: nothing changes
        self.s.scheduled_for = cmd.scheduled_for
        previous = self._move(Status.scheduled)
        await self._commit("status_change", cmd.actor, ["customer"], previous,
                           {"scheduled_for": cmd.scheduled_for.isoformat()}, cmd.notes, status=Status.scheduled)
        return self.s

    @schedule.validator
    def _check_schedule(self, cmd: WorkOrderCommand) -> None:
        self._require_holder("schedule", cmd, Status.accepted, Status.scheduled)
        if cmd.scheduled_for is None:
            raise invalid("scheduled_for is required")

    @workflow.update
    async def start_work(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_start_work(cmd)
        previous = self._move(Status.in_progress)
        await self._commit("status_change", cmd.actor, ["customer"], previous, notes=cmd.notes, status=Status.in_progress)
        return self.s

    @start_work.validator
    def _check_start_work(self, cmd: WorkOrderCommand) -> None:
        self._require_holder("start", cmd, Status.accepted, Status.scheduled)

    @workflow.update
    async def await_parts(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_await_parts(cmd)
        self.s.paused_at = workflow.now()
        previous = self._move(Status.awaiting_parts)
        await self._commit("status_change", cmd.actor, ["customer"], previous, notes=cmd.notes, status=Status.awaiting_parts)
        return self.s

    @await_parts.validator
    def _check_await_parts(self, cmd: WorkOrderCommand) -> None:
        self._require_holder("await parts for", cmd, Status.in_progress)

    @workflow.update
    async def resume(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_resume(cmd)
        s = self.s
        if s.paused_at and s.due_at:
            # Time spent waiting for parts does not count against the due time.
            s.due_at = s.due_at + (workflow.now() - s.paused_at)
        s.paused_at = None
        previous = self._move(Status.in_progress)
        await self._commit("status_change", cmd.actor, ["customer"], previous,
                           {"due_at": s.due_at.isoformat() if s.due_at else None}, cmd.notes, status=Status.in_progress)
        return self.s

    @resume.validator
    def _check_resume(self, cmd: WorkOrderCommand) -> None:
        self._require_holder("resume", cmd, Status.awaiting_parts)

    @workflow.update
    async def ready_for_return(self, cmd: WorkOrderCommand) -> RequestState:
        self._check_ready_for_return(cmd)
        previous = self._move(Status.ready_for_return)
        await self._commit("status_change", cmd.actor, ["customer"], previous, notes=cmd.notes, status=Status.ready_for_return)
        return self.s

    @ready_for_return.validator
    def _check_ready_for_return(self, cmd: WorkOrderCommand) -> None:
        self._require_holder("mark ready for return", cmd, Status.in_progress)
        if self.s.kind != Kind.walk_in:
            raise conflict(self.s, "mark ready for return", "only walk-in repairs are returned")

    @workflow.update
    async def complete(self, cmd: CompleteCommand) -> RequestState:
        self._check_complete(cmd)
        previous = self._move(Status.completed)
        await self._work_order(self.s.work_order_number, "completed", self.s.provider_id)
        await self._commit("status_change", cmd.actor, ["customer", "dispatchers"], previous,
                           {"invoice_attachment_id": cmd.invoice_attachment_id}, cmd.notes, status=Status.completed)
        return self.s

    @complete.validator
    def _check_complete(self, cmd: CompleteCommand) -> None:
        self._require_holder("complete", cmd, Status.in_progress, Status.ready_for_return)

    @workflow.update
    async def submit_invoice(self, cmd: SubmitInvoiceCommand) -> RequestState:
        self._check_submit_invoice(cmd)
        s = self.s
        s.invoice_number = cmd.invoice_number
        previous = self._move(Status.invoice_submitted)
        await self._activity(names.MARK_INVOICE, names.INVOICING_QUEUE, None,
                             MarkProviderInvoice(work_order_number=s.work_order_number, status="submitted"))
        await self._commit("status_change", cmd.actor, ["customer", "dispatchers"], previous,
                           {"invoice_number": cmd.invoice_number}, status=Status.invoice_submitted)
        return self.s

    @submit_invoice.validator
    def _check_submit_invoice(self, cmd: SubmitInvoiceCommand) -> None:
        self._require_holder("submit an invoice for", cmd, Status.completed,
                             why="an invoice is submitted once the work is completed")

    # --- recommendations ----------------------------------------------------------------------
    @workflow.update
    async def recommend(self, cmd: RecommendCommand) -> RequestState:
        self._check_recommend(cmd)
        rec = Recommendation(id=cmd.recommendation_id, summary=cmd.summary, estimated_cost=cmd.estimated_cost,
                             provider_id=cmd.actor.provider_id, posted_at=workflow.now())
        self.s.recommendations.append(rec)
        await self._commit("recommendation", cmd.actor, ["customer"], None,
                           {"recommendation_id": rec.id, "summary": rec.summary,
                            "estimated_cost": rec.estimated_cost}, cmd.notes)
        return self.s

    @recommend.validator
    def _check_recommend(self, cmd: RecommendCommand) -> None:
        if cmd.actor.provider_id is None or cmd.actor.provider_id != self.s.provider_id:
            raise not_found("request")
        self._require("post a recommendation on", *WORKING)
        if any(r.id == cmd.recommendation_id for r in self.s.recommendations):
            raise conflict(self.s, "post a recommendation on", "this recommendation was already posted")

    @workflow.update
    async def respond(self, cmd: RespondCommand) -> RequestState:
        self._check_respond(cmd)
        rec = next(r for r in self.s.recommendations if r.id == cmd.recommendation_id)
        rec.decision = cmd.decision
        rec.responded_at = workflow.now()
        rec.reminded = False
        if cmd.decision == "clarify":
            rec.posted_at = workflow.now()  # a fresh reminder clock once the provider clarifies
        await self._commit("response", cmd.actor, ["provider", "dispatchers"], None,
                           {"recommendation_id": rec.id, "decision": cmd.decision, "comment": cmd.comment})
        return self.s

    @respond.validator
    def _check_respond(self, cmd: RespondCommand) -> None:
        rec = next((r for r in self.s.recommendations if r.id == cmd.recommendation_id), None)
        if rec is None:
            raise not_found("recommendation")
        if rec.decision in ("approve", "decline"):
            raise ApplicationError(f"recommendation {rec.id} was already answered: {rec.decision}",
                                   {"status": self.s.status.value}, type="Conflict", non_retryable=True)
        if self.s.status == Status.cancelled:
            raise conflict(self.s, "respond to a recommendation on")

    # --- signals: facts that happened elsewhere -------------------------------------------------
    @workflow.signal
    async def payment_made(self, payment: PaymentMade) -> None:
        s = self.s
        if s.status != Status.payment_approved or payment.work_order_number != s.work_order_number:
            workflow.logger.warning("payment %s ignored in status %s", payment.reference, s.status)
            return
        s.payment_reference = payment.reference
        previous = self._move(Status.paid)
        await self._work_order(s.work_order_number, "paid", s.provider_id)
        await self._commit("status_change", SYSTEM, ["customer", "provider"], previous,
                           {"payment_reference": payment.reference, "amount": payment.amount,
                            "paid_at": payment.paid_at.isoformat()}, status=Status.paid)

    @workflow.signal
    async def note_added(self, note: NoteAdded) -> None:
        audiences: list[Audience] = ["customer", "dispatchers"]
        if self.s.provider_id is not None:
            audiences.append("provider")
        await self._commit("note", note.actor, audiences, None, {"note_id": note.note_id, "body": note.body})

    # --- helpers ---------------------------------------------------------------------------------
    def _require(self, action: str, *allowed: Status, why: str = "") -> None:
        if self.s.status not in allowed:
            raise conflict(self.s, action, why)

    def _require_billing(self, action: str) -> None:
        s = self.s
        if s.status not in DONE:
            raise conflict(s, action, "billing starts once the work is completed")
        if s.billing_status != BillingStatus.pending:
            raise ApplicationError(
                f"cannot {action} {s.number}: its billing status is already {s.billing_status.value}"
                f" (status {s.status.value})", {"status": s.status.value}, type="Conflict", non_retryable=True)

    def _require_offer(self, action: str, cmd: WorkOrderCommand) -> None:
        s = self.s
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

    def _require_holder(self, action: str, cmd: WorkOrderCommand, *allowed: Status, why: str = "") -> None:
        s = self.s
        if cmd.actor.provider_id is None or cmd.work_order_number != s.work_order_number:
            raise conflict(s, action) if cmd.actor.provider_id is not None else not_found("work order")
        if s.provider_id != cmd.actor.provider_id:
            raise not_found("work order") if s.provider_id is not None else conflict(s, action)
        self._require(action, *allowed, why=why)

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
        workflow.upsert_search_attributes([
            STATUS_KEY.value_set(s.status.value),
            PRIORITY_KEY.value_set(s.priority.value),
            CUSTOMER_KEY.value_set(str(s.customer_id)),
            PROVIDER_KEY.value_set(str(s.provider_id)) if s.provider_id is not None else PROVIDER_KEY.value_unset(),
            SLA_KEY.value_set(s.sla_breached),
        ])

    async def _activity(self, name: str, queue: str, result_type: type | None, arg: object):
        return await workflow.execute_activity(
            name, arg, task_queue=queue, result_type=result_type,
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)

    async def _work_order(self, number: str | None, status: WorkOrderStatus, provider_id: int | None = None):
        if number:
            # Under the effects lock: work-order changes reach routing in the order they happened here.
            async with self._effects:
                await self._activity(names.UPDATE_WORK_ORDER, names.ROUTING_QUEUE, None,
                                     UpdateWorkOrder(number=number, status=status, provider_id=provider_id))

    def _event(self, kind: str, actor: Actor, previous: Status | None, detail: dict | None = None,
               notes: str | None = None, status: Status | None = None) -> tuple[TimelineEvent, RequestState]:
        """Capture one event as it happens: the next version, the status now, a snapshot of the state."""
        s = self.s
        s.version += 1
        self._changed = True
        event = TimelineEvent(seq=s.version, kind=kind, at=workflow.now(), actor=actor, status=status or s.status,
                              previous_status=previous, detail={**(detail or {}), **({"notes": notes} if notes else {})})
        return event, s.model_copy(deep=True)

    async def _commit(self, kind: str, actor: Actor, audiences: Iterable[Audience], previous: Status | None,
                      detail: dict | None = None, notes: str | None = None, status: Status | None = None) -> None:
        """Record one event: bump the version, refresh search attributes, write the read copy and the
        timeline (intake), then notify (notifications). Events are recorded in the order they happened.
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
                names.RECORD_TRANSITION, names.INTAKE_QUEUE, Recipients,
                RecordTransition(state=snapshot, event=event, audiences=audiences))
            if recipients.items:
                subject, body = describe(snapshot, event)
                await self._activity(
                    names.DELIVER, names.NOTIFICATIONS_QUEUE, None,
                    Deliver(key=f"{snapshot.number}:{event.seq}", request_number=snapshot.number,
                            recipients=recipients.items, subject=subject, body=body))
