"""Read-your-writes under load: an action answers once the workflow has moved and the read copy is written, so
the person who acted sees the new status and the action's event (the request's next version) on the very next
GET, however many others act at the same time. Emails and feed entries follow the answer; they are not waited for
here."""

from __future__ import annotations

import asyncio

import pytest

from tests.lifecycle.support import new_request, timeline

pytestmark = pytest.mark.e2e
ACTORS = 8


async def test_each_actor_reads_its_own_write_at_once_while_others_act(cast):
    async def lane(index: int) -> int:
        number = (await new_request(cast, summary=f"Read-your-writes {index}"))["number"]
        version = 1  # the creation event
        d, p = cast.dispatcher, cast.provider

        async def act(user, path: str, body: dict | None = None) -> dict:
            nonlocal version
            answer = await user.post(path, body or {})
            version += 1
            seen = await user.get(f"/requests/{number}")
            events = await timeline(user, number)
            assert seen["status"] == answer["status"], (path, seen["status"], answer["status"])
            assert len(events) == version, (path, [(e["kind"], e["status"]) for e in events])
            last = events[-1]
            assert last["kind"] == "status_change" and last["status"] == answer["status"], (path, last)
            return answer

        await act(d, f"/work-events/{number}/publish")
        wo = (await act(d, f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))["work_order_number"]
        await act(p, f"/work-orders/{wo}/accept")
        await act(p, f"/work-orders/{wo}/schedule", {"scheduled_for": "2030-01-15T09:00:00Z"})
        await act(p, f"/work-orders/{wo}/start")
        await act(p, f"/work-orders/{wo}/await-parts", {"notes": "compressor ordered"})
        await act(p, f"/work-orders/{wo}/resume")
        cancelled = await act(d, f"/requests/{number}/cancel", {"reason": "test over"})
        assert cancelled["status"] == "cancelled"
        return version

    versions = await asyncio.gather(*(lane(i) for i in range(ACTORS)))
    assert versions == [9] * ACTORS
