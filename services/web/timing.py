"""`Server-Timing` on every answer: `app;dur=<ms>`, how long the portal took, API calls included, and
`api;dur=<ms>;desc="<n> calls"`, the time its API calls took added up (more than `app` when they ran side by side).
The portal benchmark reads them, and a browser's developer tools show them beside each request."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class ApiTime:
    calls: int = 0
    ms: float = 0.0


# The answer being made's API time; tasks started for it (asyncio.gather) share the same object.
api_time: ContextVar[ApiTime | None] = ContextVar("api_time", default=None)


def count_api_call(started: float) -> None:
    """Called by the API client as each call ends (`started`: its time.perf_counter() at the start)."""
    spent = api_time.get()
    if spent is not None:
        spent.calls += 1
        spent.ms += (time.perf_counter() - started) * 1000


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        spent = ApiTime()
        api_time.set(spent)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                header = f'app;dur={elapsed:.1f}, api;dur={spent.ms:.1f};desc="{spent.calls} calls"'
                message["headers"] = [*message.get("headers", []), (b"server-timing", header.encode())]
            await send(message)

        await self.app(scope, receive, timed_send)
