"""The shared building blocks that keep any input a 4xx, on a bare app (no stack): the cursor decoder, the id
and limit types, the body guard, the 405 `Allow` header, the idempotency race."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import MetaData

from shared.db import Database
from shared.http import MAX_ID, Cursor, Id, Limit, Moment, decode_cursor, encode_cursor, page, parse_money
from shared.idempotency import Idempotency, IdempotentReplay, idempotency_table
from shared.service_app import harden


def raw(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        raw({"id": "x"}),
        raw({"id": None}),
        raw({"id": 2**63}),
        raw({"id": -1}),
        raw({"id": True}),
        raw({"id": 1.5}),
        raw({}),
        raw({"id": 1, "more": 2}),
        raw([1]),
        raw("id"),
        "%%%not base64",
        "////",
        "a" * 2000,
        raw({"id": [1]}),
        base64.urlsafe_b64encode(b"[" * 100000).decode()[:999],
    ],
)
def test_a_malformed_cursor_is_a_400(cursor):
    with pytest.raises(HTTPException) as refused:
        decode_cursor(cursor, id=int)
    assert refused.value.status_code == 400


@pytest.mark.parametrize(
    "cursor", [raw({"v": "2026-01-01T10:00:00", "id": 1}), raw({"v": "yesterday", "id": 1}), raw({"v": 5, "id": 1})]
)
def test_a_cursor_time_needs_a_zone(cursor):
    with pytest.raises(HTTPException):
        decode_cursor(cursor, v=datetime, id=int)


def test_cursors_round_trip():
    moment = datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert decode_cursor(encode_cursor({"v": moment.isoformat(), "id": 7}), v=datetime, id=int) == {
        "v": moment,
        "id": 7,
    }
    assert decode_cursor(encode_cursor({"n": "600010001"}), n=str) == {"n": "600010001"}
    assert decode_cursor(None, id=int) is None and decode_cursor("", id=int) is None
    assert decode_cursor(encode_cursor({"anything": 1})) == {"anything": 1}  # unchecked, for older callers


def test_page_says_whether_there_is_more():
    assert page([1, 2, 3], 2, str, lambda n: {"id": n}) == {
        "items": ["1", "2"],
        "next_cursor": encode_cursor({"id": 2}),
    }
    assert page([1], 2, str, lambda n: {"id": n}) == {"items": ["1"], "next_cursor": None}


@pytest.mark.parametrize("text", ["1E+99", "1e999999999", "-0.001", "NaN", "-Infinity", "sNaN"])
def test_money_never_raises_anything_but_value_error(text):
    with pytest.raises(ValueError):
        parse_money(text)


class Body(BaseModel):
    team_id: Id
    ids: list[Id] = []
    ratio: float = 0


def bare_app(max_body_bytes: int = 1024) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: Id, limit: Limit = 50, cursor: Cursor = None) -> dict:
        return {"id": thing_id, "limit": limit}

    @app.put("/things/{thing_id}")
    async def put_thing(thing_id: Id, body: Body) -> dict:
        return {"id": thing_id}

    @app.post("/things")
    async def post_thing(body: Body) -> dict:
        return body.model_dump()

    @app.get("/overflow")
    async def overflow() -> dict:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret library detail")

    harden(app, max_body_bytes)
    return app


@pytest.fixture(scope="module")
def client():
    with TestClient(bare_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path",
    [
        f"/things/{2**63}",
        f"/things/{MAX_ID + 1}",
        "/things/0",
        "/things/-1",
        "/things/1?limit=0",
        "/things/1?limit=201",
        f"/things/1?limit={10**26}",
        "/things/1?limit=-1",
        "/things/1?cursor=" + "a" * 1001,
    ],
)
def test_out_of_range_in_a_path_or_query_is_a_422(client, path):
    assert client.get(path).status_code == 422


@pytest.mark.parametrize(
    "body", [{"team_id": 2**63}, {"team_id": False}, {"team_id": True}, {"team_id": 1, "ids": [1, 2**64]}]
)
def test_out_of_range_in_a_body_is_a_422(client, body):
    assert client.post("/things", json=body).status_code == 422


@pytest.mark.parametrize(
    "text",
    [
        '{"team_id": NaN}',
        '{"team_id": 1, "ratio": Infinity}',
        '{"team_id": 1, "ratio": -Infinity}',
        '{"team_id": 1, "ratio": 1e400}',
    ],
)
def test_non_finite_numbers_are_a_422(client, text):
    for headers in ({"content-type": "application/json"}, {}):
        response = client.post("/things", content=text, headers=headers)
        assert response.status_code == 422, response.text
        assert "NaN and Infinity" in response.text


def test_a_body_that_is_not_utf8_is_a_4xx(client):
    response = client.post("/things", content=b"\xff\xfe\xfa", headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500
    response = client.post("/things", content=b"\xff\xfe\xfa", headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_a_body_above_the_limit_is_a_413(client):
    big = json.dumps({"team_id": 1, "pad": "x" * 2000})
    assert client.post("/things", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 500

    assert client.post("/things", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/things", json={"team_id": 1}).status_code == 200


def test_a_405_names_every_method_of_the_path(client):
    response = client.delete("/things/1")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "PUT"}


def test_library_errors_stay_out_of_responses(client):
    overflow = client.get("/overflow")
    assert overflow.status_code == 422 and "SQLite" not in overflow.text
    boom = client.get("/boom")
    assert boom.status_code == 500 and "secret" not in boom.text


async def test_two_identical_creations_at_once_answer_the_first(tmp_path):
    """Both find no key, both create; the second's key insert is refused and it answers the first's response."""
    metadata = MetaData()
    table = idempotency_table(metadata)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    keys = Idempotency(table)
    both_checked = asyncio.Barrier(2)

    async def create(name: str, body: dict):
        async with db.sessions() as session:
            assert await keys.replay(session, "k1", "u1:things", body) is None
            await both_checked.wait()  # the race: neither has stored the key yet
            try:
                await keys.remember(session, "k1", "u1:things", body, 201, {"name": name})
                await session.commit()
                return {"name": name}
            except IdempotentReplay as replay:
                return json.loads(replay.response.body)

    first, second = await asyncio.gather(create("a", {"x": 1}), create("b", {"x": 1}))
    assert first == second  # one answer, given twice
    async with db.sessions() as session:
        assert (await keys.replay(session, "k1", "u1:things", {"x": 1})) is not None
        with pytest.raises(HTTPException) as other_body:
            await keys.replay(session, "k1", "u1:things", {"x": 2})
        assert other_body.value.status_code == 422
    await db.dispose()


class When(BaseModel):
    at: Moment


@pytest.mark.parametrize("text", ["2030-01-15T09:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_needs_a_zone_and_a_utc_time(text):
    with pytest.raises(ValueError):
        When.model_validate({"at": text})
    assert When.model_validate({"at": "2030-01-15T09:00:00+02:00"}).at.utcoffset().total_seconds() == 7200


def test_signed_tokens_with_foreign_claims_are_a_401_not_a_500():
    import jwt
    from fastapi import HTTPException

    from shared.auth import ALGORITHM, decode_token
    from shared.settings import get_settings

    now = 2_000_000_000
    for claims in (
        {"sub": "abc"},
        {"sub": str(2**63)},
        {"sub": "0"},
        {"sub": "5", "role": "emperor"},
        {"sub": "5", "role": "admin", "email": ["x"]},
    ):
        token = jwt.encode({"exp": now, **claims}, get_settings().secret_key, algorithm=ALGORITHM)
        try:
            decode_token(token)
        except HTTPException as exc:
            assert exc.status_code == 401, claims
        else:
            raise AssertionError(f"accepted {claims}")
