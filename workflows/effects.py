"""The workflow worker's local activities: the effects on an action's critical path (names.EFFECTS), each run by
asking the owning service to run its own activity over `/internal/effects/<name>` (shared/effects.py).

A local activity is recorded in the workflow task that asked for it, so an update that writes the read copy and
changes a work order answers in one workflow task: no hand-off to another task queue, no second task to wake
the workflow. It retries as the remote activity did (the workflow's retry policy) while the service is down;
a kill of the worker mid-call replays the task and asks again, which every effect takes (each is idempotent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from shared.contracts import names
from shared.contracts.models import (
    CustomerInvoiceIssued,
    IssueCustomerInvoice,
    IssueWorkOrder,
    MarkProviderInvoice,
    Recipients,
    RecordTransition,
    SettleCustomerInvoice,
    UpdateWorkOrder,
    WorkOrderIssued,
)
from shared.effects import PATH
from shared.internal import Reply, call, credential
from shared.settings import Settings

# How an effect reaches its service: (service, path, JSON body) -> the answer. Over the network in every
# process; the workflow tests hand the same route to the services' apps in memory.
Post = Callable[[str, str, bytes], Awaitable[Reply]]
Result = TypeVar("Result")


def over_http(settings: Settings) -> Post:
    headers = {**credential(settings), "Content-Type": "application/json"}

    async def post(service: str, path: str, body: bytes) -> Reply:
        return await call("POST", f"{settings.service_url(service)}{path}", headers, body)

    return post


def build(post: Post) -> list:
    async def ask(name: str, arg: BaseModel, gives: type[Result]) -> Result:
        response = await post(names.EFFECTS[name], f"{PATH}/{name}", arg.model_dump_json().encode())
        if response.status_code == 409:
            failure = response.json()
            raise ApplicationError(failure["message"], type=failure["type"], non_retryable=failure["non_retryable"])
        if response.status_code != 200:  # any other failure is retried, as the remote activity's would be
            raise RuntimeError(f"{names.EFFECTS[name]} answered {response.status_code} to {name}")
        return TypeAdapter(gives).validate_json(response.content)

    @activity.defn(name=names.RECORD_TRANSITION)
    async def record_transition(inp: RecordTransition) -> Recipients:
        return await ask(names.RECORD_TRANSITION, inp, Recipients)

    @activity.defn(name=names.ISSUE_WORK_ORDER)
    async def issue_work_order(inp: IssueWorkOrder) -> WorkOrderIssued:
        return await ask(names.ISSUE_WORK_ORDER, inp, WorkOrderIssued)

    @activity.defn(name=names.UPDATE_WORK_ORDER)
    async def update_work_order(inp: UpdateWorkOrder) -> None:
        await ask(names.UPDATE_WORK_ORDER, inp, type(None))

    @activity.defn(name=names.MARK_INVOICE)
    async def mark_provider_invoice(inp: MarkProviderInvoice) -> None:
        await ask(names.MARK_INVOICE, inp, type(None))

    @activity.defn(name=names.ISSUE_CUSTOMER_INVOICE)
    async def issue_customer_invoice(inp: IssueCustomerInvoice) -> CustomerInvoiceIssued:
        return await ask(names.ISSUE_CUSTOMER_INVOICE, inp, CustomerInvoiceIssued)

    @activity.defn(name=names.SETTLE_CUSTOMER_INVOICE)
    async def settle_customer_invoice(inp: SettleCustomerInvoice) -> None:
        await ask(names.SETTLE_CUSTOMER_INVOICE, inp, type(None))

    return [
        record_transition,
        issue_work_order,
        update_work_order,
        mark_provider_invoice,
        issue_customer_invoice,
        settle_customer_invoice,
    ]
