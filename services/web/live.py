"""Live pages: server-sent events that tell an open page which requests changed.

Each open page holds one EventSource on `/live`. The portal follows the API's change feed
(`GET /api/v1/changes?after=<timeline id>`) for the person viewing; one poller per person in this process,
shared by all their open pages, runs only while at least one page is open: with no page open it costs nothing.
The event id is the timeline id, so a dropped connection resumes where it stopped (`Last-Event-ID`). The page's
script turns each event into an htmx trigger (`fieldops:changed`) that refreshes the parts that show it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from services.web.client import ApiClient, ApiError, ServiceDown, SignInRequired
from services.web.session import Portal, current_portal

log = logging.getLogger("fieldops.web.live")
POLL_EVERY = 1.0  # seconds: a change shows within about this, well inside the 3 s the portal promises
router = APIRouter()


@dataclass
class Follower:
    """One person's poller and the queues of their open pages."""

    user_id: int
    portal: Portal
    cursor: int
    queues: set[asyncio.Queue] = field(default_factory=set)
    task: asyncio.Task | None = None


class Hub:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.followers: dict[int, Follower] = {}

    async def subscribe(self, portal: Portal, after: int | None) -> tuple[asyncio.Queue, int]:
        user_id = portal.user["id"]
        follower = self.followers.get(user_id)
        if follower is None:
            start = after if after is not None else (await portal.get("/changes"))["last_id"]
            follower = self.followers[user_id] = Follower(user_id, portal, start)
            follower.task = asyncio.create_task(self._follow(follower), name=f"live-{user_id}")
        else:
            follower.portal = portal  # the freshest session's token
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        follower.queues.add(queue)
        if after is not None and after < follower.cursor:  # a page resuming behind the poller: refresh it all
            queue.put_nowait({"id": follower.cursor, "numbers": ["*"]})
        return queue, follower.cursor if after is None else after

    def unsubscribe(self, user_id: int, queue: asyncio.Queue) -> None:
        follower = self.followers.get(user_id)
        if follower is None:
            return
        follower.queues.discard(queue)
        if not follower.queues:
            self.followers.pop(user_id, None)
            if follower.task:
                follower.task.cancel()

    async def _follow(self, follower: Follower) -> None:
        while follower.queues:
            portal = follower.portal
            try:
                page = await portal.get("/changes", after=follower.cursor)
            except (SignInRequired, ApiError):
                if follower.portal is not portal:  # a page opened meanwhile with a fresher session: use it
                    continue
                self._publish(follower, {"signed_out": True})
                if self.followers.get(follower.user_id) is follower:  # a page opened next starts a new poller
                    del self.followers[follower.user_id]
                return
            except ServiceDown:
                await asyncio.sleep(POLL_EVERY * 3)
                continue
            if page["items"]:
                follower.cursor = page["last_id"]
                numbers = sorted({item["number"] for item in page["items"]})
                self._publish(follower, {"id": follower.cursor, "numbers": numbers})
            await asyncio.sleep(POLL_EVERY)

    @staticmethod
    def _publish(follower: Follower, event: dict) -> None:
        for queue in list(follower.queues):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page catches up on its next reload
                queue.put_nowait(event)

    async def close(self) -> None:
        for follower in list(self.followers.values()):
            if follower.task:
                follower.task.cancel()
        self.followers.clear()


def _one_event(event: str, retry_ms: int | None = None) -> EventSourceResponse:
    """A stream that says one thing and ends: an EventSource must always get an event stream, never the
    sign-in page or an error page (the browser would abort it with a console error)."""

    async def once():
        yield {"event": event, "data": "{}", **({"retry": retry_ms} if retry_ms else {})}

    return EventSourceResponse(once(), headers={"Cache-Control": "no-store"})


@router.get("/live")
async def live(request: Request):
    hub: Hub = request.app.state.live
    last = request.headers.get("last-event-id")
    after = int(last) if last and last.isdigit() else None
    try:
        portal = await current_portal(request)
        queue, cursor = await hub.subscribe(portal, after)
    except (SignInRequired, ApiError):
        return _one_event("signed-out")
    except ServiceDown:  # the page's EventSource comes back by itself once the backend answers again
        return _one_event("waiting", retry_ms=int(POLL_EVERY * 3000))

    async def events():
        try:
            yield {"event": "ready", "id": str(cursor), "data": "{}"}
            while True:
                event = await queue.get()
                if event.get("signed_out"):
                    yield {"event": "signed-out", "data": "{}"}
                    return
                yield {"event": "changed", "id": str(event["id"]), "data": json.dumps({"numbers": event["numbers"]})}
        finally:
            hub.unsubscribe(portal.user["id"], queue)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
