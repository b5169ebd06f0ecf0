"""Work events, the operators' console: every request, filtered (the filters are the address), a checkbox per
row, a bulk action on the selected ones with one result per request (and "Retry the failed ones"), and the
filtered list as CSV. Dispatchers and admins route and pay; accounts receivable marks the customer's billing.

The rows refresh themselves when any request changes (live.py); the bulk form is a plain POST, so selecting rows
and applying an action works from the keyboard and without JavaScript (static/work_events.js adds "select all
on this page" and the count of the selected)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, StreamingResponse

from services.web.client import ApiError
from services.web.session import Portal, PortalDep, check_csrf, need_role
from services.web.templating import is_htmx, render, when
from shared.contracts import wording
from shared.contracts.enums import BUCKETS

router = APIRouter(dependencies=[Depends(check_csrf)])

OPERATORS = ("dispatcher", "accounts_receivable", "admin")
DISPATCH = ("dispatcher", "admin")
BILLING = ("accounts_receivable",)
PAGE_SIZE = 25
EXPORT_PAGE = 200  # the API's largest page: the export walks every page of the filter
PICKER_SIZE = 200  # customers and providers offered in the filter's and the bulk form's pickers
SORTS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-updated_at": "Recently updated first",
    "updated_at": "Least recently updated first",
}
SLA_WORDS = {"yes": "SLA breached", "no": "Within SLA"}
NUMBER = re.compile(r"^SR-\d{6,}$")


@dataclass(frozen=True)
class Action:
    words: str  # what the menu says
    roles: tuple[str, ...]  # who may (docs/api.md: the billing flags are accounts receivable's, the rest dispatch's)
    needs: str | None = None  # the one thing the action asks for: "provider", "team" or "reason"


ACTIONS = {
    "publish": Action("Publish", DISPATCH),
    "assign": Action("Assign or re-assign to a provider", DISPATCH, "provider"),
    "assign-team": Action("Assign to a provider team", DISPATCH, "team"),
    "send-to-marketplace": Action("Send to the marketplace", DISPATCH),
    "delete": Action("Delete", DISPATCH, "reason"),
    "approve-payment": Action("Approve payment", DISPATCH),
    "invoiced": Action("Invoiced", BILLING),
    "invoice-not-required": Action("Invoice not required", BILLING),
}


def actions_for(role: str) -> dict[str, Action]:
    return {name: action for name, action in ACTIONS.items() if role in action.roles}


# --- filters ------------------------------------------------------------------------------------------------
def _choice(value: str, allowed) -> str:
    return value if value in allowed else ""


def _day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return ""


def _id(value: str) -> str:
    return value if value.isdigit() and len(value) < 12 else ""


@dataclass(frozen=True)
class Filters:
    """The list's filters as the address carries them; values that are not one of the choices are dropped."""

    q: str = ""
    bucket: str = ""  # one of the five dashboard stages (wording.BUCKET_WORDS)
    status: str = ""  # one exact status
    priority: str = ""
    customer_id: str = ""
    provider_id: str = ""
    created_from: str = ""
    created_to: str = ""
    due_from: str = ""
    due_to: str = ""
    sla: str = ""  # "yes" | "no"
    billing: str = ""
    sort: str = "-created_at"

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        get = lambda name: str(params.get(name) or "").strip()  # noqa: E731
        return cls(
            q=get("q")[:200],
            bucket=_choice(get("bucket"), BUCKETS),
            status=_choice(get("status"), wording.STATUS_WORDS),
            priority=_choice(get("priority"), wording.PRIORITY_WORDS),
            customer_id=_id(get("customer_id")),
            provider_id=_id(get("provider_id")),
            created_from=_day(get("created_from")),
            created_to=_day(get("created_to")),
            due_from=_day(get("due_from")),
            due_to=_day(get("due_to")),
            sla=_choice(get("sla"), SLA_WORDS),
            billing=_choice(get("billing"), wording.BILLING_WORDS),
            sort=_choice(get("sort"), SORTS) or "-created_at",
        )

    def query(self) -> dict[str, str]:
        """The address's query: only what is set (and the sort when it is not the default)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) and not (f.name == "sort" and self.sort == "-created_at")
        }

    @property
    def active(self) -> int:
        return len([k for k in self.query() if k != "sort"])

    def statuses(self) -> list[str] | None:
        """The statuses asked for: a stage's, one status, or both (a status outside the stage: none at all)."""
        stage = [s.value for s in BUCKETS[self.bucket]] if self.bucket else None
        if self.status:
            return [self.status] if stage is None or self.status in stage else []
        return stage

    def api_params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "status": self.statuses() or None,
            "priority": self.priority,
            "customer_id": self.customer_id,
            "provider_id": self.provider_id,
            "created_from": self.created_from,
            "created_to": self.created_to,
            "due_from": self.due_from,
            "due_to": self.due_to,
            "sla_breached": {"yes": "true", "no": "false"}.get(self.sla),
            "billing_status": self.billing,
            "sort": self.sort,
        }

    def impossible(self) -> bool:
        return self.statuses() == []


