"""The account screens: profile, password, notifications, and an organisation admin's contacts."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.web.client import ApiError, ServiceDown
from services.web.pages.forms import field_errors, readable
from services.web.session import Portal, PortalDep, check_csrf, form_key
from services.web.templating import is_htmx, render

router = APIRouter(dependencies=[Depends(check_csrf)])

PROFILE_FIELDS = ("full_name", "phone", "notification_email")
PASSWORD_FIELDS = ("current_password", "new_password", "confirm_password")
SAVED = {
    "profile": "Your details are saved.",
    "password": "Your password is changed. Other browsers where you were signed in will ask you to sign in again.",
}
FEED_PAGE = 50
CONTACT_FIELDS = ("full_name", "email", "phone", "reason", "idempotency_key")
REQUEST_WORDS = {"pending": "Waiting for an administrator", "done": "Done", "rejected": "Declined"}


def say(errors: dict[str, str]) -> dict[str, str]:
    """The API's validation words, made plain where they are not (pydantic's email check)."""
    return {field: message.replace("Value is not a valid email address: ", "") for field, message in errors.items()}


# --- the header's unread count -------------------------------------------------------------------------------
@router.get("/notifications/unread")
async def unread_badge(portal: PortalDep):
    """The header's unread count: a small part every page loads and refreshes when something changes."""
    try:
        count = (await portal.get("/notifications/unread-count"))["unread"]
    except ServiceDown:
        return HTMLResponse("")
    label = f'<span class="badge" aria-label="{count} unread">{count}</span>' if count else ""
    return HTMLResponse(label)


# --- profile and password ------------------------------------------------------------------------------------
async def account_page(
    request: Request,
    portal: Portal,
    profile: dict | None = None,
    errors: dict | None = None,
    password_errors: dict | None = None,
    status: int = 200,
    saved: str = "",
):
    me = await portal.get("/me")
    values = profile if profile is not None else {k: me.get(k) or "" for k in PROFILE_FIELDS}
    return render(
        request,
        "account/account.html",
        {
            "nav": "account",
            "me": me,
            "values": values,
            "errors": errors or {},
            "password_errors": password_errors or {},
            "saved": SAVED.get(saved, ""),
            "org_admin": portal.is_customer and bool(me.get("org_admin")),
        },
        status_code=status,
    )


@router.get("/account")
async def account(request: Request, portal: PortalDep, saved: str = ""):
    return await account_page(request, portal, saved=saved)


@router.post("/account/profile")
async def save_profile(request: Request, portal: PortalDep):
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in PROFILE_FIELDS}
    # An empty phone or notification email clears it (emails then go to the sign-in address).
    body = {
        "full_name": values["full_name"],
        "phone": values["phone"] or None,
        "notification_email": values["notification_email"] or None,
    }
    try:
        me = await portal.patch("/me", body)
    except ApiError as exc:
        errors = say(field_errors(exc, {(f,): f for f in PROFILE_FIELDS}, "form"))
        return await account_page(request, portal, values, errors=errors, status=exc.status)
    request.session["user"] = {**request.session["user"], "full_name": me["full_name"]}
    return RedirectResponse("/account?saved=profile", status_code=303)


@router.post("/account/password")
async def change_password(request: Request, portal: PortalDep):
    form = await request.form()
    typed = {k: str(form.get(k, "")) for k in PASSWORD_FIELDS}
    errors: dict[str, str] = {}
    if not typed["current_password"]:
        errors["current_password"] = "Type the password you sign in with now."
    if len(typed["new_password"]) < 8:
        errors["new_password"] = "Use at least 8 characters."
    elif typed["new_password"] != typed["confirm_password"]:
        errors["confirm_password"] = "The two new passwords differ: type the same one twice."
    if not errors:
        try:
            tokens = await portal.post(
                "/me/password", {"current_password": typed["current_password"], "new_password": typed["new_password"]}
            )
        except ApiError as exc:
            errors = field_errors(exc, {(f,): f for f in PASSWORD_FIELDS}, "current_password")
            return await account_page(request, portal, password_errors=errors, status=exc.status)
        # Every older token stops working (other browsers are signed out): this one carries on with the new pair.
        request.session.update(
            {
                "access": tokens["access_token"],
                "refresh": tokens.get("refresh_token"),
                "exp": int(time.time()) + int(tokens.get("expires_in", 3600)),
            }
        )
        return RedirectResponse("/account?saved=password", status_code=303)
    return await account_page(request, portal, password_errors=errors, status=422)


# --- notifications -------------------------------------------------------------------------------------------
@router.get("/notifications")
async def notifications(request: Request, portal: PortalDep, show: str = "all", cursor: str = ""):
    show = show if show in ("all", "unread") else "all"
    unread = True if show == "unread" else None
    try:
        feed = await portal.get("/notifications", unread=unread, limit=FEED_PAGE, cursor=cursor)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        cursor, feed = "", await portal.get("/notifications", unread=unread, limit=FEED_PAGE)
    return render(
        request,
        "notifications/feed.html",
        {
            "nav": "notifications",
            "items": feed["items"],
            "show": show,
            "cursor": cursor,
            "next_cursor": feed.get("next_cursor"),
        },
    )


