"""Requests: the list (search, filters, sort, paging, live refresh) and the New request form.

Also the two JSON routes behind browser uploads (static/upload.js): the portal asks the API, on the signed-in
person's behalf, for presigned URLs and to complete an upload; the file's bytes go from the browser straight to
object storage and never pass through here. The page of one request (/requests/{number}) is request_page.py's.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.web.client import ApiError, ServiceDown, SignInRequired
from services.web.pages.forms import field_errors, readable
from services.web.session import Portal, PortalDep, check_csrf, form_key, need_role
from services.web.templating import is_htmx, render
from shared.contracts import wording

router = APIRouter(dependencies=[Depends(check_csrf)])

PAGE_SIZE = 25
SORTS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-updated_at": "Recently updated first",
    "updated_at": "Least recently updated first",
}
CREATORS = ("customer", "dispatcher", "admin")  # who may open a request (docs/api.md: POST /requests)
NUMBER = re.compile(r"^SR-\d{6,}$")
ATTACHMENT_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
ASSET_LOOKUP_MAX = 200  # one page of a customer's assets, enough to name every row of the list


# --- the list ---------------------------------------------------------------------------------------------
def status_options(customer: bool) -> list[tuple[str, str]]:
    """The status filter's options, in people's words. Statuses a person reads alike are one option (a customer's
    "Completed" covers the provider-billing steps, which are therefore never offered to a customer)."""
    words = wording.CUSTOMER_STATUS_WORDS if customer else wording.STATUS_WORDS
    first: dict[str, str] = {}
    for status, said in words.items():
        first.setdefault(said, status)
    return [(status, said) for said, status in first.items()]


def statuses_for(value: str, customer: bool) -> list[str]:
    """Every status the option `value` stands for (empty when it is not an option)."""
    words = wording.CUSTOMER_STATUS_WORDS if customer else wording.STATUS_WORDS
    if value not in words:
        return []
    return [status for status, said in words.items() if said == words[value]]


async def asset_labels(portal: Portal, rows: list[dict]) -> dict[int, str]:
    """'Name (serial)' of each row's asset. The list's items carry only asset_id: the customer's assets are
    fetched once per customer shown (a customer's page is one call); providers may not list assets."""
    if portal.is_provider or not rows:
        return {}
    wanted = {r["asset_id"] for r in rows}
    customers = sorted({r["customer_id"] for r in rows})
    pages = await asyncio.gather(
        *(portal.get("/assets", customer_id=c, limit=ASSET_LOOKUP_MAX) for c in customers), return_exceptions=True
    )
    found = {a["id"]: a for page in pages if isinstance(page, dict) for a in page["items"] if a["id"] in wanted}
    missing = wanted - found.keys()
    if missing:  # a customer with more assets than one page: ask for the few left over
        details = await asyncio.gather(*(portal.get(f"/assets/{i}") for i in sorted(missing)), return_exceptions=True)
        found.update({d["id"]: d for d in details if isinstance(d, dict)})
    return {i: f"{a['name']} ({a['serial_number']})" for i, a in found.items()}


@router.get("/requests")
async def request_list(
    request: Request,
    portal: PortalDep,
    q: str = "",
    status: str = "",
    priority: str = "",
    sort: str = "-created_at",
    cursor: str = "",
):
    customer = portal.is_customer
    q = q.strip()[:200]
    sort = sort if sort in SORTS else "-created_at"
    priority = priority if priority in wording.PRIORITY_WORDS else ""
    statuses = statuses_for(status, customer)
    status = statuses[0] if statuses else ""  # the option that stands for them all
    filters = {"q": q, "status": status, "priority": priority, "sort": sort}
    await portal.token()  # renew the session's token once, before the calls below run side by side
    notice = None
    try:
        page = await portal.get(
            "/requests", q=q, status=statuses or None, priority=priority, sort=sort, limit=PAGE_SIZE, cursor=cursor
        )
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        # A cursor from an old bookmark or a changed sort: start again at the first page.
        notice, cursor = "That page of the list is gone; here is the first page.", ""
        page = await portal.get(
            "/requests", q=q, status=statuses or None, priority=priority, sort=sort, limit=PAGE_SIZE
        )
    rows = page["items"]
    assets = await asset_labels(portal, rows)
    here = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "-created_at")}
    ctx = {
        "nav": "requests",
        "rows": rows,
        "assets": assets,
        "filters": filters,
        "notice": notice,
        "status_options": status_options(customer),
        "priority_words": wording.PRIORITY_WORDS,
        "sorts": SORTS,
        "filtered": bool(q or status or priority),
        "cursor": cursor,
        "next_query": {**here, "cursor": page.get("next_cursor")} if page.get("next_cursor") else None,
        "first_query": here,
        "this_query": {**here, **({"cursor": cursor} if cursor else {})},
        "may_create": portal.role in CREATORS,
    }
    # The same address answers the whole screen, or (for the live refresh) only the results block.
    return render(
        request,
        "requests/list.html",
        ctx,
        block="results" if is_htmx(request) else None,
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )


