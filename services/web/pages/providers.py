"""The providers' screens (the provider quick reference): their work orders in three views, one work order with
the actions its status allows, the provider's own invoice for it, and the payments received.

Every action is a plain form that POSTs and redirects (303); static/provider.js only adds the invoice copy's
upload, the Complete button's readiness and the invoice number's rules as it is typed.

Live: the API's change feed tells a provider only of requests it holds, so an offer to a team or the marketplace,
or one taken by another provider, would go unseen there. The list (every 2 s) and an open offer (every 1.5 s)
therefore also ask again on a timer; each carries a fingerprint of what it shows, and an unchanged part answers 204
(nothing swapped)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.web.client import ApiError
from services.web.pages import forms
from services.web.pages.forms import idempotency_key, refused
from services.web.session import Portal, PortalDep, check_csrf, form_key, need_role
from services.web.templating import is_htmx, render
from shared.contracts import wording

router = APIRouter(dependencies=[Depends(check_csrf)])

VIEWS = {"waiting": "Waiting on Acceptance", "accepted": "Accepted", "completed": "Completed"}
LIST_MAX = 200  # one API page per view: its length is the view's count ("200+" beyond)
WORK_ORDER = re.compile(r"^\d{9}$")
OFFER_WORDS = {"provider": "Offered to you", "team": "Offered to your team", "marketplace": "Marketplace"}
# A provider's own words for the billing steps it goes through (the staff words say "Provider ...").
PROVIDER_STATUS_WORDS = {
    "accepted": "Accepted",
    "invoice_submitted": "Invoice submitted",
    "payment_approved": "Payment approved",
    "paid": "Paid",
}
CLOSED = ("voided", "withdrawn", "declined")  # work-order statuses of an offer that is no longer anyone's
INVOICE_ALLOWED = {"completed"}  # request status in which the provider invoice may be submitted
MONEY_FIELDS = {"parts": "Parts", "labor": "Labour", "tax": "Tax"}
SERVER_UPLOAD_MAX = 20 * 1024 * 1024  # the no-JavaScript invoice copy passes through here: small files only
DONE = {
    "accept": "You accepted work order {wo}.",
    "decline": "You refused work order {wo}.",
    "schedule": "The visit is scheduled.",
    "start": "Work is under way.",
    "await-parts": "Work is paused until the parts arrive.",
    "resume": "Work is under way again.",
    "ready-for-return": "The item is ready for return.",
    "complete": "The work is completed.",
    "save": "The invoice is saved.",
    "submit": "The invoice is submitted.",
}


def status_words(status: str) -> str:
    return PROVIDER_STATUS_WORDS.get(status) or wording.status_words(status)


def fingerprint(*parts: Any) -> str:
    """A short digest of what a live part shows: the same digest means the part is unchanged."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# The API's field names in a provider's words, where its refusals name them.
SAID = {"invoice_number": "the invoice number", "scheduled_for": "the date and time", "labor": "labour"}


def readable(message: str) -> str:
    """The API's words as a sentence beside a field ("invoice_number letters ..." → "The invoice number ...")."""
    return forms.readable(message, SAID)


def done(wo: str, what: str, to: str | None = None) -> RedirectResponse:
    """After an action, the page that shows its outcome, told what was done. The word travels in the address,
    not the session: a live part's answer in flight could otherwise write the session cookie back without it."""
    to = to or f"/work-orders/{wo}"
    return RedirectResponse(f"{to}{'&' if '?' in to else '?'}done={what}", status_code=303)


def done_words(what: str, wo: str) -> str | None:
    return DONE[what].format(wo=wo) if what in DONE else None


# --- invoice number rules (docs/api.md "Provider invoice numbers"), shown as they are typed --------------------------
def invoice_rules(value: str, wo: str) -> list[dict]:
    """Each rule and whether `value` keeps it; static/provider.js applies the same rules in the browser."""
    return [
        {"id": "capitals", "said": "Capital letters only", "ok": bool(value) and not re.search(r"[a-z]", value)},
        {
            "id": "plain",
            "said": "Letters and digits only: no spaces or special characters",
            "ok": bool(value) and re.fullmatch(r"[A-Za-z0-9]+", value) is not None,
        },
        {"id": "length", "said": "1 to 13 characters", "ok": 1 <= len(value) <= 13},
        {"id": "not-wo", "said": f"Does not contain the work order number {wo}", "ok": bool(value) and wo not in value},
    ]


