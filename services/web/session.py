"""Who is signed in, and what they may do from this browser.

The session lives in a signed cookie (Starlette's SessionMiddleware: `HttpOnly`, `SameSite=Lax`, `Secure`
outside the local stack), so the API's bearer token never reaches page JavaScript. It holds the access token
(one hour) and the refresh token (a working day from sign-in): the portal trades the latter for a new pair
shortly before the access token runs out. CSRF: one random token per session, sent back by every form (a
hidden field) and every htmx request (the `X-CSRF-Token` header set on <body>), compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from services.web.client import ApiClient, ApiError, SignInRequired

REFRESH_BEFORE = 120  # seconds before expiry when the access token is renewed
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
STAFF = ("dispatcher", "accounts_receivable", "admin")


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get("csrf_token")
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not hmac.compare_digest(str(sent), expected):
        raise HTTPException(403, "This form has expired. Reload the page and try again.")


def start_session(request: Request, tokens: dict, me: dict) -> None:
    request.session.clear()
    request.session.update(
        {
            "access": tokens["access_token"],
            "refresh": tokens.get("refresh_token"),
            "exp": int(time.time()) + int(tokens.get("expires_in", 3600)),
            "user": {
                k: me.get(k) for k in ("id", "email", "full_name", "role", "customer_id", "provider_id", "org_admin")
            },
            "csrf": secrets.token_urlsafe(32),
        }
    )


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request") and request.headers.get("hx-current-url"):
        current = request.headers["hx-current-url"]
        here = current.split("//", 1)[-1].split("/", 1)[-1]
        here = "/" + here
    return f"/sign-in?next={quote(here, safe='')}"


@dataclass
class Portal:
    """The signed-in person and their API: `await portal.get("/requests")`. A 401 ends the session."""

    request: Request
    api: ApiClient
    user: dict

    @property
    def role(self) -> str:
        return self.user["role"]

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"

    @property
    def is_provider(self) -> bool:
        return self.role == "provider"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    async def token(self) -> str:
        session = self.request.session
        if session.get("exp", 0) - time.time() < REFRESH_BEFORE:
            if not session.get("refresh"):
                raise SignInRequired()
            try:
                tokens = await self.api.call("POST", "/auth/refresh", json={"refresh_token": session["refresh"]})
            except ApiError as exc:
                raise SignInRequired() from exc
            session.update(
                {
                    "access": tokens["access_token"],
                    "refresh": tokens.get("refresh_token"),
                    "exp": int(time.time()) + int(tokens["expires_in"]),
                }
            )
        return session["access"]

    async def call(self, method: str, path: str, **kw) -> Any:
        try:
            return await self.api.call(method, path, await self.token(), **kw)
        except SignInRequired:
            self.request.session.clear()
            raise

    async def get(self, path: str, **params) -> Any:
        return await self.call("GET", path, params={k: v for k, v in params.items() if v not in (None, "")})

    async def post(self, path: str, body: Any = None, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self.call("POST", path, json=body if body is not None else {}, headers=headers)

    async def put(self, path: str, body: Any) -> Any:
        return await self.call("PUT", path, json=body)

    async def patch(self, path: str, body: Any) -> Any:
        return await self.call("PATCH", path, json=body)


def get_api(request: Request) -> ApiClient:
    return request.app.state.api


async def current_portal(request: Request) -> Portal:
    user = request.session.get("user")
    if not user or not request.session.get("access"):
        raise SignInRequired()
    return Portal(request, get_api(request), user)


PortalDep = Annotated[Portal, Depends(current_portal)]
ApiDep = Annotated[ApiClient, Depends(get_api)]


def need_role(portal: Portal, *roles: str) -> None:
    """A page for other roles is a 404 to this person: it does not exist for them."""
    if portal.role not in roles:
        raise HTTPException(404, "There is no such page.")


def form_key() -> str:
    """An Idempotency-Key for a creating form, rendered into it, so a double click creates one thing."""
    return uuid.uuid4().hex