# --- the New request form ------------------------------------------------------------------------------
REQUEST_FIELDS = ("kind", "customer_id", "asset_id", "priority", "summary", "detail")
# The typed values the form keeps across a re-render, with their defaults.
FORM_DEFAULTS = {
    "kind": "",
    "asset_id": "",
    "priority": "normal",
    "summary": "",
    "detail": "",
    "new_asset_name": "",
    "new_asset_serial": "",
    "new_asset_model": "",
    "new_asset_site": "",
    "new_site_name": "",
    "new_site_address": "",
}
# Fields people pick from a list: whatever the API says about them, the fix is to pick one.
PICK_HINTS = {
    "kind": "Choose walk-in repair or service call.",
    "asset_id": "Choose the asset, or add it below.",
    "priority": "Choose a priority.",
    "customer_id": "Choose the customer.",
}
ASSET_FIELDS = {
    ("name",): "new_asset_name",
    ("serial_number",): "new_asset_serial",
    ("model",): "new_asset_model",
    ("site_id",): "new_asset_site",
    ("site",): "new_site_name",
    ("site", "name"): "new_site_name",
    ("site", "address"): "new_site_address",
}


def request_field_errors(exc: ApiError) -> dict[str, str]:
    errors = field_errors(exc, {(f,): f for f in REQUEST_FIELDS}, "form")
    if "form" in errors and "asset" in errors["form"].lower():  # "asset not found", "not an asset of this customer"
        errors["asset_id"] = errors.pop("form")
    if isinstance(exc.detail, list):  # a value missing or not one of the choices: say which choice to make
        errors.update({name: hint for name, hint in PICK_HINTS.items() if name in errors})
    return errors


def as_int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


async def form_context(
    portal: Portal, customer_id: int | None, values: dict, errors: dict | None = None, **extra
) -> dict:
    """What the New request screen shows: the customer (fixed for a customer; picked by staff), its sites and
    assets, and what was typed."""
    await portal.token()
    customers, customer, sites, assets = [], None, [], []
    calls: list = []
    if not portal.is_customer:
        calls.append(portal.get("/customers", limit=200))
    if customer_id is not None:
        calls += [
            portal.get(f"/customers/{customer_id}"),
            portal.get(f"/customers/{customer_id}/sites"),
            portal.get("/assets", customer_id=customer_id, limit=200),
        ]
    answers = await asyncio.gather(*calls)
    if not portal.is_customer:
        customers = answers.pop(0)["items"]
    if customer_id is not None:
        customer, sites, assets = answers[0], answers[1]["items"], answers[2]["items"]
    site_names = {s["id"]: s["name"] for s in sites}
    # Assets grouped by the site they stand at, so the site is chosen with the asset (a request's site is its
    # asset's site).
    groups: dict[str, list[dict]] = {}
    for asset in sorted(assets, key=lambda a: (site_names.get(a["site_id"], "~"), a["name"].lower())):
        groups.setdefault(site_names.get(asset["site_id"], "No site given"), []).append(asset)
    values = {**FORM_DEFAULTS, **values}
    if not values["new_asset_site"]:
        values["new_asset_site"] = str(sites[0]["id"]) if sites else "new"
    return {
        "nav": "new",
        "customers": customers,
        "customer": customer,
        "customer_id": customer_id,
        "sites": sites,
        "asset_groups": groups,
        "has_assets": bool(assets),
        "values": values,
        "errors": errors or {},
        "kind_words": wording.KIND_WORDS,
        "priority_words": wording.PRIORITY_WORDS,
        "idempotency_key": values.get("idempotency_key") or form_key(),
        "asset_key": values.get("asset_key") or form_key(),
        **extra,
    }


def chosen_customer(portal: Portal, value: Any) -> int | None:
    return portal.user.get("customer_id") if portal.is_customer else as_int(value)


@router.get("/requests/new")
async def new_request_page(request: Request, portal: PortalDep, customer_id: str = "", asset_id: str = ""):
    need_role(portal, *CREATORS)
    values: dict[str, str] = {}
    customer = chosen_customer(portal, customer_id)
    if (asset := as_int(asset_id)) is not None:  # "New request for this asset" from an asset's page
        try:
            found = await portal.get(f"/assets/{asset}")
        except ApiError:
            found = None
        if found and (customer is None or found["customer_id"] == customer):
            customer, values["asset_id"] = found["customer_id"], str(asset)
    return render(request, "requests/new.html", await form_context(portal, customer, values))


