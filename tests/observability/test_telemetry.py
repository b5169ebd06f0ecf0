"""Traces, metrics and logs of a whole stack, started with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a receiver in
this test: one lifecycle, then one trace from the gateway through the API and the workflow to an activity, the
metrics every service serves, and JSON log lines carrying the request id, number and workflow id."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from shared.contracts.names import request_workflow_id
from shared.settings import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PORT_OFFSET, running_stack
from tests.observability.otlp import Receiver
from tests.robustness.test_launcher import free_offset
from tests.support.api import Api, lifecycle, make_cast, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def traced():
    with Receiver() as receiver:
        # Clear of the session stack and the launcher tests' stacks (no port of one is a port of another).
        offset = free_offset(PORT_OFFSET + 84)
        extra = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with running_stack("otel", offset, extra) as running:
            yield running, receiver


@pytest.fixture(scope="module")
async def one_lifecycle(traced):
    running, _ = traced
    api = Api(running.api_url)
    try:
        cast = await make_cast(api, await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD))
        done = await lifecycle(api, cast)
        request_id = f"obs-{uuid.uuid4().hex}"
        await cast.dispatcher.get(f"/requests/{done['number']}", headers={"X-Request-ID": request_id})
        yield done["number"], request_id
    finally:
        await api.close()


def in_a_service_under_an_activity(span, by_id: dict) -> bool:
    """A service's span below an activity's: the activity ran in that service (a remote one, on its task queue),
    or ran in the workflow worker and asked that service over HTTP (a local one: an effect, workflows/effects.py).
    `by_id`: the trace's spans by span id."""
    if span.service.removeprefix("fieldops-") not in SERVICES:
        return False
    parent = by_id.get(span.parent_id)
    while parent is not None:
        if parent.name.startswith("RunActivity:"):
            return True
        parent = by_id.get(parent.parent_id)
    return False


async def test_one_trace_runs_from_the_gateway_through_the_api_and_workflow_to_an_activity(traced, one_lifecycle):
    _, receiver = traced

    async def spanning():
        for spans in receiver.traces().values():
            services = {span.service for span in spans}
            names = {span.name for span in spans}
            # One tree, whole: every span but the gateway's root has its parent in the same trace.
            by_id = {span.span_id: span for span in spans}
            roots = [span.service for span in spans if span.parent_id not in by_id]
            if (
                {"fieldops-gateway", "fieldops-intake", "fieldops-workflow-worker"} <= services
                and any(name.startswith("RunWorkflow:ServiceRequestWorkflow") for name in names)
                and roots == ["fieldops-gateway"]
                and any(in_a_service_under_an_activity(span, by_id) for span in spans)
            ):
                return spans
        return None

    spans = await wait_for(spanning, timeout=30)
    # The database work under the API is traced too.
    assert any(
        span.service == "fieldops-intake" and span.name.split()[0] in ("INSERT", "SELECT", "connect") for span in spans
    ), sorted({(s.service, s.name) for s in spans})


async def test_every_service_serves_metrics_and_the_worker_its_own(traced, one_lifecycle):
    running, _ = traced
    s = running.settings
    async with httpx.AsyncClient(timeout=30) as http:
        scraped = {name: (await http.get(f"{s.service_url(name)}/metrics")).text for name in (*SERVICES, "web")}
        worker = (await http.get(f"http://{s.host}:{s.port(9091)}/metrics")).text
        openapi = (await http.get(f"{s.api_url}/openapi.json")).json()
        from_outside = await http.get(f"{s.gateway_url}/metrics")
    for name, text in scraped.items():
        assert "# TYPE fieldops_http_requests_total counter" in text, name
    intake = scraped["intake"]
    created = 'fieldops_http_requests_total{method="POST",route="/api/v1/requests",service="intake",status="201"} '
    assert created in intake
    assert 'fieldops_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/v1/requests"' in intake
    assert 'fieldops_uploads_total{service="intake",step="started"}' in intake
    assert 'fieldops_uploads_total{service="intake",step="completed"}' in intake
    assert 'fieldops_emails_total{outcome="sent",service="notifications"}' in scraped["notifications"]
    assert any(
        line.startswith("fieldops_activities_total{activity=") and 'outcome="completed"' in line
        for name in SERVICES
        for line in scraped[name].splitlines()
    )
    # The Temporal SDK's own metrics, in the services' registry and on the worker's port.
    assert "temporal_activity_execution_latency_bucket{" in "".join(scraped[name] for name in SERVICES)
    assert "temporal_workflow_task_execution_latency_bucket{" in worker
    assert "/metrics" not in openapi["paths"]
    assert from_outside.status_code == 404 and "fieldops_" not in from_outside.text


async def test_logs_are_json_lines_with_request_id_number_and_workflow_id(traced, one_lifecycle):
    running, _ = traced
    number, request_id = one_lifecycle
    lines = [
        json.loads(line)
        for line in (running.stack.data / "logs" / "intake.log").read_text().splitlines()
        if line.startswith("{")
    ]
    access = [line for line in lines if line.get("request_id") == request_id]
    assert access and access[-1]["logger"] == "uvicorn.access", access
    assert access[-1]["request_number"] == number
    assert access[-1]["workflow_id"] == request_workflow_id(number)
    assert access[-1]["service"] == "intake" and f"/api/v1/requests/{number}" in access[-1]["message"]
