"""The Temporal client every process uses: always with the pydantic data converter."""
from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from shared.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_target, namespace=settings.temporal_namespace, data_converter=pydantic_data_converter
    )
