"""What every process tells about itself: traces, metrics and logs.

- Traces (OpenTelemetry): the API (FastAPI), the Temporal client, workflows and activities (the Temporal
  TracingInterceptor, see shared/temporal.py), SQLAlchemy, the aiohttp and httpx clients, botocore and SMTP sends.
  Exported by OTLP/HTTP only when the standard OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the API's no-op tracer
  costs nothing.
- Metrics (Prometheus): requests by route and status with latency, activities, emails sent, uploads, and the
  Temporal SDK's own metrics bridged into the same registry; served at /metrics by every service (and the
  portal), and by the workflow worker on a port of its own.
- Logs: one JSON object a line, with the request id, the request number and the workflow id when known;
  uvicorn's access log goes through the same formatter.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import re
import threading
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import wrapt
from fastapi import FastAPI
from opentelemetry import trace
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from pythonjsonlogger.json import JsonFormatter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio import activity
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from shared.contracts.names import request_workflow_id

tracer = trace.get_tracer("fieldops")
disable_created_metrics()  # a *_created series beside every counter doubles the scrape for nothing

# --- metrics --------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "fieldops_http_requests",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "fieldops_http_request_duration_seconds", "Time to answer an HTTP request", ["service", "method", "route"]
)
ACTIVITIES = Counter(
    "fieldops_activities", "Activities run by this process, by outcome", ["service", "activity", "outcome"]
)
ACTIVITY_LATENCY = Histogram(
    "fieldops_activity_duration_seconds", "Time one activity attempt took", ["service", "activity"]
)
EMAILS = Counter("fieldops_emails", "Emails handed to the SMTP server, by outcome", ["service", "outcome"])
UPLOADS = Counter(
    "fieldops_uploads", "Attachment uploads: presigned (started) and confirmed (completed)", ["service", "step"]
)
# The two steps of an upload, by how their route ends (bytes go straight to S3; only these calls pass through
# a service: the API's, and the portal's in front of it).
UPLOAD_ROUTES = {
    "/requests/{number}/attachments": "started",
    "/requests/{number}/attachments/{attachment_id}/complete": "completed",
}
# Probes and scrapes: neither traced, counted nor logged as requests.
QUIET_PATHS = ("/healthz", "/metrics")


# --- the request being served, for logs -------------------------------------------------------------------
@dataclass
class RequestContext:
    request_id: str
    scope: Scope  # the router fills in path_params and route as it matches

    @property
    def number(self) -> str | None:
        return self.scope.get("path_params", {}).get("number")


CURRENT: ContextVar[RequestContext | None] = ContextVar("fieldops_request", default=None)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestTelemetry:
    """Gives each request an id (the caller's X-Request-ID when it is a sane token), echoes it in the answer,
    and counts the request by route template and status once it is answered."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        context = RequestContext(given if REQUEST_ID.match(given) else uuid.uuid4().hex, scope)
        token = CURRENT.set(context)
        status = 500  # what the client gets when the app raises before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", context.request_id.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CURRENT.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # templates only: bounded labels
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)
            if status < 400 and scope["method"] == "POST":
                for suffix, step in UPLOAD_ROUTES.items():
                    if route.endswith(suffix):
                        UPLOADS.labels(self.service, step).inc()


async def metrics(request: Request) -> Response:
    # For scrapers inside the deployment, never from outside: the gateway (whose catch-all route reaches the
    # portal) marks what it forwards with X-Forwarded-For.
    if "x-forwarded-for" in request.headers:
        return Response(status_code=404)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def instrument_app(app: FastAPI, service: str) -> None:
    """Request ids, request metrics, server spans and /metrics (outside the OpenAPI document) on one app."""
    setup(service)
    app.add_route("/metrics", metrics, include_in_schema=False)
    app.add_middleware(RequestTelemetry, service=service)
    if tracing_enabled():  # the instrumentation alone takes a second to import
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=",".join(QUIET_PATHS), exclude_spans=["receive", "send"])


# --- activities ---------------------------------------------------------------------------------------
class ActivityMetrics(Interceptor):
    """Counts and times every activity this process's workers run."""

    def __init__(self, service: str) -> None:
        self.service = service

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetricsInbound(next, self.service)


class _ActivityMetricsInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, service: str) -> None:
        super().__init__(next)
        self.service = service

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        started, outcome = time.perf_counter(), "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            return result
        finally:
            ACTIVITIES.labels(self.service, name, outcome).inc()
            ACTIVITY_LATENCY.labels(self.service, name).observe(time.perf_counter() - started)


# --- the Temporal SDK's metrics, in this process's registry -------------------------------------------------
# Seconds, as Prometheus measures time; the SDK's own histograms otherwise count milliseconds.
SDK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, math.inf)


