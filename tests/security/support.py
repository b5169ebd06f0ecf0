"""Calls straight to one service's port, past the gateway: each service must refuse on its own."""

from __future__ import annotations

import httpx

from shared.settings import SERVICES

# A route of each service that any signed-in user may call (an answer other than 401 means the token was taken).
SIGNED_IN_ROUTE = {
    "intake": "/api/v1/me",
    "routing": "/api/v1/work-orders",
    "invoicing": "/api/v1/invoices",
    "notifications": "/api/v1/notifications",
}
assert set(SIGNED_IN_ROUTE) == set(SERVICES)


async def direct(stack, service: str, method: str, path: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.settings.service_url(service), timeout=30) as client:
        return await client.request(method, path, **kw)


async def statuses(stack, token: str) -> dict[str, int]:
    """Each service's answer to this bearer token, asked directly."""
    bearer = {"Authorization": f"Bearer {token}"}
    return {
        service: (await direct(stack, service, "GET", path, headers=bearer)).status_code
        for service, path in SIGNED_IN_ROUTE.items()
    }