def invoice_number_problem(value: str, wo: str) -> str | None:
    """The first broken rule, named, in the words provider.js uses too."""
    if not value:
        return "Enter your invoice number: 1 to 13 capital letters and digits."
    if len(value) > 13:
        return f"Too long: at most 13 characters (it has {len(value)})."
    if re.search(r"[a-z]", value):
        return "Letters must be capitals (A-Z)."
    if not re.fullmatch(r"[A-Z0-9]+", value):
        return "Only capital letters A-Z and digits 0-9: no spaces, dashes or other special characters."
    if wo in value:
        return f"It must not contain the work order number {wo}."
    return None


# --- the list --------------------------------------------------------------------------------------------------
async def list_context(portal: Portal, view: str) -> dict:
    await portal.token()  # renew once, before the calls below run side by side
    # The requests a provider holds give each accepted or completed row its status, visit and due time.
    held_requests = portal.get("/requests", sort="-updated_at", limit=LIST_MAX) if view != "waiting" else None
    pages = await asyncio.gather(
        *(portal.get("/work-orders", view=v, limit=LIST_MAX) for v in VIEWS),
        *([held_requests] if held_requests else []),
    )
    by_view = dict(zip(VIEWS, pages[:3], strict=True))
    counts = {v: f"{len(p['items'])}{'+' if p.get('next_cursor') else ''}" for v, p in by_view.items()}
    held = {r["number"]: r for r in pages[3]["items"]} if held_requests else {}
    rows = []
    for item in by_view[view]["items"]:
        held_request = held.get(item["request_number"]) if view != "waiting" else None
        rows.append(
            {
                **item,
                "offer": OFFER_WORDS.get(item["offer_kind"], item["offer_kind"]),
                "request": held_request,
                "status_said": status_words(held_request["status"]) if held_request else None,
            }
        )
    return {
        "nav": "work-orders",
        "view": view,
        "status_words": status_words,
        "views": VIEWS,
        "counts": counts,
        "rows": rows,
        "fingerprint": fingerprint(view, counts, rows),
    }


@router.get("/work-orders")
async def work_orders(
    request: Request, portal: PortalDep, view: str = "waiting", seen: str = "", done: str = "", refused: str = ""
):
    need_role(portal, "provider")
    view = view if view in VIEWS else "waiting"
    ctx = await list_context(portal, view)
    if is_htmx(request):
        if seen == ctx["fingerprint"]:
            return Response(status_code=204)
        return render(request, "providers/list.html", ctx, block="listing", headers={"Cache-Control": "no-store"})
    ctx["flash"] = done_words(done, refused) if done == "decline" and WORK_ORDER.match(refused) else None
    return render(request, "providers/list.html", ctx, headers={"Cache-Control": "no-store"})


# --- one work order --------------------------------------------------------------------------------------------
def check_number(wo: str) -> None:
    if not WORK_ORDER.match(wo):
        raise HTTPException(404)


async def optional(call) -> Any:
    """An answer that may be a 404 (no invoice saved yet): None then."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


async def no_items() -> dict:
    return {"items": []}


def actions_for(request_row: dict) -> list[str]:
    """The actions valid in the request's current status, in the order a provider meets them."""
    status = request_row["status"]
    return {
        "accepted": ["schedule", "start"],
        "scheduled": ["schedule", "start"],
        "in_progress": ["await-parts", *(["ready-for-return"] if request_row["kind"] == "walk_in" else []), "complete"],
        "awaiting_parts": ["resume"],
        "ready_for_return": ["complete"],
    }.get(status, [])


def schedule_values(request_row: dict | None) -> dict:
    when = request_row and request_row.get("scheduled_for")
    if not when:
        return {"date": "", "time": ""}
    moment = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC)
    return {"date": moment.strftime("%Y-%m-%d"), "time": moment.strftime("%H:%M")}


