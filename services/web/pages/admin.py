"""The admin screens (admins only; a 404 to everyone else): users, customers with their sites, providers and
teams, and the account requests of organisation admins.

Every form POSTs and redirects (303); a 4xx from the API re-renders the form with what was typed and the API's
words beside the field they concern. Forms that create carry an Idempotency-Key where the API honours one
(customers, sites, providers, teams): a double click creates one thing. `POST /users` takes no key; a second
click there meets the API's 409 on the same email.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from services.web.client import ApiError
from services.web.pages.console_forms import all_items, api_field_errors, numeric_id, read_form, sentence
from services.web.session import Portal, PortalDep, check_csrf, form_key, need_role
from services.web.templating import render
from shared.contracts import wording

router = APIRouter(dependencies=[Depends(check_csrf)])

ROLES = tuple(wording.ROLE_WORDS)  # customer, provider, dispatcher, accounts_receivable, admin
USER_FIELDS = ("full_name", "email", "role", "password", "customer_id", "provider_id", "org_admin")
USERS_PAGE = 50
CUSTOMERS_PAGE = 20
REQUEST_TABS = {"pending": "Waiting", "done": "Approved", "rejected": "Declined"}
KEY_REUSED = "This form was already sent with other values. Check them and send it again."


def need_admin(portal: Portal) -> None:
    need_role(portal, "admin")


def redirect(path: str, **params) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def errors_of(exc: ApiError, fields: tuple[str, ...], values: dict) -> dict[str, str]:
    """The API's 4xx beside its field; an Idempotency-Key used for other values gets a fresh key."""
    if "idempotency-key" in exc.message.lower():
        values["idempotency_key"] = form_key()
        return {"form": KEY_REUSED}
    return api_field_errors(exc, fields)


def by_id(items: list[dict]) -> dict[int, dict]:
    return {item["id"]: item for item in items}


def by_name(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: item["name"].lower())


# --- the admin's start page ----------------------------------------------------------------------------
@router.get("/admin")
async def admin_home(request: Request, portal: PortalDep):
    need_admin(portal)
    pending = await portal.get("/account-requests", status="pending", limit=200)
    return render(
        request,
        "admin/index.html",
        {"nav": "admin", "pending": len(pending["items"]), "more_pending": bool(pending.get("next_cursor"))},
    )


# --- users ---------------------------------------------------------------------------------------------
async def users_page(
    request: Request,
    portal: Portal,
    *,
    role: str = "",
    q: str = "",
    cursor: str = "",
    values: dict | None = None,
    errors: dict | None = None,
    status: int = 200,
    flash: str = "",
    problem: str = "",
):
    await portal.token()  # renew the session's token once, before the calls below run side by side
    listing, customers, providers = await asyncio.gather(
        portal.get("/users", role=role or None, q=q or None, limit=USERS_PAGE, cursor=cursor or None),
        all_items(portal, "/customers"),
        all_items(portal, "/providers"),
    )
    return render(
        request,
        "admin/users.html",
        {
            "nav": "admin",
            "users": listing["items"],
            "next_cursor": listing.get("next_cursor"),
            "cursor": cursor,
            "role": role,
            "q": q,
            "roles": [(r, wording.ROLE_WORDS[r]) for r in ROLES],
            "customers": by_id(customers),
            "providers": by_id(providers),
            "customer_options": [(c["id"], c["name"]) for c in by_name(customers)],
            "provider_options": [(p["id"], p["name"]) for p in by_name(providers)],
            "values": values or {"role": "customer"},
            "errors": errors or {},
            "flash": flash,
            "problem": problem,
            "me_id": portal.user["id"],
        },
        status_code=status,
    )


@router.get("/admin/users")
async def users(
    request: Request,
    portal: PortalDep,
    role: str = "",
    q: str = "",
    cursor: str = "",
    made: str = "",
    deactivated: str = "",
):
    need_admin(portal)
    role = role if role in ROLES else ""
    flash = (
        f"The account for {made} is made: they can sign in now."
        if made
        else f"{deactivated} is deactivated and signed out everywhere."
        if deactivated
        else ""
    )
    try:
        return await users_page(request, portal, role=role, q=q[:200], cursor=cursor, flash=flash)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        return await users_page(request, portal, role=role, q=q[:200], flash=flash)  # a stale bookmark


