"""Calls from one service to another's `/internal` routes (never exposed by the gateway), and the service
credential those routes demand: a shared secret (FIELDOPS_INTERNAL_TOKEN) in one header."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import aiohttp
from fastapi import Header, HTTPException

from shared.settings import Settings, get_settings

CREDENTIAL_HEADER = "X-Fieldops-Service"
# The address of the person a trusted service (the portal) acts for; believed only beside the credential.
CLIENT_HEADER = "X-Fieldops-Client"
TIMEOUT = 10  # seconds for one call, connecting included
# What a call that got no answer raises: no connection, a broken one, or no answer in time.
UNANSWERED = (aiohttp.ClientError, asyncio.TimeoutError)


class Reply(Protocol):
    """What a service answered, read whole (an `Answer`; in the workflow tests, an httpx.Response)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


# One pooled aiohttp session per process, reused by every call (no connection set-up per call). aiohttp rather than
# httpx for these calls: a call to a local service took 1.7 ms of the caller's CPU with httpx, 0.3 ms with aiohttp,
# and an action makes about three of them (the token check, the read copy, its effect). A session belongs to the
# event loop it first ran on: a process running another loop later (a test) gets a session of its own.
_pool: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None


def session() -> aiohttp.ClientSession:
    global _pool
    loop = asyncio.get_running_loop()
    if _pool is None or _pool[0] is not loop or _pool[1].closed:
        # An idle connection is let go after 60 s, before the services' own 120 s (uvicorn --timeout-keep-alive) end it.
        # No session-wide timeout: `call` gives every request its own.
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=60)
        _pool = (loop, aiohttp.ClientSession(connector=connector))
    return _pool[1]


async def close_session() -> None:
    """At a process's end: its pooled connections closed rather than dropped."""
    global _pool
    if _pool is not None and _pool[0] is asyncio.get_running_loop():
        await _pool[1].close()
    _pool = None


async def call(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = TIMEOUT
) -> Answer:
    """One call to another service, its answer read whole; raises one of UNANSWERED when there is none."""
    async with session().request(
        method, url, headers=headers, data=body, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as response:
        return Answer(response.status, await response.read())


def internal_token(settings: Settings) -> str:
    if settings.internal_token is None:
        raise RuntimeError("FIELDOPS_INTERNAL_TOKEN is not set: the services cannot call one another")
    return settings.internal_token


def credential(settings: Settings) -> dict[str, str]:
    return {CREDENTIAL_HEADER: internal_token(settings)}


def on_behalf_of(settings: Settings, address: str) -> dict[str, str]:
    """Headers by which a trusted service names the address of the person it acts for (sign-in throttling)."""
    return {**credential(settings), CLIENT_HEADER: address}


def not_answering(service: str) -> HTTPException:
    """The 503 for a call another service did not answer, or answered with a failure."""
    return HTTPException(503, f"the {service} service is not answering; try again shortly")


async def internal_get(settings: Settings, service: str, path: str) -> Any | None:
    """The JSON another service answers at `/internal/<path>`, or None when it answers 404."""
    try:
        answer = await call("GET", f"{settings.service_url(service)}/internal/{path}", credential(settings))
    except UNANSWERED as exc:
        raise not_answering(service) from exc
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise not_answering(service)
    return answer.json()


async def token_is_current(settings: Settings, token: str) -> bool:
    """Whether intake still honours this bearer token (its user active, of the same role and token version).
    Asked on every call: nothing is cached, so a deactivation is never answered with a stale yes."""
    try:
        response = await call(
            "GET",
            f"{settings.service_url('intake')}/internal/auth/check",
            {**credential(settings), "Authorization": f"Bearer {token}"},
        )
    except UNANSWERED as exc:
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