async def work_order_context(portal: Portal, wo: str, full: bool = True) -> dict:
    """What the work order's page shows; without `full`, only what its fingerprint needs (the live check)."""
    check_number(wo)
    await portal.token()
    work = await portal.get(f"/work-orders/{wo}")  # another provider's: a 404, shown as the 404 page
    me = portal.user.get("provider_id")
    if work["status"] in CLOSED:
        state = "closed"
    elif work["accepted_by"] is not None and work["accepted_by"] != me:
        state = "taken"
    elif work["accepted_by"] == me:
        state = "mine"
    else:
        state = "offered"
    ctx: dict[str, Any] = {
        "nav": "work-orders",
        "status_words": status_words,
        "wo": wo,
        "work": work,
        "state": state,
        "offer": OFFER_WORDS.get(work["offer_kind"], work["offer_kind"]),
        "request_row": None,
        "notes": [],
        "invoice": None,
        "invoice_copy": None,
        "actions": [],
        "status_said": status_words("waiting_acceptance"),
        "keys": {
            a: form_key()
            for a in (
                "accept",
                "decline",
                "schedule",
                "start",
                "await-parts",
                "resume",
                "ready-for-return",
                "complete",
                "submit",
                "upload",
            )
        },
    }
    if state == "mine":
        number = work["request_number"]
        request_row, invoice, timeline, attachments = await asyncio.gather(
            portal.get(f"/requests/{number}"),
            optional(portal.get(f"/provider-invoices/{wo}")),
            portal.get(f"/requests/{number}/timeline") if full else no_items(),
            portal.get(f"/requests/{number}/attachments") if full else no_items(),
        )
        ctx.update(
            request_row=request_row,
            invoice=invoice,
            actions=actions_for(request_row),
            status_said=status_words(request_row["status"]),
            notes=[e for e in timeline["items"] if e["detail"].get("notes") or e["kind"] == "note"],
            invoice_copy=next((a for a in reversed(attachments["items"]) if a["kind"] == "provider_invoice"), None),
            may_submit=request_row["status"] in INVOICE_ALLOWED and (invoice or {}).get("status") != "submitted",
            invoice_locked=bool(invoice and invoice["status"] != "draft")
            or request_row["status"] in ("invoice_submitted", "payment_approved", "paid"),
            schedule=schedule_values(request_row),
        )
    request_row = ctx["request_row"] or {}
    ctx["fingerprint"] = fingerprint(
        work["status"],
        work["accepted_by"],
        request_row.get("status"),
        request_row.get("scheduled_for"),
        (ctx["invoice"] or {}).get("status"),
    )
    return ctx