def user_body(values: dict) -> tuple[dict, dict[str, str]]:
    """The API's body for a new user, and what the portal can already tell is missing."""
    errors: dict[str, str] = {}
    role = values["role"]
    if not values["full_name"]:
        errors["full_name"] = "Give the person's full name."
    if not values["email"]:
        errors["email"] = "Give the email the person will sign in with."
    if len(values["password"]) < 8:
        errors["password"] = "Give a first password of at least 8 characters; the person can change it later."
    if role not in ROLES:
        errors["role"] = "Choose what the person does."
    if role == "customer" and not values["customer_id"].isdigit():
        errors["customer_id"] = "Choose the customer this person belongs to."
    if role == "provider" and not values["provider_id"].isdigit():
        errors["provider_id"] = "Choose the provider this person works for."
    body = {
        "full_name": values["full_name"],
        "email": values["email"],
        "role": role,
        "password": values["password"],
        "org_admin": role == "customer" and bool(values["org_admin"]),
    }
    # Only the "belongs to" that the role needs is sent: a choice left in the other list does not matter.
    if role == "customer" and values["customer_id"].isdigit():
        body["customer_id"] = int(values["customer_id"])
    if role == "provider" and values["provider_id"].isdigit():
        body["provider_id"] = int(values["provider_id"])
    return body, errors


@router.post("/admin/users")
async def create_user(request: Request, portal: PortalDep):
    need_admin(portal)
    values = await read_form(request, USER_FIELDS)
    body, errors = user_body(values)
    if not errors:
        try:
            made = await portal.post("/users", body)
        except ApiError as exc:
            errors = api_field_errors(exc, USER_FIELDS)
            return await users_page(request, portal, values=values, errors=errors, status=exc.status)
        return redirect("/admin/users", q=made["email"], made=made["full_name"])
    return await users_page(request, portal, values=values, errors=errors, status=422)


@router.post("/admin/users/{user_id}/deactivate")
async def deactivate_user(user_id: str, request: Request, portal: PortalDep):
    need_admin(portal)
    target = numeric_id(user_id)
    form = await request.form()
    name = str(form.get("name", ""))[:200] or "The user"
    back = {k: str(form.get(k, ""))[:200] for k in ("role", "q")}
    try:
        await portal.post(f"/users/{target}/deactivate")
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await users_page(
            request, portal, role=back["role"], q=back["q"], status=exc.status, problem=sentence(exc.message)
        )
    return redirect("/admin/users", **back, deactivated=name)


# --- customers and their sites ---------------------------------------------------------------------------
async def sites_of(portal: Portal, customers: list[dict]) -> dict[int, list[dict]]:
    await portal.token()
    lists = await asyncio.gather(*(portal.get(f"/customers/{c['id']}/sites") for c in customers))
    return {c["id"]: found["items"] for c, found in zip(customers, lists, strict=True)}


async def customers_page(
    request: Request,
    portal: Portal,
    *,
    q: str = "",
    cursor: str = "",
    values: dict | None = None,
    errors: dict | None = None,
    status: int = 200,
):
    listing = await portal.get("/customers", q=q or None, limit=CUSTOMERS_PAGE, cursor=cursor or None)
    return render(
        request,
        "admin/customers.html",
        {
            "nav": "admin",
            "customers": listing["items"],
            "sites": await sites_of(portal, listing["items"]),
            "next_cursor": listing.get("next_cursor"),
            "cursor": cursor,
            "q": q,
            "values": values or {"idempotency_key": form_key()},
            "errors": errors or {},
        },
        status_code=status,
    )


@router.get("/admin/customers")
async def customers(request: Request, portal: PortalDep, q: str = "", cursor: str = ""):
    need_admin(portal)
    try:
        return await customers_page(request, portal, q=q[:200], cursor=cursor)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        return await customers_page(request, portal, q=q[:200])


CUSTOMER_FIELDS = ("name", "email", "idempotency_key")