def described(filters: Filters, customers: dict[int, str], providers: dict[int, str]) -> list[str]:
    """The filters in force, in words, for the line above the table."""
    said = []
    if filters.customer_id:
        said.append(f"Customer: {customers.get(int(filters.customer_id), 'customer ' + filters.customer_id)}")
    if filters.bucket:
        said.append(f"Stage: {wording.BUCKET_WORDS[filters.bucket]}")
    if filters.status:
        said.append(f"Status: {wording.STATUS_WORDS[filters.status]}")
    if filters.priority:
        said.append(f"Priority: {wording.PRIORITY_WORDS[filters.priority]}")
    if filters.provider_id:
        said.append(f"Provider: {providers.get(int(filters.provider_id), 'provider ' + filters.provider_id)}")
    for label, first, last in (
        ("Created", filters.created_from, filters.created_to),
        ("Due", filters.due_from, filters.due_to),
    ):
        if first or last:
            said.append(
                f"{label}: {when(first, False) if first else 'any time'} to {when(last, False) if last else 'any time'}"
            )
    if filters.sla:
        said.append(SLA_WORDS[filters.sla])
    if filters.billing:
        said.append(f"Billing: {wording.BILLING_WORDS[filters.billing]}")
    if filters.q:
        said.append(f"Search: “{filters.q}”")
    return said


# --- what the list shows ------------------------------------------------------------------------------------
async def _items(call) -> list[dict]:
    return (await call)["items"]


async def _nothing(value: Any) -> Any:
    """What a call that need not be made would answer (a filter that matches nothing; teams for billing)."""
    return value


NO_ROWS: dict[str, Any] = {"items": [], "next_cursor": None}


async def customer_names(portal: Portal, ids: set[int], known: dict[int, str]) -> dict[int, str]:
    """Names of the customers `ids`, asking the API (in one call) only for those not already `known`."""
    missing = sorted(ids - known.keys())
    if not missing:
        return known
    found = await portal.get("/customers", id=missing[:PICKER_SIZE], limit=PICKER_SIZE)
    return {**known, **{c["id"]: c["name"] for c in found["items"]}}


async def list_context(
    portal: Portal, filters: Filters, cursor: str = "", selected: set[str] | None = None, bulk: dict | None = None
) -> dict:
    """Everything the work-events screen shows: one page of rows, the pickers, the bulk form's state."""
    await portal.token()  # renew the session's token once, before the calls below run side by side
    routing = portal.role in DISPATCH
    params = {**filters.api_params(), "limit": PAGE_SIZE}
    calls = [
        _nothing(NO_ROWS) if filters.impossible() else portal.get("/work-events", **params, cursor=cursor),
        _items(portal.get("/customers", limit=PICKER_SIZE)),
        _items(portal.get("/providers", limit=PICKER_SIZE)),
        _items(portal.get("/teams")) if routing else _nothing([]),
    ]
    try:
        page, customers, providers, teams = await asyncio.gather(*calls)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        # A cursor from an old bookmark or a changed sort: start again at the first page.
        return {
            **await list_context(portal, filters, "", selected, bulk),
            "notice": "That page of the list is gone; here is the first page.",
        }
    rows = page["items"]
    customer_words = {c["id"]: c["name"] for c in customers}
    wanted = {r["customer_id"] for r in rows} | ({int(filters.customer_id)} if filters.customer_id else set())
    customer_words = await customer_names(portal, wanted, customer_words)
    customer_options = sorted(customer_words.items(), key=lambda kv: kv[1].lower())
    provider_words = {p["id"]: p["name"] for p in providers}
    providers = sorted(providers, key=lambda p: p["name"].lower())
    here = filters.query()
    return {
        "nav": "work-events",
        "rows": rows,
        "filters": filters,
        "notice": None,
        "cursor": cursor,
        "customer_words": customer_words,
        "customer_options": customer_options,
        "provider_words": provider_words,
        "providers": providers,
        "provider_options": [(p["id"], p["name"]) for p in providers],
        "teams": teams,
        "buckets": wording.BUCKET_WORDS,
        "status_words_all": wording.STATUS_WORDS,
        "priority_words": wording.PRIORITY_WORDS,
        "billing_words": wording.BILLING_WORDS,
        "sla_words": SLA_WORDS,
        "sorts": SORTS,
        "described": described(filters, customer_words, provider_words),
        "actions": actions_for(portal.role),
        "selected": selected or set(),
        "bulk": {"action": "", "provider_id": "", "team_id": "", "reason": "", "errors": {}, **(bulk or {})},
        "back": urlencode(here),
        "this_query": {**here, **({"cursor": cursor} if cursor else {})},
        "first_query": here,
        "next_query": {**here, "cursor": page["next_cursor"]} if page.get("next_cursor") else None,
        "export_query": urlencode(here),
    }


