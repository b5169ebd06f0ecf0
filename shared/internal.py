"""Calls from one service to another's `/internal` routes (never exposed by the gateway), and the service
credential those routes demand: a shared secret (FIELDOPS_INTERNAL_TOKEN) in one header."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

import httpx
from fastapi import Header, HTTPException

from shared.settings import Settings, get_settings

CREDENTIAL_HEADER = "X-Fieldops-Service"
# The address of the person a trusted service (the portal) acts for; believed only beside the credential.
CLIENT_HEADER = "X-Fieldops-Client"

# One pooled client per process, reused by every call (no connection set-up per call). A client belongs to the event
# loop it first ran on: a process running another loop later (a test) gets a client of its own.
_pool: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None


def client() -> httpx.AsyncClient:
    global _pool
    loop = asyncio.get_running_loop()
    if _pool is None or _pool[0] is not loop:
        _pool = (
            loop,
            httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)),
        )
    return _pool[1]


def internal_token(settings: Settings) -> str:
    if settings.internal_token is None:
        raise RuntimeError("FIELDOPS_INTERNAL_TOKEN is not set: the services cannot call one another")
    return settings.internal_token


def credential(settings: Settings) -> dict[str, str]:
    return {CREDENTIAL_HEADER: internal_token(settings)}


def on_behalf_of(settings: Settings, address: str) -> dict[str, str]:
    """Headers by which a trusted service names the address of the person it acts for (sign-in throttling)."""
    return {**credential(settings), CLIENT_HEADER: address}


async def internal_get(settings: Settings, service: str, path: str) -> Any | None:
    """The JSON another service answers at `/internal/<path>`, or None when it answers 404."""
    response = await client().get(f"{settings.service_url(service)}/internal/{path}", headers=credential(settings))
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


async def token_is_current(settings: Settings, token: str) -> bool:
    """Whether intake still honours this bearer token (its user active, of the same role and token version).
    Asked on every call: nothing is cached, so a deactivation is never answered with a stale yes."""
    try:
        response = await client().get(
            f"{settings.service_url('intake')}/internal/auth/check",
            headers={**credential(settings), "Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        raise HTTPException(503, "sign-in cannot be checked just now; try again shortly") from exc
    if response.status_code == 401:
        return False
    if response.status_code != 200:
        raise HTTPException(503, "sign-in cannot be checked just now; try again shortly")
    return True


def is_service(given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode(), internal_token(get_settings()).encode())


def require_service(given: Annotated[str | None, Header(alias=CREDENTIAL_HEADER)] = None) -> None:
    """The dependency of every `/internal` router: a caller without the service credential is a 401."""
    if not is_service(given):
        raise HTTPException(401, "a service credential is needed")