async def show(
    request: Request,
    portal: Portal,
    wo: str,
    *,
    errors: dict | None = None,
    values: dict | None = None,
    status: int = 200,
    ctx: dict | None = None,
    flash: str | None = None,
):
    """The work order's page, with what was typed and the API's words beside the field they concern."""
    ctx = ctx or await work_order_context(portal, wo)
    values = {**(values or {})}
    ctx.update(errors=errors or {}, values=values, flash=flash)
    invoice = ctx["invoice"] or {}
    typed_number = values.get("invoice_number", invoice.get("invoice_number", ""))
    ctx["invoice_values"] = {
        "invoice_number": typed_number,
        **{k: values.get(k, invoice.get(k, "")) for k in MONEY_FIELDS},
    }
    ctx["rules"] = invoice_rules(typed_number, wo)
    ctx["number_problem"] = invoice_number_problem(typed_number, wo) if typed_number else None
    status = status if 200 <= status < 500 else 422
    return render(request, "providers/work_order.html", ctx, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/work-orders/{wo}")
async def work_order_page(request: Request, portal: PortalDep, wo: str, seen: str = "", part: str = "", done: str = ""):
    need_role(portal, "provider")
    if is_htmx(request) and part == "notes":
        ctx = await work_order_context(portal, wo)
        return render(request, "providers/work_order.html", {**ctx, "errors": {}, "values": {}}, block="notes_part")
    if is_htmx(request):
        ctx = await work_order_context(portal, wo, full=False)
        if seen == ctx["fingerprint"]:
            return Response(status_code=204)
        # The state changed under the open page (taken by another, re-assigned, moved on): provider.js reloads
        # it to show it as it is now (unless a form of the page is on its way).
        return Response(status_code=204, headers={"HX-Trigger": "fieldops:work-order-moved"})
    return await show(request, portal, wo, flash=done_words(done, wo))


async def form_of(request: Request) -> dict:
    form = await request.form()
    return dict(form.multi_items())


async def wait_for_taker(portal: Portal, wo: str) -> dict:
    """After a refused accept: the winner's acceptance reaches the work order a moment after the workflow."""
    ctx = await work_order_context(portal, wo)
    for _ in range(12):
        if ctx["state"] != "offered":
            break
        await asyncio.sleep(0.25)
        ctx = await work_order_context(portal, wo)
    return ctx


async def notes_action(request: Request, portal: Portal, wo: str, action: str):
    check_number(wo)
    form = await form_of(request)
    notes = str(form.get("notes", "")).strip()
    exc = await refused(
        portal.post(f"/work-orders/{wo}/{action}", {"notes": notes or None}, idempotency_key=idempotency_key(form))
    )
    if exc:
        message = readable(exc.message)
        ctx = None
        if action in ("accept", "decline") and exc.status == 409:
            ctx = await wait_for_taker(portal, wo)
            if ctx["state"] == "taken":
                message = "Another provider accepted this work order first: it is no longer yours to take."
            elif ctx["state"] == "closed":
                message = "This offer was withdrawn: it is no longer open."
        return await show(
            request, portal, wo, ctx=ctx, errors={action: message}, status=exc.status, values={f"{action}_notes": notes}
        )
    if action == "decline":
        return done(wo, action, to=f"/work-orders?view=waiting&refused={wo}")
    return done(wo, action)


def notes_route(action: str):
    async def route(request: Request, portal: PortalDep, wo: str):
        need_role(portal, "provider")
        return await notes_action(request, portal, wo, action)

    return route


# The actions that take only a note, each at its own address.
for _action in ("accept", "decline", "start", "await-parts", "resume", "ready-for-return"):
    router.add_api_route(
        f"/work-orders/{{wo}}/{_action}", notes_route(_action), methods=["POST"], name=_action.replace("-", "_")
    )


@router.post("/work-orders/{wo}/schedule")
async def schedule(request: Request, portal: PortalDep, wo: str):
    need_role(portal, "provider")
    check_number(wo)
    form = await form_of(request)
    values = {k: str(form.get(k, "")).strip() for k in ("date", "time", "schedule_notes")}
    errors = {}
    if not values["date"]:
        errors["date"] = "Choose the day of the visit."
    if not values["time"]:
        errors["time"] = "Choose the time of the visit."
    moment = None
    if not errors:
        try:
            moment = datetime.fromisoformat(f"{values['date']}T{values['time']}").replace(tzinfo=UTC)
        except ValueError:
            errors["date"] = "Give the date as a day of the calendar and the time as hours and minutes."
    if errors or moment is None:
        return await show(request, portal, wo, errors=errors, values=values, status=422)
    exc = await refused(
        portal.post(
            f"/work-orders/{wo}/schedule",
            {"scheduled_for": moment.isoformat(), "notes": values["schedule_notes"] or None},
            idempotency_key=idempotency_key(form),
        )
    )
    if exc:
        return await show(
            request,
            portal,
            wo,
            errors={"date" if exc.status == 422 else "schedule": readable(exc.message)},
            values=values,
            status=exc.status,
        )
    return done(wo, "schedule")


async def upload_here(portal: Portal, number: str, file: UploadFile, key: str | None) -> str:
    """Without JavaScript the invoice copy comes with the form: send it on to its presigned URL from here."""
    data = await file.read(SERVER_UPLOAD_MAX + 1)
    if len(data) > SERVER_UPLOAD_MAX:
        raise ValueError(
            "This file is too large to send without JavaScript (at most 20 MB): turn JavaScript on, "
            "or attach a smaller copy."
        )
    if not data:
        raise ValueError("This file is empty.")
    content_type = (file.content_type or "application/octet-stream").split(";")[0]
    if content_type == "application/octet-stream" and (file.filename or "").lower().endswith(".pdf"):
        content_type = "application/pdf"
    created = await portal.post(
        f"/requests/{number}/attachments",
        {"filename": file.filename, "content_type": content_type, "size_bytes": len(data), "kind": "provider_invoice"},
        idempotency_key=key,
    )
    upload = created["upload"]
    if "url" not in upload:
        raise ValueError("This file is too large to send without JavaScript.")
    sent = await portal.api.http.request(
        upload.get("method", "PUT"), upload["url"], content=data, headers=upload.get("headers") or {}
    )
    if sent.status_code >= 300:
        raise ValueError("The file could not be stored. Try again.")
    await portal.post(f"/requests/{number}/attachments/{created['id']}/complete", {})
    return created["id"]


@router.post("/work-orders/{wo}/complete")
async def complete(request: Request, portal: PortalDep, wo: str):
    need_role(portal, "provider")
    check_number(wo)
    form = await form_of(request)
    notes = str(form.get("complete_notes", "")).strip()
    attachment_id = str(form.get("invoice_attachment_id", "")).strip()
    file = form.get("invoice_file")
    values = {"complete_notes": notes, "invoice_attachment_id": attachment_id}
    errors: dict[str, str] = {}
    if not attachment_id and isinstance(file, UploadFile) and file.filename:
        work = await portal.get(f"/work-orders/{wo}")
        try:
            attachment_id = await upload_here(portal, work["request_number"], file, idempotency_key(form, "upload_key"))
            values["invoice_attachment_id"] = attachment_id
        except ValueError as exc:
            errors["invoice_file"] = str(exc)
        except ApiError as exc:
            errors["invoice_file"] = readable(exc.message)
    if not attachment_id and "invoice_file" not in errors:
        errors["invoice_file"] = "Attach a copy of your invoice."
    if not notes:
        errors["complete_notes"] = "Write what was done."
    if errors:
        return await show(request, portal, wo, errors=errors, values=values, status=422)
    refusal = await refused(
        portal.post(
            f"/work-orders/{wo}/complete",
            {"notes": notes, "invoice_attachment_id": attachment_id},
            idempotency_key=idempotency_key(form),
        )
    )
    if refusal:
        about_copy = any(word in refusal.message.lower() for word in ("invoice", "attachment"))
        field = "invoice_file" if about_copy else "complete"
        return await show(
            request, portal, wo, errors={field: readable(refusal.message)}, values=values, status=refusal.status
        )
    return done(wo, "complete")


def invoice_field(message: str) -> str:
    """Which field of the invoice form an API refusal concerns (its detail starts with the field's name)."""
    for name in ("invoice_number", *MONEY_FIELDS):
        if message.startswith(name) or f" {name} " in f" {message} ":
            return name
    return "invoice"


@router.post("/work-orders/{wo}/invoice")
async def save_invoice(request: Request, portal: PortalDep, wo: str):
    """Save the provider invoice (PUT), and with the Submit button also submit it."""
    need_role(portal, "provider")
    check_number(wo)
    form = await form_of(request)
    values = {k: str(form.get(k, "")).strip() for k in ("invoice_number", *MONEY_FIELDS)}
    errors = {
        k: f"Enter the {said.lower()} amount: 0 if there is none." for k, said in MONEY_FIELDS.items() if not values[k]
    }
    # The invoice number's rules are the API's to apply (its 422 is shown beside the field); only when the form
    # is refused anyway for a missing amount is the number's first broken rule named here as well.
    if errors and (problem := invoice_number_problem(values["invoice_number"], wo)):
        errors["invoice_number"] = problem
    if errors:
        return await show(request, portal, wo, errors=errors, values=values, status=422)

    async def save_and_submit() -> None:
        await portal.put(f"/provider-invoices/{wo}", {**values})
        if form.get("do") == "submit":
            await portal.post(f"/provider-invoices/{wo}/submit", idempotency_key=idempotency_key(form))

    if exc := await refused(save_and_submit()):
        message = exc.message if isinstance(exc.detail, str) else "; ".join(exc.field_errors().values()) or exc.message
        return await show(
            request, portal, wo, errors={invoice_field(message): readable(message)}, values=values, status=exc.status
        )
    return done(wo, "submit" if form.get("do") == "submit" else "save")


# --- payments --------------------------------------------------------------------------------------------------
@router.get("/payments")
async def payments(request: Request, portal: PortalDep):
    need_role(portal, "provider")
    page = await portal.get("/payments", limit=LIST_MAX)
    ctx = {"nav": "payments", "payments": page["items"], "more": bool(page.get("next_cursor"))}
    return render(
        request,
        "providers/payments.html",
        ctx,
        block="payments_part" if is_htmx(request) else None,
        headers={"Cache-Control": "no-store"},
    )
