"""The web portal: customers, operators and providers in their browser. `uvicorn services.web.app:app`

A client of the public API only (through the gateway, with the signed-in person's token): it has no database
and imports no other service. Pages are server-rendered; htmx (from the npm registry) updates parts of them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from services.web import live, pages
from services.web.client import ApiClient, ApiError, ServiceDown, SignInRequired
from services.web.session import sign_in_url
from services.web.templating import HERE, is_htmx, render
from services.web.timing import ServerTiming
from shared import observability
from shared.settings import get_settings

log = logging.getLogger("fieldops.web")
ASSETS = HERE / "node_modules"
TITLES = {
    400: "That address is not right",
    403: "Not allowed",
    404: "Page not found",
    409: "That cannot be done now",
    422: "That cannot be done",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Part of fieldops is not answering",
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    app.state.settings = settings
    app.state.api = ApiClient(settings.portal_api_base)
    app.state.live = live.Hub(app.state.api)
    try:
        yield
    finally:
        await app.state.live.close()
        await app.state.api.close()


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="fieldops portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=f"portal-session:{settings.secret_key}",
        session_cookie="fieldops_session",
        max_age=int(settings.session_ttl.total_seconds()),
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(ServerTiming)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Front-end packages exactly as npm ci installed them (see package.json); nothing is copied into git.
    app.mount("/assets/htmx", StaticFiles(directory=ASSETS / "htmx.org" / "dist", check_dir=False), name="htmx")
    app.mount("/assets/pico", StaticFiles(directory=ASSETS / "@picocss" / "pico" / "css", check_dir=False), name="pico")
    for router in pages.ROUTERS:
        app.include_router(router)
    app.include_router(live.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "web"}

    install_error_pages(app)
    observability.instrument_app(app, "web")  # request ids, metrics at /metrics, traces, JSON logs
    return app


def error_page(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    # htmx swaps 4xx/5xx answers by default: a partial request gets the message alone, in the page's alert box.
    if is_htmx(request):
        return render(
            request,
            "error.html",
            {"status": status, "title": TITLES.get(status, "Error"), "message": message},
            block="message",
            status_code=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", **(headers or {})},
        )
    return render(
        request,
        "error.html",
        {"status": status, "title": TITLES.get(status, "Error"), "message": message},
        status_code=status,
        headers=headers,
    )


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _exc: SignInRequired) -> Response:
        target = sign_in_url(request)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(ServiceDown)
    async def service_down(request: Request, exc: ServiceDown) -> Response:
        log.warning("backend not answering: %s", exc.what)
        return error_page(
            request,
            503,
            "Part of fieldops is not answering right now. Nothing you entered was lost: try again in a minute.",
            {"Retry-After": "30"},
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        status = exc.status if 400 <= exc.status < 500 else 500
        message = "There is no such page, or it is not yours to see." if status == 404 else exc.message
        return error_page(request, status, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if exc.status_code != 404 else "There is no such page, or it is not yours to see."
        return error_page(request, exc.status_code, str(message), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 400, "This address has a value we cannot read. Go back and try again.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return error_page(
            request,
            500,
            "Something went wrong on our side. Nothing you entered was lost; "
            "try again, and tell us if it keeps happening.",
        )


app = create_app()