@router.post("/requests/new")
async def new_request(request: Request, portal: PortalDep):
    need_role(portal, *CREATORS)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in (*FORM_DEFAULTS, "idempotency_key", "asset_key")}
    customer_id = chosen_customer(portal, form.get("customer_id"))
    if customer_id is None:
        return await show_form(request, portal, None, values, {"customer_id": PICK_HINTS["customer_id"]}, 422)
    if form.get("action") == "add_asset":
        return await add_asset(request, portal, customer_id, values)
    body = {
        "customer_id": customer_id,
        "asset_id": as_int(values["asset_id"]),
        "kind": values["kind"] or None,
        "priority": values["priority"] or None,
        "summary": values["summary"],
        "detail": values["detail"].strip() or None,
    }
    try:
        try:
            created = await portal.post("/requests", body, idempotency_key=values["idempotency_key"] or None)
        except ApiError as exc:
            if exc.status != 422 or "idempotency" not in exc.message.lower():
                raise
            # This form's key already made a request with other details (the form was reopened with the
            # browser's Back and changed): a different request, so it gets a key of its own.
            values["idempotency_key"] = form_key()
            created = await portal.post("/requests", body, idempotency_key=values["idempotency_key"])
    except ApiError as exc:
        return await show_form(request, portal, customer_id, values, request_field_errors(exc), exc.status)
    number = created["number"]
    page = f"/requests/{number}"
    if is_htmx(request):
        # The page's script now uploads the chosen files to the new request, then opens its page.
        return render(
            request,
            "requests/new.html",
            {"number": number, "page": page},
            block="created",
            headers={"HX-Trigger": json.dumps({"fieldops:request-created": {"number": number, "url": page}})},
        )
    return RedirectResponse(page, status_code=303)


async def add_asset(request: Request, portal: PortalDep, customer_id: int, values: dict):
    """The shortcut for a missing asset: create it, then show the form again with it chosen and all else kept."""
    site_choice = values["new_asset_site"]
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "name": values["new_asset_name"].strip(),
        "serial_number": values["new_asset_serial"].strip(),
        "model": values["new_asset_model"].strip() or None,
    }
    if site_choice == "new":
        body["site"] = {"name": values["new_site_name"].strip(), "address": values["new_site_address"].strip()}
    elif as_int(site_choice) is not None:
        body["site_id"] = as_int(site_choice)
    try:
        asset = await portal.post("/assets", body, idempotency_key=values["asset_key"] or None)
    except ApiError as exc:
        errors = field_errors(exc, ASSET_FIELDS, "new_asset")
        return await show_form(request, portal, customer_id, values, errors, exc.status, adding_asset=True)
    kept = {
        **values,
        "asset_id": str(asset["id"]),
        "asset_key": "",
        "new_asset_name": "",
        "new_asset_serial": "",
        "new_asset_model": "",
        "new_site_name": "",
        "new_site_address": "",
        "new_asset_site": str(asset.get("site_id") or ""),
    }
    return await show_form(
        request,
        portal,
        customer_id,
        kept,
        {},
        200,
        asset_added=f"{asset['name']} ({asset['serial_number']}) is added and chosen as the asset.",
    )


async def show_form(
    request: Request, portal: Portal, customer_id: int | None, values: dict, errors: dict, status: int, **extra
):
    ctx = await form_context(portal, customer_id, values, errors, **extra)
    status = status if 200 <= status < 500 else 422
    # htmx replaces only the fields, so the files already chosen stay chosen.
    return render(request, "requests/new.html", ctx, block="fields" if is_htmx(request) else None, status_code=status)


# --- browser uploads (static/upload.js) -----------------------------------------------------------------------
UPLOAD_FIELDS = ("filename", "content_type", "size_bytes", "kind")


async def api_json(call, status: int) -> JSONResponse:
    """The API's answer as JSON for a script: its 4xx words kept, a lost session or a down service said plainly."""
    try:
        return JSONResponse(await call, status_code=status)
    except ApiError as exc:
        return JSONResponse({"detail": readable(exc.message)}, status_code=exc.status)
    except SignInRequired:
        return JSONResponse({"detail": "Your session has ended. Sign in again, then add the file."}, status_code=401)
    except ServiceDown:
        return JSONResponse(
            {"detail": "File storage is not answering right now. Try again in a minute."}, status_code=503
        )


async def json_body(request: Request) -> dict | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@router.post("/requests/{number}/attachments")
async def start_upload(number: str, request: Request, portal: PortalDep):
    """{filename, content_type, size_bytes, kind} → the API's {id, upload} (presigned PUT or multipart parts)."""
    body = await json_body(request)
    if not NUMBER.match(number) or body is None:
        return JSONResponse({"detail": "That is not a file of a request."}, status_code=400 if body is None else 404)
    key = request.headers.get("idempotency-key")
    return await api_json(
        portal.post(
            f"/requests/{number}/attachments", {k: body[k] for k in UPLOAD_FIELDS if k in body}, idempotency_key=key
        ),
        201,
    )


@router.post("/requests/{number}/attachments/{attachment_id}/complete")
async def complete_upload(number: str, attachment_id: str, request: Request, portal: PortalDep):
    """{} or {parts: [{part_number, etag}]} → the stored attachment, once the API has checked the file."""
    body = await json_body(request)
    if not NUMBER.match(number) or not ATTACHMENT_ID.match(attachment_id) or body is None:
        return JSONResponse({"detail": "That is not a file of a request."}, status_code=400 if body is None else 404)
    parts = body.get("parts")
    return await api_json(
        portal.post(f"/requests/{number}/attachments/{attachment_id}/complete", {"parts": parts} if parts else {}), 200
    )
