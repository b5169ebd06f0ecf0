"""Sign in, sign out, and the forgotten-password pair: the only pages open to people who are not signed in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from services.web.client import ApiError, SignInRequired
from services.web.session import ApiDep, check_csrf, start_session
from services.web.templating import render
from shared.auth import client_ip
from shared.internal import on_behalf_of

router = APIRouter(dependencies=[Depends(check_csrf)])


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to somewhere else."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def sign_in_with(request: Request, api, email: str, password: str) -> None:
    try:
        # Throttling counts failures per client address: the person's, not the portal's own.
        tokens = await api.call(
            "POST",
            "/auth/token",
            data={"username": email, "password": password},
            headers=on_behalf_of(request.app.state.settings, client_ip(request)),
        )
    except SignInRequired as exc:  # a 401 here is a wrong password, not an ended session
        raise ApiError(401, "wrong email or password") from exc
    me = await api.call("GET", "/me", tokens["access_token"])
    start_session(request, tokens, me)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None):
    if request.session.get("user"):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "auth/sign_in.html", {"next": safe_next(next), "email": ""})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    api: ApiDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    if not email.strip() or not password:
        return render(
            request,
            "auth/sign_in.html",
            {"next": safe_next(next), "email": email, "error": "Enter your email and your password."},
            status_code=422,
        )
    try:
        await sign_in_with(request, api, email.strip(), password)
    except ApiError as exc:
        message = exc.message if exc.status == 429 else "That email and password do not match an active account."
        return render(
            request,
            "auth/sign_in.html",
            {"next": safe_next(next), "email": email, "error": message},
            status_code=exc.status if exc.status in (401, 429) else 422,
        )
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request):
    request.session.clear()
    return RedirectResponse("/sign-in?signed_out=1", status_code=303)


@router.get("/forgot-password")
async def forgot_page(request: Request, email: str = "", expired: bool = False):
    return render(request, "auth/forgot.html", {"email": email, "expired": expired})


@router.post("/forgot-password")
async def forgot(request: Request, api: ApiDep, email: Annotated[str, Form()] = ""):
    email = email.strip()
    if "@" not in email:
        return render(
            request, "auth/forgot.html", {"email": email, "error": "Enter the email you sign in with."}, status_code=422
        )
    try:
        await api.call("POST", "/auth/password-reset", json={"email": email})
    except ApiError as exc:
        return render(request, "auth/forgot.html", {"email": email, "error": exc.message}, status_code=exc.status)
    return render(request, "auth/forgot.html", {"email": email, "sent": True})


@router.get("/reset-password")
async def reset_page(request: Request, token: str = ""):
    if not token:
        return RedirectResponse("/forgot-password", status_code=303)
    return render(request, "auth/reset.html", {"token": token})


@router.post("/reset-password")
async def reset(
    request: Request,
    api: ApiDep,
    token: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
):
    ctx = {"token": token}
    if len(new_password) < 8:
        return render(
            request,
            "auth/reset.html",
            {**ctx, "errors": {"new_password": "Use at least 8 characters."}},
            status_code=422,
        )
    if new_password != confirm_password:
        return render(
            request,
            "auth/reset.html",
            {**ctx, "errors": {"confirm_password": "The two passwords differ."}},
            status_code=422,
        )
    try:
        tokens = await api.call(
            "POST", "/auth/password-reset/confirm", json={"token": token, "new_password": new_password, "sign_in": True}
        )
    except ApiError as exc:
        if exc.status == 400:  # used, expired or unknown: say so and offer a new link
            return render(request, "auth/reset.html", {**ctx, "expired": True}, status_code=400)
        return render(
            request, "auth/reset.html", {**ctx, "errors": {"new_password": exc.message}}, status_code=exc.status
        )
    # The person is signed in with the new password at once.
    start_session(request, tokens, await api.call("GET", "/me", tokens["access_token"]))
    return RedirectResponse("/?password_changed=1", status_code=303)
