"""The customer's assets: the equipment list with serial numbers and sites (search, add one), and an asset's page
with its past requests and "New request for this asset"."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from services.web.client import ApiError
from services.web.pages.forms import field_errors
from services.web.session import Portal, PortalDep, check_csrf, form_key, need_role
from services.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])

PAGE_SIZE = 50
FORM_FIELDS = ("name", "serial_number", "model", "site_id", "new_site_name", "new_site_address", "idempotency_key")
# Where the API's validation errors go on the Add an asset form ({loc: field}).
API_FIELDS = {
    ("name",): "name",
    ("serial_number",): "serial_number",
    ("model",): "model",
    ("site_id",): "site_id",
    ("site",): "new_site_name",
    ("site", "name"): "new_site_name",
    ("site", "address"): "new_site_address",
}


def asset_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(404, "There is no such page.")
    return int(value)


async def list_context(portal: Portal, q: str, cursor: str) -> dict:
    """One page of the customer's assets, its sites by id (the list items carry only `site_id`)."""
    await portal.token()  # renew the session's token once, before the calls below run side by side
    customer_id = portal.user["customer_id"]
    try:
        page, sites = await asyncio.gather(
            portal.get("/assets", q=q, limit=PAGE_SIZE, cursor=cursor), portal.get(f"/customers/{customer_id}/sites")
        )
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        cursor = ""  # a cursor from an old bookmark: start at the first page
        page, sites = await asyncio.gather(
            portal.get("/assets", q=q, limit=PAGE_SIZE), portal.get(f"/customers/{customer_id}/sites")
        )
    return {
        "nav": "assets",
        "assets": page["items"],
        "next_cursor": page.get("next_cursor"),
        "cursor": cursor,
        "q": q,
        "sites": sites["items"],
        "site_names": {s["id"]: s for s in sites["items"]},
    }


@router.get("/assets")
async def asset_list(request: Request, portal: PortalDep, q: str = "", cursor: str = ""):
    need_role(portal, "customer")
    ctx = await list_context(portal, q.strip()[:200], cursor)
    first_site = str(ctx["sites"][0]["id"]) if ctx["sites"] else ""  # most customers have one site
    return render(
        request,
        "assets/list.html",
        {**ctx, "values": {"idempotency_key": form_key(), "site_id": first_site}, "errors": {}},
    )


@router.post("/assets")
async def add_asset(request: Request, portal: PortalDep):
    need_role(portal, "customer")
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in FORM_FIELDS}
    body: dict[str, Any] = {
        "customer_id": portal.user["customer_id"],
        "name": values["name"],
        "serial_number": values["serial_number"],
        "model": values["model"] or None,
    }
    errors: dict[str, str] = {}
    if values["new_site_name"] or values["new_site_address"]:
        if values["site_id"]:
            errors["site_id"] = "Choose a site from the list or name a new one below, not both."
        body["site"] = {"name": values["new_site_name"], "address": values["new_site_address"]}
    elif values["site_id"].isdigit():
        body["site_id"] = int(values["site_id"])
    if not errors:
        try:
            created = await portal.post("/assets", body, idempotency_key=values["idempotency_key"] or None)
        except ApiError as exc:
            if exc.status == 422 and "idempotency" in exc.message.lower():  # the key was used for another body
                values["idempotency_key"] = form_key()
            errors = field_errors(exc, API_FIELDS, "form")
            status = exc.status
        else:
            return RedirectResponse(f"/assets/{created['id']}?added=1", status_code=303)
    else:
        status = 422
    ctx = await list_context(portal, "", "")
    return render(
        request, "assets/list.html", {**ctx, "values": values, "errors": errors, "adding": True}, status_code=status
    )


@router.get("/assets/{number}")
async def asset_page(number: str, request: Request, portal: PortalDep, added: bool = False):
    need_role(portal, "customer")
    asset = await portal.get(f"/assets/{asset_id(number)}")
    return render(request, "assets/detail.html", {"nav": "assets", "asset": asset, "added": added})