class TemporalSdkMetrics:
    """A Prometheus collector fed by the SDK's metric buffer: counters add up, gauges keep their last value,
    histograms fill fixed buckets. Drained on every scrape and every few seconds (a full buffer drops updates)."""

    def __init__(self, buffer: MetricBuffer) -> None:
        self.buffer = buffer
        self.lock = threading.Lock()
        self.series: dict[str, tuple[Any, str, dict[tuple, Any]]] = {}
        self.closed = False

    def close(self) -> None:
        # At exit, before the SDK's runtime goes away: no drain may reach into it while it is torn down.
        with self.lock:
            self.closed = True

    def drain(self) -> None:
        with self.lock:
            if self.closed:
                return
            for update in self.buffer.retrieve_updates():
                metric = update.metric
                series: tuple[Any, str, dict[tuple, Any]] = (metric.kind, metric.description or metric.name, {})
                kind, _, values = self.series.setdefault(metric.name, series)
                labels = tuple(sorted((key, str(value)) for key, value in update.attributes.items()))
                if kind == BUFFERED_METRIC_KIND_COUNTER:
                    values[labels] = values.get(labels, 0) + update.value
                elif kind == BUFFERED_METRIC_KIND_GAUGE:
                    values[labels] = update.value
                else:
                    buckets, total = values.setdefault(labels, ([0] * len(SDK_BUCKETS), [0.0]))
                    for i, bound in enumerate(SDK_BUCKETS):
                        if update.value <= bound:
                            buckets[i] += 1
                    total[0] += update.value

    def collect(self):
        self.drain()
        with self.lock:
            for name, (kind, help_text, values) in sorted(self.series.items()):
                if kind == BUFFERED_METRIC_KIND_COUNTER:
                    family = Metric(name, help_text, "counter")
                    for labels, value in values.items():
                        family.add_sample(f"{name}_total", dict(labels), value)
                elif kind == BUFFERED_METRIC_KIND_GAUGE:
                    family = Metric(name, help_text, "gauge")
                    for labels, value in values.items():
                        family.add_sample(name, dict(labels), value)
                else:
                    family = Metric(name, help_text, "histogram")
                    for labels, (buckets, total) in values.items():
                        for bound, count in zip(SDK_BUCKETS, buckets, strict=True):
                            family.add_sample(f"{name}_bucket", {**dict(labels), "le": _bound(bound)}, count)
                        family.add_sample(f"{name}_count", dict(labels), buckets[-1])
                        family.add_sample(f"{name}_sum", dict(labels), total[0])
                yield family


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


_runtime: Runtime | None = None


def temporal_runtime() -> Runtime | None:
    """The Temporal runtime whose metrics this process reports (None before setup: the SDK's default)."""
    return _runtime


def _bridge_temporal_metrics() -> None:
    global _runtime
    buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
    _runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    collector = TemporalSdkMetrics(buffer)
    REGISTRY.register(collector)

    def drain_forever() -> None:
        while not collector.closed:
            time.sleep(5)
            collector.drain()

    atexit.register(collector.close)
    threading.Thread(target=drain_forever, name="temporal-metrics", daemon=True).start()


# --- logs ---------------------------------------------------------------------------------------------
class ContextFields(logging.Filter):
    """Adds the service, the request id, the request number, the workflow id and the trace id to every record that
    has them: from the request being served, or from the workflow or activity that logged (Temporal's loggers put
    their info on the record)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        request = CURRENT.get()
        number = None
        if request is not None:
            record.request_id = request.request_id
            number = request.number
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        workflow_id = temporal.get("workflow_id") if isinstance(temporal, dict) else None
        if workflow_id is None and activity.in_activity():
            workflow_id = activity.info().workflow_id
        if workflow_id is None and number is not None:
            workflow_id = request_workflow_id(number)
        prefix = request_workflow_id("")
        if number is None and workflow_id and workflow_id.startswith(prefix):
            number = workflow_id[len(prefix) :]
        if number is not None:
            record.request_number = number
        if workflow_id is not None:
            record.workflow_id = workflow_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # the line can be found from its trace, and the other way round
            record.trace_id = format(span.trace_id, "032x")
        return True


def _configure_logging(service: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(ContextFields(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("FIELDOPS_LOG_LEVEL", "INFO").upper())
    # uvicorn's loggers (access log included) write through the same handler rather than their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per outgoing call: spans tell that


# --- traces -------------------------------------------------------------------------------------------
def _configure_tracing(service: str) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or f"fieldops-{service}"})
    provider = TracerProvider(resource=resource)  # flushes its spans at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads the OTEL_EXPORTER_OTLP_* settings
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument()  # the services' calls to one another (shared/internal.py)
    HTTPXClientInstrumentor().instrument()  # the portal's calls to the API (services/web/client.py)
    BotocoreInstrumentor().instrument()


def tracing_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def trace_database(engine) -> None:
    """Spans for one service's database statements (an AsyncEngine or an Engine)."""
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares SQLAlchemy < 2.1; its event hooks work the same on 2.1.
    SQLAlchemyInstrumentor().instrument(engine=getattr(engine, "sync_engine", engine), skip_dep_check=True)


async def _traced_smtp_send(wrapped, instance, args, kwargs):
    """Around `shared.mailer.Connection.send`: a span and a count per message (a connection's first message
    includes connecting, so a mail server that is down counts as a failed message)."""
    with tracer.start_as_current_span(
        "smtp send",
        kind=trace.SpanKind.CLIENT,
        attributes={"server.address": instance.hostname, "server.port": instance.port},
    ):
        service = _service or "unknown"
        try:
            result = await wrapped(*args, **kwargs)
        except Exception:
            EMAILS.labels(service, "failed").inc()
            raise
        EMAILS.labels(service, "sent").inc()
        return result


def _instrument_smtp() -> None:
    from shared import mailer

    if not isinstance(mailer.Connection.__dict__["send"], wrapt.FunctionWrapper):
        wrapt.wrap_function_wrapper(mailer, "Connection.send", _traced_smtp_send)


_service: str | None = None


def setup(service: str) -> None:
    """Logs, traces and metrics for this process, once (an app built twice in one process sets up once)."""
    global _service
    if _service is not None:
        return
    _service = service
    _configure_logging(service)
    if tracing_enabled():
        _configure_tracing(service)
    _instrument_smtp()
    _bridge_temporal_metrics()


def serve_metrics(host: str, port: int) -> None:
    """/metrics on a port of its own, for a process without an HTTP API (the workflow worker)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)
