"""The page of one service request, /requests/{number}, for every role.

Everyone who may see the request (its customer, the provider holding it, the operators) gets the same page:
the status ribbon, the dates, the timeline with the notes composer, the files, the recommendations. Operators
get their side as well (work order, provider, offer, SLA chips, provider invoice, Temporal UI link) and its
actions as forms; the customer answers recommendations and may cancel while it is allowed. Whether the person
may see the request at all is the API's decision: another tenant's request is its 404, shown as the 404 page.

Each changing part of the page is a block of templates/request_page/page.html with its own address
(/requests/{number}/part/{name}); it refreshes itself when live.py says this request changed. Every action is
a plain form that POSTs and redirects back; htmx sends it in place and swaps the part it changed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from services.web.client import ApiError, ServiceDown, SignInRequired
from services.web.pages import request_view as view
from services.web.pages.forms import idempotency_key, refused
from services.web.session import Portal, PortalDep, check_csrf, form_key
from services.web.templating import is_htmx, render
from shared.contracts import names
from shared.contracts.enums import DONE

router = APIRouter(dependencies=[Depends(check_csrf)])

NUMBER = re.compile(r"^SR-\d{6,}$")
PAGE = "request_page/page.html"
PARTS = ("status", "recommendations", "timeline", "attachments")
PROVIDER_PAGES = 5  # GET /providers pages (200 each) read for names and the picker
DISPATCH = ("dispatcher", "admin")
# The operators' actions on the page (the API's work-event actions): who may take them, what the page says once done.
# When the page offers them is request_view.staff_actions.
ACTIONS = {
    "publish": (DISPATCH, "Published: the request is ready for routing."),
    "assign": (DISPATCH, "Offered to the provider."),
    "assign-team": (DISPATCH, "Offered to the team."),
    "send-to-marketplace": (DISPATCH, "Sent to the marketplace."),
    "approve-payment": (DISPATCH, "Payment to the provider approved."),
    "invoiced": (("accounts_receivable",), "Marked invoiced: the customer's invoice is issued."),
    "invoice-not-required": (("accounts_receivable",), "Marked as needing no invoice."),
}
DECISIONS = {"approve": "approved", "decline": "declined", "clarify": "asked for clarification"}
FLASH = "request_page_flash"


def check_number(number: str) -> None:
    if not NUMBER.match(number):
        raise HTTPException(404, "There is no such page.")


async def optional(call) -> Any:
    """A piece of the page that may be missing (not the person's to see, or its service is down): None then."""
    try:
        return await call
    except (ApiError, ServiceDown):
        return None


async def all_providers(portal: Portal) -> list[dict] | None:
    providers: list[dict] = []
    cursor = None
    for _ in range(PROVIDER_PAGES):
        page = await optional(portal.get("/providers", limit=200, cursor=cursor))
        if page is None:
            return providers or None
        providers += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return providers


# --- what the page shows ----------------------------------------------------------------------------
async def load(portal: Portal, number: str, parts: tuple[str, ...]) -> dict:
    """The API's answers the given parts need, fetched side by side: the request, then at once the few calls that
    need its asset, customer, status or work order, while every call that does not depend on it runs alongside."""
    await portal.token()  # renew the session's token once, before the calls below run side by side
    alongside: dict[str, Any] = {}
    if "timeline" in parts or "status" in parts:  # the ribbon and the offer are read from the timeline too
        alongside["timeline"] = portal.get(f"/requests/{number}/timeline")
    if "recommendations" in parts:
        alongside["recommendations"] = portal.get(f"/requests/{number}/recommendations")
    if "attachments" in parts:
        alongside["attachments"] = portal.get(f"/requests/{number}/attachments")
    if "status" in parts and portal.is_staff:
        alongside["providers"] = all_providers(portal)
    request_data, *answered = await asyncio.gather(request_and_its_own(portal, number, parts), *alongside.values())
    return {**request_data, **dict(zip(alongside, answered, strict=True))}


async def request_and_its_own(portal: Portal, number: str, parts: tuple[str, ...]) -> dict:
    """The request, and what the status part reads from the records it names."""
    req = await portal.get(f"/requests/{number}")
    role, status = portal.role, req["status"]
    then: dict[str, Any] = {}
    if "status" in parts:
        if portal.is_customer or role in DISPATCH:
            then["asset"] = optional(portal.get(f"/assets/{req['asset_id']}"))
        if portal.is_staff:
            then["customer"] = optional(portal.get(f"/customers/{req['customer_id']}"))
            if role in DISPATCH and status in view.ASSIGNABLE:
                then["teams"] = optional(portal.get("/teams"))
        if not portal.is_customer and req.get("work_order_number") and status in DONE:
            then["invoice"] = optional(portal.get(f"/provider-invoices/{req['work_order_number']}"))
    return {"req": req, **dict(zip(then, await asyncio.gather(*then.values()), strict=True))}


def context(request: Request, portal: Portal, number: str, data: dict, **extra) -> dict:
    req = data["req"]
    customer = portal.is_customer
    role = portal.role
    status = req["status"]
    timeline = (data.get("timeline") or {}).get("items", [])
    providers = data.get("providers")
    provider_names = {p["id"]: p["name"] for p in providers or []}
    asset = data.get("asset")
    recommendations = [
        {**r, "open": view.is_open(r, req)} for r in (data.get("recommendations") or {}).get("items", [])
    ]
    focus = extra.get("focus_rec")
    if focus is not None:  # the emailed link's recommendation first
        recommendations.sort(key=lambda r: r["id"] != focus)
    settings = request.app.state.settings
    errors = extra.get("errors") or {}
    # A refused action stays on the page, with why beside it, even where the request has moved on.
    acts = {name: allowed or name in errors for name, allowed in view.staff_actions(role, req).items()}
    ctx = {
        "nav": "requests" if customer else "work-orders" if portal.is_provider else "work-events",
        "number": number,
        "req": req,
        "role": role,
        "staff": portal.is_staff,
        "is_provider": portal.is_provider,
        "live": f"fieldops:changed[detail.numbers.includes('{number}')||detail.numbers.includes('*')] from:body",
        "asset": asset,
        "site": (asset or {}).get("site"),
        "customer": data.get("customer"),
        "ribbon": view.ribbon(req, timeline),
        "chips": view.sla_chips(req) if portal.is_staff else [],
        "offer": view.offer_state(req, timeline, provider_names) if portal.is_staff else None,
        "provider_name": provider_names.get(req.get("provider_id")) if req.get("provider_id") else None,
        "providers": providers or [],
        "providers_missing": portal.is_staff and providers is None,
        "teams": (data.get("teams") or {}).get("items"),
        # The provider side of billing is never given to a customer's page, whatever the API answered.
        "invoice": None if customer else data.get("invoice"),
        "payment_reference": None if customer else req.get("payment_reference"),
        "temporal_url": f"{settings.temporal_ui}/namespaces/{settings.temporal_namespace}/workflows/"
        f"{names.request_workflow_id(number)}"
        if portal.is_staff
        else None,
        "acts": acts,
        "any_staff_action": any(acts.values()),
        "may_cancel": view.may_cancel(role, status) or "cancel" in errors,
        "entries": view.timeline_entries(timeline, customer),
        "recommendations": recommendations,
        "attachments": [
            a
            for a in (data.get("attachments") or {}).get("items", [])
            if not customer or a.get("kind") != "provider_invoice"
        ],
        "kind_words": view.ATTACHMENT_KIND_WORDS,
        "decision_words": view.DECISION_WORDS,
        "invoice_status_words": view.INVOICE_STATUS_WORDS,
        "new_key": form_key,
        "errors": {},
        "values": {},
        "tab": "timeline",
        "notice": None,
        "focus_rec": None,
        "partial": False,
    }
    ctx.update(extra)
    return ctx


async def show(
    request: Request, portal: Portal, number: str, *, block: str | None = None, status_code: int = 200, **extra
):
    """The whole page, or one of its blocks (htmx), with what `extra` adds (errors, what was typed, a notice)."""
    parts = PARTS if block is None else {"composer": (), "note_saved": ("timeline",)}.get(block, (block,))
    data = await load(portal, number, parts)
    ctx = context(request, portal, number, data, partial=block is not None, **extra)
    if block is None:
        ctx["flash"] = request.session.pop(FLASH, None)
    return render(
        request,
        PAGE,
        ctx,
        block=block,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Vary": "HX-Request"},
    )


def done(request: Request, number: str, message: str, anchor: str = ""):
    """After an action without JavaScript: back to the page, which says what happened."""
    request.session[FLASH] = message
    return RedirectResponse(f"/requests/{number}{anchor}", status_code=303)


def problem(exc: ApiError, portal: Portal) -> str:
    if exc.status == 409:
        return view.refusal_words(exc.message, portal.is_customer)
    errors = exc.field_errors()
    message = next(iter(errors.values()), None) if errors else exc.message
    return view.refusal_words(str(message), portal.is_customer)


# --- the page ---------------------------------------------------------------------------------------
@router.get("/requests/{number}")
async def request_page(request: Request, number: str, portal: PortalDep, tab: str = "timeline"):
    check_number(number)
    return await show(request, portal, number, tab="files" if tab == "files" else "timeline")


@router.get("/requests/{number}/recommendations/{rec_id}")
async def recommendation_page(request: Request, number: str, rec_id: int, portal: PortalDep):
    """Where the recommendation email links: the request's page with this recommendation first, in focus."""
    check_number(number)
    recommendations = await portal.get(f"/requests/{number}/recommendations")
    if not any(r["id"] == rec_id for r in recommendations["items"]):
        raise HTTPException(404, "There is no such page.")
    return await show(request, portal, number, focus_rec=rec_id)


@router.get("/requests/{number}/part/{name}")
async def request_part(request: Request, number: str, name: str, portal: PortalDep, focus: int | None = None):
    """One changing part of the page, for its live refresh (`focus`: the recommendation the page opened on)."""
    check_number(number)
    if name not in PARTS:
        raise HTTPException(404, "There is no such page.")
    return await show(request, portal, number, block=name, focus_rec=focus)


@router.get("/requests/{number}/attachments/{attachment_id}/download")
async def download(number: str, attachment_id: str, portal: PortalDep):
    """The API answers a download with a redirect to a short-lived storage address: send the browser there."""
    check_number(number)
    if not re.fullmatch(r"[0-9a-fA-F-]{1,64}", attachment_id):
        raise HTTPException(404, "There is no such page.")
    try:
        answer = await portal.api.send(
            "GET", f"/requests/{number}/attachments/{attachment_id}/download", await portal.token()
        )
    except SignInRequired:
        portal.request.session.clear()
        raise
    location = answer.headers.get("location")
    if answer.status_code not in (301, 302, 303, 307, 308) or not location:
        raise HTTPException(404, "There is no such page.")
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


# --- notes --------------------------------------------------------------------------------------------
@router.post("/requests/{number}/notes")
async def add_note(request: Request, number: str, portal: PortalDep):
    check_number(number)
    form = await request.form()
    body = str(form.get("body", "")).strip()
    error = "Write the note before adding it." if not body else None
    if not error and (
        exc := await refused(
            portal.post(f"/requests/{number}/notes", {"body": body}, idempotency_key=idempotency_key(form))
        )
    ):
        error = problem(exc, portal)
    if error:
        return await show(
            request,
            portal,
            number,
            block="composer" if is_htmx(request) else None,
            status_code=422,
            errors={"note": error},
            values={"note": body},
        )
    if is_htmx(request):
        # A fresh composer, and the timeline with the note in it.
        return await show(request, portal, number, block="note_saved", notice="Your note is added.")
    return done(request, number, "Your note is added.", "#timeline")


# --- the customer's answers and cancelling --------------------------------------------------------------
@router.post("/requests/{number}/recommendations/{rec_id}/respond")
async def respond(request: Request, number: str, rec_id: int, portal: PortalDep):
    check_number(number)
    form = await request.form()
    decision = str(form.get("decision", ""))
    comment = str(form.get("comment", "")).strip()
    error = None
    if decision not in DECISIONS:
        error = "Choose approve, decline or ask for clarification."
    elif exc := await refused(
        portal.post(
            f"/requests/{number}/recommendations/{rec_id}/respond",
            {"decision": decision, "comment": comment or None},
            idempotency_key=idempotency_key(form),
        )
    ):
        error = problem(exc, portal)
    block = "recommendations" if is_htmx(request) else None
    if error:
        return await show(
            request,
            portal,
            number,
            block=block,
            status_code=422 if decision not in DECISIONS else 409,
            errors={f"respond-{rec_id}": error},
            focus_rec=rec_id,
            values={f"respond-{rec_id}": {"decision": decision, "comment": comment}},
        )
    message = f"Your answer is sent: you {DECISIONS[decision]}."
    if block:
        return await show(request, portal, number, block=block, notice=message)
    return done(request, number, message, "#recommendations")


@router.post("/requests/{number}/cancel")
async def cancel(request: Request, number: str, portal: PortalDep):
    check_number(number)
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    error, code = None, 422
    if not reason:
        error = "Say why the request is cancelled."
    elif exc := await refused(
        portal.post(f"/requests/{number}/cancel", {"reason": reason}, idempotency_key=idempotency_key(form))
    ):
        error, code = problem(exc, portal), exc.status
    return await after_action(
        request, portal, number, "cancel", error, code, "The request is cancelled.", {"reason": reason}
    )


# --- the operators' actions --------------------------------------------------------------------------
@router.post("/requests/{number}/actions/{action}")
async def staff_action(request: Request, number: str, action: str, portal: PortalDep):
    check_number(number)
    if action not in ACTIONS or portal.role not in ACTIONS[action][0]:
        raise HTTPException(404, "There is no such page.")
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("provider_id", "team_id")}
    body: dict[str, Any] = {}
    error, code = None, 422
    if action == "assign":
        if not values["provider_id"].isdigit():
            error = "Choose the provider to offer it to."
        body["provider_id"] = int(values["provider_id"]) if values["provider_id"].isdigit() else None
    elif action == "assign-team":
        if not values["team_id"].isdigit():
            error = "Choose the team to offer it to."
        body["team_id"] = int(values["team_id"]) if values["team_id"].isdigit() else None
    if not error and (
        exc := await refused(
            portal.post(f"/work-events/{number}/{action}", body, idempotency_key=idempotency_key(form))
        )
    ):
        error, code = problem(exc, portal), exc.status
    return await after_action(request, portal, number, action, error, code, ACTIONS[action][1], values)


async def after_action(
    request: Request, portal: Portal, number: str, action: str, error: str | None, code: int, message: str, values: dict
):
    """An action's answer: the status part again (htmx) or the page (without JavaScript), with why it was
    refused beside the action, or what was done."""
    block = "status" if is_htmx(request) else None
    if error:
        return await show(
            request,
            portal,
            number,
            block=block,
            status_code=code if 400 <= code < 500 else 422,
            errors={action: error},
            values={action: values},
        )
    if block:
        return await show(request, portal, number, block=block, notice=message)
    return done(request, number, message)