@router.post("/admin/customers")
async def create_customer(request: Request, portal: PortalDep):
    need_admin(portal)
    values = await read_form(request, CUSTOMER_FIELDS)
    errors = {} if values["name"] else {"name": "Give the customer's name."}
    if not errors:
        try:
            made = await portal.post(
                "/customers",
                {"name": values["name"], "email": values["email"] or None},
                idempotency_key=values["idempotency_key"] or None,
            )
        except ApiError as exc:
            errors = errors_of(exc, CUSTOMER_FIELDS, values)
            return await customers_page(request, portal, values=values, errors=errors, status=exc.status)
        return redirect(f"/admin/customers/{made['id']}", made="customer")
    return await customers_page(request, portal, values=values, errors=errors, status=422)


SITE_FIELDS = ("name", "address", "idempotency_key")


async def customer_page(
    request: Request,
    portal: Portal,
    customer_id: int,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    status: int = 200,
    flash: str = "",
):
    customer = await portal.get(f"/customers/{customer_id}")
    await portal.token()
    sites, contacts = await asyncio.gather(
        portal.get(f"/customers/{customer_id}/sites"), all_items(portal, "/users", customer_id=customer_id)
    )
    return render(
        request,
        "admin/customer.html",
        {
            "nav": "admin",
            "customer": customer,
            "sites": sites["items"],
            "contacts": contacts,
            "values": values or {"idempotency_key": form_key()},
            "errors": errors or {},
            "flash": flash,
        },
        status_code=status,
    )


@router.get("/admin/customers/{customer_id}")
async def customer(customer_id: str, request: Request, portal: PortalDep, made: str = ""):
    need_admin(portal)
    flash = {"customer": "The customer is added. Add its sites below.", "site": "The site is added."}.get(made, "")
    return await customer_page(request, portal, numeric_id(customer_id), flash=flash)


@router.post("/admin/customers/{customer_id}/sites")
async def add_site(customer_id: str, request: Request, portal: PortalDep):
    need_admin(portal)
    cid = numeric_id(customer_id)
    values = await read_form(request, SITE_FIELDS)
    errors = {} if values["name"] else {"name": "Give the site a name people know it by."}
    if not errors:
        try:
            await portal.post(
                f"/customers/{cid}/sites",
                {"name": values["name"], "address": values["address"]},
                idempotency_key=values["idempotency_key"] or None,
            )
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_of(exc, SITE_FIELDS, values)
            return await customer_page(request, portal, cid, values=values, errors=errors, status=exc.status)
        return redirect(f"/admin/customers/{cid}", made="site")
    return await customer_page(request, portal, cid, values=values, errors=errors, status=422)


# --- providers and teams -------------------------------------------------------------------------------
PROVIDER_FIELDS = ("name", "email", "idempotency_key")
TEAM_FIELDS = ("name", "provider_ids", "idempotency_key")


async def providers_page(
    request: Request,
    portal: Portal,
    *,
    provider_values: dict | None = None,
    provider_errors: dict | None = None,
    team_values: dict | None = None,
    team_errors: dict | None = None,
    status: int = 200,
    flash: str = "",
):
    await portal.token()
    providers, teams = await asyncio.gather(all_items(portal, "/providers"), portal.get("/teams"))
    return render(
        request,
        "admin/providers.html",
        {
            "nav": "admin",
            "providers": by_name(providers),
            "provider_names": {p["id"]: p["name"] for p in providers},
            "teams": sorted(teams["items"], key=lambda t: t["name"].lower()),
            "provider_values": provider_values or {"idempotency_key": form_key()},
            "provider_errors": provider_errors or {},
            "team_values": team_values or {"idempotency_key": form_key(), "provider_ids": []},
            "team_errors": team_errors or {},
            "flash": flash,
        },
        status_code=status,
    )


@router.get("/admin/providers")
async def providers(request: Request, portal: PortalDep, made: str = "", name: str = ""):
    need_admin(portal)
    name = name[:200]
    flash = {"provider": f"The provider {name} is added.", "team": f"The team {name} is made."}.get(made, "")
    return await providers_page(request, portal, flash=flash)


@router.post("/admin/providers")
async def create_provider(request: Request, portal: PortalDep):
    need_admin(portal)
    values = await read_form(request, PROVIDER_FIELDS)
    errors = {}
    if not values["name"]:
        errors["name"] = "Give the provider company's name."
    if not values["email"]:
        errors["email"] = "Give the email that reaches the provider's office."
    if not errors:
        try:
            made = await portal.post(
                "/providers",
                {"name": values["name"], "email": values["email"]},
                idempotency_key=values["idempotency_key"] or None,
            )
        except ApiError as exc:
            errors = errors_of(exc, PROVIDER_FIELDS, values)
            return await providers_page(
                request, portal, provider_values=values, provider_errors=errors, status=exc.status
            )
        return redirect("/admin/providers", made="provider", name=made["name"])
    return await providers_page(request, portal, provider_values=values, provider_errors=errors, status=422)