@router.get("/work-events")
async def work_events(request: Request, portal: PortalDep, cursor: str = ""):
    need_role(portal, *OPERATORS)
    filters = Filters.parse(request.query_params)
    if not is_htmx(request) and "" in request.query_params.values():
        # The filter form sends its empty fields too: the address keeps only the filters in use.
        tidy = urlencode({**filters.query(), **({"cursor": cursor} if cursor else {})})
        return RedirectResponse(f"/work-events?{tidy}" if tidy else "/work-events", status_code=303)
    # The live refresh sends the ticked rows along, so they stay ticked.
    selected = {n for n in request.query_params.getlist("numbers") if NUMBER.match(n)}
    ctx = await list_context(portal, filters, cursor, selected)
    return render(
        request,
        "work_events/list.html",
        ctx,
        block="rows" if is_htmx(request) else None,
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )


# --- the bulk action -----------------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"^cannot (?P<action>.+?) (?P<number>SR-\d+): its status is (?P<status>[a-z_]+)"
    r"(?: \((?P<why>.*)\))?$"
)
_BILLING = re.compile(
    r"^cannot (?P<action>.+?) (?P<number>SR-\d+): its billing status is (?:already )?"
    r"(?P<billing>[a-z_]+)(?: \(status [a-z_]+\))?$"
)


def why_not(detail: str) -> str:
    """The API's reason for one request, in words: no raw status values."""
    text = (detail or "").strip()
    if m := _REFUSAL.match(text):
        why = f" — {m['why']}" if m["why"] else ""
        return f"Not possible while it is “{wording.status_words(m['status'])}”{why}."
    if m := _BILLING.match(text):
        return f"Its billing is already “{wording.BILLING_WORDS.get(m['billing'], m['billing'])}”."
    if re.match(r"^request SR-\d+ not found$", text):
        return "There is no such request."
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def bulk_errors(action: Action | None, numbers: list[str], provider_id: str, team_id: str, reason: str) -> dict:
    errors = {}
    if action is None:
        errors["action"] = "Choose what to do with the selected requests."
    elif action.needs == "provider" and not provider_id:
        errors["provider_id"] = "Choose the provider to assign them to."
    elif action.needs == "team" and not team_id:
        errors["team_id"] = "Choose the provider team to assign them to."
    elif action.needs == "reason" and not reason:
        errors["reason"] = "Say why they are deleted."
    if not numbers:
        errors["numbers"] = "Select at least one request: tick its box in the list."
    return errors


