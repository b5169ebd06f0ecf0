"""No input is a 500: routing and invoicing (and every service, through the app factory) against a real stack,
through the gateway. Ids out of range, NaN and Infinity, malformed cursors, limits, the body size, 405s, and two
identical creations at the same instant."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest

from tests.support.api import User

pytestmark = pytest.mark.e2e
HUGE = 2**63


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


async def send(user: User, method: str, path: str, **kw):
    return await user.api.http.request(method, path, headers={**user.headers, **kw.pop("headers", {})}, **kw)


def no_library_text(text: str) -> None:
    for leak in ("Traceback", "sqlalchemy", "sqlite", "OverflowError", "psycopg", "temporalio"):
        assert leak.lower() not in text.lower(), text


async def test_ids_out_of_range_are_4xx(cast):
    d, r, p = cast.dispatcher, cast.receivable, cast.provider
    calls = [
        (r, "GET", f"/invoices/{HUGE}", None),
        (r, "GET", f"/invoices/{HUGE}/pdf", None),
        (r, "POST", f"/invoices/{HUGE}/record-payment", {"amount": "1.00", "paid_at": "2030-01-01T00:00:00Z"}),
        (r, "GET", f"/invoices/{-HUGE}", None),
        (d, "POST", "/work-events/SR-000001/assign", {"provider_id": HUGE}),
        (d, "POST", "/work-events/SR-000001/assign-team", {"team_id": HUGE}),
        (d, "POST", "/work-events/bulk", {"action": "assign", "numbers": ["SR-000001"], "provider_id": HUGE}),
        (d, "POST", "/work-events/bulk", {"action": "assign-team", "numbers": ["SR-000001"], "team_id": HUGE}),
        (d, "POST", "/work-events/bulk", {"action": "assign-team", "numbers": ["SR-000001"], "team_id": False}),
        (d, "POST", "/teams", {"name": "Huge", "provider_ids": [cast.provider_id, HUGE]}),
        (d, "GET", f"/providers?cursor={cursor({'id': HUGE})}", None),
        (r, "GET", f"/payments?cursor={cursor({'id': HUGE})}", None),
        (p, "GET", f"/work-orders/{'9' * 30}", None),
    ]
    for user, method, path, body in calls:
        response = await send(user, method, path, json=body) if body is not None else await send(user, method, path)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
        no_library_text(response.text)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "N", "email": "n@example.com", "x": NaN}',
        '{"name": Infinity, "email": "n@example.com"}',
        '{"name": "N", "email": "n@example.com", "x": -Infinity}',
        '{"name": "N", "email": "n@example.com", "x": 1e999}',
    ],
)
async def test_nan_and_infinity_are_a_422_in_every_service(cast, text):
    targets = [
        (cast.dispatcher, "POST", "/providers"),
        (cast.dispatcher, "POST", "/teams"),
        (cast.provider, "PUT", "/provider-invoices/600010001"),
        (cast.receivable, "POST", "/invoices/1/record-payment"),
        (cast.dispatcher, "POST", "/customers"),  # intake, through the same app factory
        (cast.customer, "POST", "/notifications/1/read"),
    ]  # notifications
    for user, method, path in targets:
        response = await send(user, method, path, content=text, headers={"content-type": "application/json"})
        assert response.status_code == 422, (path, response.status_code, response.text)


async def test_malformed_cursors_are_a_400(cast):
    bad = [
        cursor({"id": "x"}),
        cursor({"id": None}),
        cursor({"id": 1.5}),
        cursor({"n": None}),
        cursor({"at": "2026-01-01T10:00:00", "id": "manual-x"}),
        cursor([1, 2]),
        "bm90IGpzb24",
        "%%%",
        "AAAA",
    ]
    lists = [
        (cast.dispatcher, "/providers"),
        (cast.dispatcher, "/teams"),
        (cast.provider, "/work-orders"),
        (cast.receivable, "/payments"),
        (cast.receivable, "/invoices"),
        (cast.receivable, "/payment-runs"),
        (cast.dispatcher, "/customers"),
        (cast.dispatcher, "/assets"),
        (cast.customer, "/requests"),
        (cast.dispatcher, "/work-events"),
        (cast.admin, "/users"),
        (cast.admin, "/account-requests"),
        (cast.customer, "/notifications"),
    ]
    for user, path in lists:
        for value in bad:
            response = await send(user, "GET", path, params={"cursor": value})
            assert response.status_code == 400, (path, value, response.status_code, response.text)
            assert response.json() == {"detail": "invalid cursor"}


async def test_limit_outside_1_to_200_is_a_422(cast):
    lists = [
        (cast.dispatcher, "/providers"),
        (cast.dispatcher, "/teams"),
        (cast.provider, "/work-orders"),
        (cast.receivable, "/payments"),
        (cast.receivable, "/invoices"),
        (cast.receivable, "/payment-runs"),
        (cast.dispatcher, "/customers"),
        (cast.dispatcher, "/assets"),
        (cast.customer, "/requests"),
        (cast.dispatcher, "/work-events"),
        (cast.admin, "/users"),
        (cast.admin, "/account-requests"),
        (cast.customer, "/notifications"),
    ]
    for user, path in lists:
        for limit in ("-1", "0", "201", str(10**26), "ten"):
            response = await send(user, "GET", path, params={"limit": limit})
            assert response.status_code == 422, (path, limit, response.status_code)
        for limit in ("1", "200"):
            assert (await send(user, "GET", path, params={"limit": limit})).status_code == 200


async def test_lists_page_with_limit_and_cursor(cast):
    d = cast.dispatcher
    for n in range(3):
        await d.post("/teams", {"name": f"Paged {n}", "provider_ids": [cast.provider_id]}, expect=201)
    seen, next_cursor = [], None
    for _ in range(100):
        page = await d.get("/teams", params={"limit": 2, **({"cursor": next_cursor} if next_cursor else {})})
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        if not (next_cursor := page["next_cursor"]):
            break
    assert seen == sorted(set(seen)) and len(seen) >= 3
    runs = await cast.receivable.get("/payment-runs", params={"limit": 1})
    if runs["next_cursor"]:
        more = await cast.receivable.get("/payment-runs", params={"limit": 1, "cursor": runs["next_cursor"]})
        assert more["items"][0]["id"] != runs["items"][0]["id"]


async def test_a_body_above_one_megabyte_is_a_413(cast):
    big = json.dumps({"name": "x" * (1024 * 1024), "email": "big@example.com"})
    for user, method, path in [
        (cast.dispatcher, "POST", "/providers"),
        (cast.provider, "PUT", "/provider-invoices/600010001"),
        (cast.dispatcher, "POST", "/customers"),
        (cast.customer, "POST", "/notifications/1/read"),
    ]:
        response = await send(user, method, path, content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
    # Just under the limit is read and judged on its content.
    fits = json.dumps({"name": "x" * 1000, "email": "fits@example.com"})
    assert (
        await send(cast.dispatcher, "POST", "/providers", content=fits, headers={"content-type": "application/json"})
    ).status_code == 422  # name too long


async def test_a_405_allows_every_method_of_the_path(cast):
    response = await send(cast.provider, "DELETE", "/provider-invoices/600010001")
    assert response.status_code == 405
    assert {"GET", "PUT"} <= set(response.headers["allow"].split(", "))
    response = await send(cast.dispatcher, "PATCH", "/teams")
    assert response.status_code == 405
    assert {"GET", "POST"} <= set(response.headers["allow"].split(", "))


async def test_unreadable_numbers_and_bulk_failures_say_nothing_internal(cast):
    response = await send(cast.dispatcher, "POST", f"/work-events/SR-{'9' * 1100}/publish", json={})
    assert response.status_code == 404, response.text
    no_library_text(response.text)
    results = await cast.dispatcher.post("/work-events/bulk", {"action": "publish", "numbers": ["SR-999999999"]})
    no_library_text(json.dumps(results))
    too_long = await send(
        cast.dispatcher, "POST", "/work-events/bulk", json={"action": "publish", "numbers": ["S" * 41]}
    )
    assert too_long.status_code == 422


async def race(user: User, path: str, body: dict, key: str, expect_status: int = 201) -> list[dict]:
    responses = await asyncio.gather(
        *(send(user, "POST", path, json=body, headers={"Idempotency-Key": key}) for _ in range(2))
    )
    for response in responses:
        assert response.status_code in (expect_status, 409), (path, response.status_code, response.text)
    return [r.json() for r in responses if r.status_code == expect_status]


async def test_two_identical_creations_at_the_same_instant(cast):
    """The second gets the first's response (or a 409 while the first still runs), never a 500 or a twin."""
    d = cast.dispatcher
    for _ in range(8):
        made = await race(
            d, "/providers", {"name": f"Twin {uuid.uuid4().hex[:6]}", "email": "t@example.com"}, uuid.uuid4().hex
        )
        assert len({p["id"] for p in made}) == 1
        made = await race(d, "/teams", {"name": "Twin team", "provider_ids": [cast.provider_id]}, uuid.uuid4().hex)
        assert len({t["id"] for t in made}) == 1
    name = f"Once {uuid.uuid4().hex[:6]}"
    await race(d, "/providers", {"name": name, "email": "o@example.com"}, key := uuid.uuid4().hex)
    assert len((await d.get("/providers", params={"q": name}))["items"]) == 1
    other_body = await send(
        d, "POST", "/providers", json={"name": "Else", "email": "o@example.com"}, headers={"Idempotency-Key": key}
    )
    assert other_body.status_code == 422


async def test_payment_runs_with_one_key_are_one_run(cast):
    runs = await race(cast.receivable, "/payment-runs", {}, f"race-{uuid.uuid4().hex}")
    assert len({r["id"] for r in runs}) == 1
    again = await send(
        cast.receivable,
        "POST",
        "/payment-runs",
        json={},
        headers={"Idempotency-Key": runs[0]["id"].removeprefix("manual-")},
    )
    assert again.status_code == 201 and again.json()["id"] == runs[0]["id"]