@router.post("/admin/teams")
async def create_team(request: Request, portal: PortalDep):
    need_admin(portal)
    form = await request.form()
    key = str(form.get("idempotency_key", ""))
    provider_ids = [int(v) for v in form.getlist("provider_ids") if isinstance(v, str) and v.isdigit()][:500]
    values = {"name": str(form.get("name", "")).strip(), "idempotency_key": key, "provider_ids": provider_ids}
    errors = {}
    if not values["name"]:
        errors["name"] = "Give the team a name."
    if not values["provider_ids"]:
        errors["provider_ids"] = "Choose at least one provider for the team."
    if not errors:
        try:
            made = await portal.post(
                "/teams", {"name": values["name"], "provider_ids": values["provider_ids"]}, idempotency_key=key or None
            )
        except ApiError as exc:
            errors = errors_of(exc, TEAM_FIELDS, values)
            return await providers_page(request, portal, team_values=values, team_errors=errors, status=exc.status)
        return redirect("/admin/providers", made="team", name=made["name"])
    return await providers_page(request, portal, team_values=values, team_errors=errors, status=422)


# --- account requests from organisation admins ----------------------------------------------------------------
async def requests_page(
    request: Request,
    portal: Portal,
    *,
    status: str = "pending",
    errors: dict | None = None,
    comments: dict | None = None,
    code: int = 200,
    flash: str = "",
):
    asked = await all_items(portal, "/account-requests", most=400, status=status)
    asked.sort(key=lambda r: r["id"], reverse=status != "pending")  # the queue oldest first, the history newest
    customer_ids = sorted({r["customer_id"] for r in asked})
    await portal.token()
    orgs, contacts = await asyncio.gather(
        asyncio.gather(*(portal.get(f"/customers/{cid}") for cid in customer_ids)),
        asyncio.gather(*(all_items(portal, "/users", customer_id=cid) for cid in customer_ids)),
    )
    people = {u["id"]: u for group in contacts for u in group}
    return render(
        request,
        "admin/account_requests.html",
        {
            "nav": "admin",
            "status": status,
            "tabs": REQUEST_TABS,
            "asked": asked,
            "orgs": {c["id"]: c for c in orgs},
            "people": people,
            "errors": errors or {},
            "comments": comments or {},
            "flash": flash,
        },
        status_code=code,
    )


@router.get("/admin/account-requests")
async def account_requests(
    request: Request, portal: PortalDep, status: str = "pending", decided: str = "", who: str = ""
):
    need_admin(portal)
    status = status if status in REQUEST_TABS else "pending"
    who = who[:200] or "the account"
    flash = {
        "done": f"Approved: {who}.",
        "rejected": f"Declined: {who}. The organisation admin sees your comment.",
    }.get(decided, "")
    return await requests_page(request, portal, status=status, flash=flash)


@router.post("/admin/account-requests/{request_id}")
async def decide(request_id: str, request: Request, portal: PortalDep):
    """One form per request, two buttons: approve or reject, with an optional comment (required to reject)."""
    need_admin(portal)
    rid = numeric_id(request_id)
    form = await request.form()
    decision = str(form.get("decision", ""))
    comment = str(form.get("comment", "")).strip()
    who = str(form.get("who", ""))[:200]
    if decision not in ("approve", "reject"):
        return await requests_page(
            request, portal, errors={rid: {"form": "Choose Approve or Reject."}}, comments={rid: comment}, code=422
        )
    if decision == "reject" and not comment:
        return await requests_page(
            request,
            portal,
            errors={rid: {"comment": "Say why, so the organisation admin knows what to do next."}},
            comments={rid: comment},
            code=422,
        )
    try:
        decided = await portal.post(f"/account-requests/{rid}/{decision}", {"comment": comment or None})
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await requests_page(
            request, portal, errors={rid: api_field_errors(exc, ("comment",))}, comments={rid: comment}, code=exc.status
        )
    return redirect("/admin/account-requests", decided=decided["status"], who=who)
