"""What every service process is: a FastAPI app whose lifespan opens its database and Temporal client and
runs its activity worker on its own task queue, in the same process; and what keeps any input a 4xx."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client
from temporalio.worker import Worker

from shared import effects, internal, observability
from shared.db import Database
from shared.idempotency import IdempotentReplay
from shared.openapi import add_docs
from shared.settings import Settings, get_settings
from shared.temporal import connect

log = logging.getLogger("fieldops")
# A request body is JSON or a small form: files never pass through a service (uploads go straight to S3).
MAX_BODY_BYTES = 1024 * 1024
DRAIN_AT_MOST = 16 * 1024 * 1024
# On SIGTERM, after uvicorn has drained in-flight requests: how long running activities may take to finish
# before they are cancelled (and retried elsewhere). Activities here take well under a second.
ACTIVITY_GRACE = timedelta(seconds=10)


class ServiceState:
    def __init__(self, service: str, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.db = Database(settings.database_url(service))
        self.temporal: Client | None = None


def create_app(
    service: str,
    routers: Sequence[APIRouter],
    activities: Callable[[ServiceState], list[Callable[..., Any]]],
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    observability.setup(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(service, get_settings())
        observability.trace_database(state.db.engine)
        state.temporal = await connect(state.settings)
        app.state.svc = state
        built = activities(state)
        app.state.effects = effects.index(built)  # what the workflow worker runs locally, over HTTP
        worker = Worker(
            state.temporal,
            task_queue=service,
            activities=built,
            graceful_shutdown_timeout=ACTIVITY_GRACE,
            max_concurrent_activities=50,
            interceptors=[observability.ActivityMetrics(service)],
        )
        task = asyncio.create_task(worker.run(), name=f"{service}-activity-worker")
        try:
            yield
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
            await state.db.dispose()
            await internal.close_session()

    # The docs page is add_docs' own: FastAPI's would load Swagger UI from a CDN.
    app = FastAPI(
        title=f"fieldops {service}",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"/api/v1/{service}/openapi.json",
    )
    for router in routers:
        app.include_router(router)
    app.include_router(effects.router)
    add_docs(app, service)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    harden(app, max_body_bytes)
    observability.instrument_app(app, service)
    return app


# --- any input is a 4xx ---------------------------------------------------------------------------------
def harden(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Body limits and the error answers every service shares: no input reaches a 500, and no library's error
    text reaches a response."""
    app.add_middleware(BodyGuard, max_bytes=max_body_bytes)
    # Starlette types every handler as taking any Exception, though it calls each with its own class only.
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IdempotentReplay, idempotent_replay)  # type: ignore[arg-type]
    # Safety nets for a value no schema bounded: an integer the database cannot hold (SQLite raises
    # OverflowError, PostgreSQL a DataError), a NUL character in PostgreSQL text, and the like.
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)
    # The database not answering (restarting, unreachable, SQLite busy past its timeout) is passing: a 503 that
    # says to try again, not a 500.
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(Exception, server_error)


class NotFinite(ValueError):
    pass


def _refuse_constant(token: str) -> float:
    raise NotFinite(token)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 parses as Infinity
        raise NotFinite(text)
    return value


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads this body as JSON: it does when no content type is given, too."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def json_problem(body: bytes) -> str | None:
    """What makes a JSON body unreadable that FastAPI would not answer with a 422 itself: NaN or Infinity, or
    bytes in no Unicode encoding (FastAPI's answer to those is a 400 of its own wording)."""
    try:
        json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except NotFinite:
        return "NaN and Infinity are not JSON numbers"
    except UnicodeDecodeError:
        return "the body is not text in UTF-8 (or UTF-16 or UTF-32)"
    except (ValueError, RecursionError):
        return None  # not JSON at all: the route's own parsing answers that
    return None


class BodyGuard:
    """Reads a request's body before any route does. Above `max_bytes` it is a 413; a JSON body holding NaN or
    Infinity (not JSON, though Python's parser takes them) is a 422, before a route could store one or echo it
    in an error that cannot be written as JSON; so is one that is not text (json_problem). Anything else is
    handed on unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self.too_large(scope, receive, send, more=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                break
        if body and is_json(headers.get("content-type")) and (problem := json_problem(bytes(body))):
            error = {"type": "json_invalid", "loc": ["body"], "msg": problem, "input": None}
            await JSONResponse({"detail": [error]}, status_code=422)(scope, receive, send)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: a disconnect, as the server reports it
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send, more: bool = True) -> None:
        # The rest of a moderately large body is read and dropped first: a proxy still sending it when the
        # connection closes would answer its client 502 instead of this 413.
        drained = 0
        while more and drained <= DRAIN_AT_MOST:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        megabytes = self.max_bytes / (1024 * 1024)
        response = JSONResponse(
            {"detail": f"the request body is larger than {megabytes:g} MB"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path. Starlette's own 405 names only the methods of the first
    route matching the path, though GET and PUT of one path are two routes. Each method is tried against the
    app's routes as a whole (included routers answer for their own routes)."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return await http_exception_handler(request, exc)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own answer, except that a body that is not UTF-8 is echoed with replacement characters rather
    # than failing to encode (a 500).
    errors = jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")})
    return JSONResponse({"detail": errors}, status_code=422)


async def idempotent_replay(request: Request, exc: IdempotentReplay) -> Response:
    return exc.response


async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: a value the database refused: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "a value in the request is out of range or not allowed"}, status_code=422)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: the database did not answer: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the service's database is not answering; try again in a few seconds"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette raises the exception again after this answer, so the server logs its traceback; the caller
    # learns nothing internal.
    return JSONResponse({"detail": "internal error"}, status_code=500)


def get_state(request: Request) -> ServiceState:
    return request.app.state.svc


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.svc.db.sessions() as session:
        yield session


def get_temporal(request: Request) -> Client:
    return request.app.state.svc.temporal


StateDep = Annotated[ServiceState, Depends(get_state)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
