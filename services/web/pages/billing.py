"""The billing screens: payment runs with their payments (dispatchers, accounts receivable, admins) and customer
invoices with "record payment".

Each screen offers a role only what the API lets it do (services/invoicing/routes/): every billing role starts and
lists payment runs and reads payments; customer invoices are read by accounts receivable and admins; recording a
customer's payment is for accounts receivable alone. Everyone else gets the 404 page.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from services.web.client import ApiError
from services.web.pages.console_forms import all_items, api_field_errors, numeric_id, read_form, sentence
from services.web.session import Portal, PortalDep, check_csrf, form_key, need_role
from services.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])

BILLING = ("dispatcher", "accounts_receivable", "admin")  # POST/GET /payment-runs, GET /payments
INVOICE_READERS = ("accounts_receivable", "admin")  # GET /invoices
RECORDERS = ("accounts_receivable",)  # POST /invoices/{id}/record-payment
RUNS_SHOWN = 20
MOST_PAYMENTS = 1000
INVOICE_TABS = {"outstanding": "Outstanding", "paid": "Paid"}
INVOICES_PAGE = 50
PAY_FIELDS = ("amount", "paid_on", "idempotency_key", "cursor")


def redirect(path: str, **params) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


# --- payment runs --------------------------------------------------------------------------------------
async def payments_of(portal: Portal, runs: list[dict]) -> dict[str, list[dict]]:
    """The payments of the runs shown, newest first: pages of GET /payments until every one is found."""
    wanted = {run["id"] for run in runs}
    expected = sum(run["count"] for run in runs)
    found: dict[str, list[dict]] = {run_id: [] for run_id in wanted}
    seen = 0
    cursor = None
    while expected and seen < MOST_PAYMENTS:
        page = await portal.get("/payments", limit=200, cursor=cursor)
        for payment in page["items"]:
            if payment["run_id"] in wanted:
                found[payment["run_id"]].append(payment)
        seen += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor or sum(len(p) for p in found.values()) >= expected:
            break
    return found


async def runs_page(request: Request, portal: Portal, *, ran: str = "", problem: str = "", status: int = 200):
    await portal.token()  # renew the session's token once, before the calls below run side by side
    runs, providers = await asyncio.gather(
        portal.get("/payment-runs", limit=RUNS_SHOWN), all_items(portal, "/providers")
    )
    runs = runs["items"]
    for run in runs:  # the list gives a count of payments (a run just started gives the payments themselves)
        run["count"] = run["payments"] if isinstance(run["payments"], int) else len(run["payments"])
    payments = await payments_of(portal, runs)
    just_ran = next((run for run in runs if run["id"] == ran), None)
    return render(
        request,
        "billing/runs.html",
        {
            "nav": "billing",
            "tab": "runs",
            "runs": runs,
            "payments": payments,
            "just_ran": just_ran,
            "providers": {p["id"]: p["name"] for p in providers},
            "key": form_key(),
            "problem": problem,
            "reads_invoices": portal.role in INVOICE_READERS,
        },
        status_code=status,
    )


@router.get("/billing")
async def billing(request: Request, portal: PortalDep, ran: str = ""):
    need_role(portal, *BILLING)
    return await runs_page(request, portal, ran=ran[:200])


@router.post("/billing/payment-runs")
async def start_payment_run(request: Request, portal: PortalDep):
    need_role(portal, *BILLING)
    key = str((await request.form()).get("idempotency_key", ""))[:200] or None
    try:
        run = await portal.post("/payment-runs", idempotency_key=key)
    except ApiError as exc:
        return await runs_page(request, portal, problem=sentence(exc.message), status=exc.status)
    return redirect("/billing", ran=run["id"])


# --- customer invoices ---------------------------------------------------------------------------------
async def invoices_page(
    request: Request,
    portal: Portal,
    *,
    status: str = "outstanding",
    cursor: str = "",
    recorded: str = "",
    values: dict | None = None,
    errors: dict | None = None,
    code: int = 200,
):
    listing = await portal.get("/invoices", status=status, limit=INVOICES_PAGE, cursor=cursor or None)
    invoices = listing["items"]
    customer_ids = sorted({i["customer_id"] for i in invoices})
    await portal.token()
    customers = await asyncio.gather(*(portal.get(f"/customers/{cid}") for cid in customer_ids))
    # An error about an invoice no longer in this list (paid meanwhile) is said above the list instead.
    listed = {i["id"] for i in invoices}
    problem = " ".join(
        e.get("form") or next(iter(e.values()), "") for iid, e in (errors or {}).items() if iid not in listed
    )
    return render(
        request,
        "billing/invoices.html",
        {
            "nav": "billing",
            "tab": "invoices",
            "status": status,
            "tabs": INVOICE_TABS,
            "invoices": invoices,
            "cursor": cursor,
            "next_cursor": listing.get("next_cursor"),
            "customers": {c["id"]: c for c in customers},
            "records": portal.role in RECORDERS,
            "recorded": recorded,
            "today": today(),
            "form_key": form_key,
            "values": values or {},
            "errors": errors or {},
            "problem": problem,
            "reads_invoices": True,
        },
        status_code=code,
    )


@router.get("/billing/invoices")
async def invoices(
    request: Request, portal: PortalDep, status: str = "outstanding", cursor: str = "", recorded: str = ""
):
    need_role(portal, *INVOICE_READERS)
    status = status if status in INVOICE_TABS else "outstanding"
    try:
        return await invoices_page(request, portal, status=status, cursor=cursor, recorded=recorded[:40])
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        return await invoices_page(request, portal, status=status, recorded=recorded[:40])  # a stale bookmark


def paid_on_problem(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return "Give the date the payment arrived."
    if day.isoformat() > today():
        return "The payment cannot have arrived in the future."
    return ""


@router.post("/billing/invoices/{invoice_id}/record-payment")
async def record_payment(invoice_id: str, request: Request, portal: PortalDep):
    need_role(portal, *RECORDERS)
    iid = numeric_id(invoice_id)
    values = await read_form(request, PAY_FIELDS)
    errors: dict[str, str] = {}
    if not values["amount"]:
        errors["amount"] = "Give the amount received."
    if problem := paid_on_problem(values["paid_on"]):
        errors["paid_on"] = problem
    if not errors:
        body = {"amount": values["amount"], "paid_at": f"{values['paid_on']}T12:00:00Z"}
        try:
            answer = await portal.post(
                f"/invoices/{iid}/record-payment", body, idempotency_key=values["idempotency_key"] or None
            )
        except ApiError as exc:
            if exc.status == 404:
                raise
            if "idempotency-key" in exc.message.lower():
                values["idempotency_key"] = form_key()
                errors = {"form": "This form was already sent with other values. Check them and send it again."}
            else:
                errors = api_field_errors(exc, ("amount", "paid_at"))
                if "paid_at" in errors:
                    errors["paid_on"] = errors.pop("paid_at")
            return await invoices_page(
                request, portal, cursor=values["cursor"], values={iid: values}, errors={iid: errors}, code=exc.status
            )
        return redirect("/billing/invoices", status="outstanding", recorded=answer["invoice"]["number"])
    return await invoices_page(
        request, portal, cursor=values["cursor"], values={iid: values}, errors={iid: errors}, code=422
    )