@router.post("/notifications/{notification_id}/read")
async def mark_read(notification_id: str, request: Request, portal: PortalDep):
    if not notification_id.isdigit() or len(notification_id) > 18:
        raise HTTPException(404, "There is no such page.")
    item = await portal.post(f"/notifications/{notification_id}/read")
    if is_htmx(request):
        # Only this item changes; the header's count hears the same event as after any change and refreshes.
        return render(
            request,
            "notifications/feed.html",
            {"n": item},
            block="item",
            headers={"HX-Trigger": json.dumps({"fieldops:changed": {"target": "body", "numbers": []}})},
        )
    back = str((await request.form()).get("back", ""))
    return RedirectResponse(back if back.startswith("/notifications") else "/notifications", status_code=303)


# --- an organisation admin's contacts --------------------------------------------------------------------
def need_org_admin(portal: Portal) -> None:
    if not (portal.is_customer and portal.user.get("org_admin")):
        raise HTTPException(404, "There is no such page.")


async def all_pages(portal: Portal, path: str, most: int = 1000) -> list[dict]:
    """Every item of a (small) list: an organisation's contacts or its account requests."""
    items: list[dict] = []
    cursor = None
    while len(items) < most:
        page = await portal.get(path, limit=200, cursor=cursor)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


async def contacts_page(
    request: Request,
    portal: Portal,
    values: dict | None = None,
    errors: dict | None = None,
    status: int = 200,
    flash: str = "",
    problem: str = "",
):
    await portal.token()  # renew the session's token once, before the calls below run side by side
    contacts, asked = await asyncio.gather(all_pages(portal, "/users"), all_pages(portal, "/account-requests"))
    asked.sort(key=lambda r: r["id"], reverse=True)
    names = {c["id"]: c for c in contacts}
    pending_deactivation = {r["user_id"] for r in asked if r["action"] == "deactivate" and r["status"] == "pending"}
    return render(
        request,
        "account/contacts.html",
        {
            "nav": "account",
            "contacts": sorted(contacts, key=lambda c: (not c["active"], c["full_name"].lower())),
            "requests": asked,
            "names": names,
            "pending_deactivation": pending_deactivation,
            "request_words": REQUEST_WORDS,
            "form_key": form_key,
            "me_id": portal.user["id"],
            "flash": flash,
            "problem": problem,
            "values": values or {"idempotency_key": form_key()},
            "errors": errors or {},
        },
        status_code=status,
    )


@router.get("/account/contacts")
async def contacts(request: Request, portal: PortalDep, asked: str = ""):
    need_org_admin(portal)
    flash = {
        "create": "Your request for a new account is sent to an administrator.",
        "deactivate": "Your request to deactivate the account is sent to an administrator.",
    }.get(asked, "")
    return await contacts_page(request, portal, flash=flash)


@router.post("/account/contacts")
async def ask_for_account(request: Request, portal: PortalDep):
    need_org_admin(portal)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in CONTACT_FIELDS}
    values["org_admin"] = "yes" if form.get("org_admin") else ""
    errors: dict[str, str] = {}
    if not values["full_name"]:
        errors["full_name"] = "Give the person's full name."
    if not values["email"]:
        errors["email"] = "Give the email the person will sign in with."
    if not errors:
        body = {
            "action": "create",
            "full_name": values["full_name"],
            "email": values["email"],
            "phone": values["phone"] or None,
            "org_admin": bool(values["org_admin"]),
            "reason": values["reason"] or None,
        }
        try:
            await portal.post("/account-requests", body, idempotency_key=values["idempotency_key"] or None)
        except ApiError as exc:
            if exc.status == 422 and "idempotency" in exc.message.lower():  # the key was used for another body
                values["idempotency_key"] = form_key()
            errors = say(field_errors(exc, {(f,): f for f in CONTACT_FIELDS}, "form"))
            return await contacts_page(request, portal, values, errors, status=exc.status)
        return RedirectResponse("/account/contacts?asked=create", status_code=303)
    return await contacts_page(request, portal, values, errors, status=422)


@router.post("/account/contacts/{user_id}/deactivate")
async def ask_to_deactivate(user_id: str, request: Request, portal: PortalDep):
    need_org_admin(portal)
    if not user_id.isdigit() or len(user_id) > 18:
        raise HTTPException(404, "There is no such page.")
    form = await request.form()
    key = str(form.get("idempotency_key", "")) or None
    try:
        await portal.post("/account-requests", {"action": "deactivate", "user_id": int(user_id)}, idempotency_key=key)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await contacts_page(request, portal, status=exc.status, problem=readable(exc.message))
    return RedirectResponse("/account/contacts?asked=deactivate", status_code=303)
