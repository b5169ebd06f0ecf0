"""The Temporal client every process uses: always with the pydantic data converter, spans carried from the
client through workflows to activities, and the process's metrics runtime (shared/observability.py)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter

from shared import observability
from shared.settings import Settings


async def connect(settings: Settings) -> Client:
    # Workers built on this client take its interceptors too. Only when traces are exported: with no tracer its
    # spans would be no-ops, but it would still put a context in the headers of every workflow, update and
    # activity (a lifecycle's replay took 8 % more CPU with it).
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()] if observability.tracing_enabled() else [],
        runtime=observability.temporal_runtime(),
    )
