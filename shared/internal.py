"""Calls from one service to another's `/internal` routes (never exposed by the gateway)."""
from __future__ import annotations

from typing import Any

import httpx

from shared.settings import Settings


async def internal_get(settings: Settings, service: str, path: str) -> Any | None:
    """The JSON another service answers at `/internal/<path>`, or None when it answers 404."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{settings.service_url(service)}/internal/{path}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()