@router.post("/work-events/bulk")
async def bulk_action(request: Request, portal: PortalDep):
    need_role(portal, *OPERATORS)
    form = await request.form()
    numbers = list(dict.fromkeys(n for n in form.getlist("numbers") if isinstance(n, str) and NUMBER.match(n)))
    name = str(form.get("action") or "")
    action = actions_for(portal.role).get(name)
    provider_id, team_id = _id(str(form.get("provider_id") or "")), _id(str(form.get("team_id") or ""))
    reason = str(form.get("reason") or "").strip()[:1000]
    back = urlencode(Filters.parse(dict(parse_qsl(str(form.get("back") or "")))).query())
    chosen = {"action": name if action else "", "provider_id": provider_id, "team_id": team_id, "reason": reason}

    async def show_list(errors: dict, status: int):
        ctx = await list_context(
            portal, Filters.parse(dict(parse_qsl(back))), "", set(numbers), {**chosen, "errors": errors}
        )
        return render(request, "work_events/list.html", ctx, status_code=status)

    if errors := bulk_errors(action, numbers, provider_id, team_id, reason):
        return await show_list(errors, 422)
    if action is None:  # bulk_errors has answered it already
        raise HTTPException(422, "Choose what to do with the selected requests.")
    body: dict[str, Any] = {"action": name, "numbers": numbers}
    if action.needs == "provider":
        body["provider_id"] = int(provider_id)
    elif action.needs == "team":
        body["team_id"] = int(team_id)
    elif action.needs == "reason":
        body["reason"] = reason
    try:
        answer = await portal.post("/work-events/bulk", body)
    except ApiError as exc:
        if exc.status == 404:
            raise
        field = {"provider": "provider_id", "team": "team_id", "reason": "reason"}.get(action.needs or "", "action")
        return await show_list({field: why_not(exc.message)}, exc.status)
    results = [
        {**r, "why": None if r.get("ok") else why_not(str(r.get("detail") or "not done"))} for r in answer["results"]
    ]
    failed = [r["number"] for r in results if not r["ok"]]
    target = None
    if action.needs == "provider":
        target = await _named(portal.get("/providers", limit=PICKER_SIZE), provider_id) or f"provider {provider_id}"
    elif action.needs == "team":
        target = await _named(portal.get("/teams"), team_id) or f"team {team_id}"
    # The billing flags change the customer's billing, not the status: the results say the billing.
    billing = {"invoiced": "invoiced", "invoice-not-required": "not_required"}.get(name)
    ctx = {
        "nav": "work-events",
        "action": action,
        "action_name": name,
        "target": target,
        "results": results,
        "billing_after": wording.BILLING_WORDS[billing] if billing else None,
        "failed": failed,
        "done": len(results) - len(failed),
        "chosen": chosen,
        "back": back,
    }
    return render(request, "work_events/results.html", ctx)


async def _named(call, wanted: str) -> str | None:
    try:
        items = (await call)["items"]
    except ApiError:
        return None
    return next((i["name"] for i in items if str(i["id"]) == wanted), None)


# --- CSV export ------------------------------------------------------------------------------------------------
CSV_COLUMNS = (
    "Number",
    "Customer",
    "Summary",
    "Kind",
    "Status",
    "Priority",
    "Provider",
    "Work order",
    "Billing",
    "SLA breached",
    "Created (UTC)",
    "Due (UTC)",
)


def csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def csv_row(r: dict, customers: dict[int, str], providers: dict[int, str]) -> list[str]:
    provider = r.get("provider_id")
    return [
        r["number"],
        customers.get(r["customer_id"], str(r["customer_id"])),
        r["summary"],
        wording.KIND_WORDS.get(r["kind"], r["kind"]),
        wording.status_words(r["status"]),
        wording.PRIORITY_WORDS.get(r["priority"], r["priority"]),
        providers.get(provider, str(provider)) if provider else "",
        r.get("work_order_number") or "",
        wording.BILLING_WORDS.get(r["billing_status"], r["billing_status"]),
        "yes" if r.get("sla_breached") else "no",
        (r.get("created_at") or "")[:16].replace("T", " "),
        (r.get("due_at") or "")[:16].replace("T", " "),
    ]


async def all_providers(portal: Portal) -> dict[int, str]:
    names: dict[int, str] = {}
    cursor = None
    for _ in range(50):  # 10,000 providers at most: enough to name every row
        page = await portal.get("/providers", limit=EXPORT_PAGE, cursor=cursor)
        names.update({p["id"]: p["name"] for p in page["items"]})
        if not (cursor := page.get("next_cursor")):
            break
    return names


@router.get("/work-events/export.csv")
async def export_csv(request: Request, portal: PortalDep):
    """Every page of the filter as CSV, streamed as the pages come from the API."""
    need_role(portal, *OPERATORS)
    filters = Filters.parse(request.query_params)
    params = {**filters.api_params(), "limit": EXPORT_PAGE}
    await portal.token()  # renewed now: the session cookie cannot change once the stream has begun
    first, providers = await asyncio.gather(
        _nothing(NO_ROWS) if filters.impossible() else portal.get("/work-events", **params), all_providers(portal)
    )

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + csv_line(CSV_COLUMNS)  # the BOM lets spreadsheet programs read the names' accents
        page = first
        customers: dict[int, str] = {}
        while True:
            customers = await customer_names(portal, {r["customer_id"] for r in page["items"]}, customers)
            for r in page["items"]:
                yield csv_line(csv_row(r, customers, providers))
            if not page.get("next_cursor"):
                return
            page = await portal.get("/work-events", **params, cursor=page["next_cursor"])

    stamp = date.today().isoformat()
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="work-events-{stamp}.csv"', "Cache-Control": "no-store"},
    )
