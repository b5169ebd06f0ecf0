"""All Customers (dispatchers, accounts receivable, admins): find a customer by a part of its name; each one a
card with its dashboard, the five work-event stages and the count in each, every count a link to that
customer's work events in that stage. The grid refreshes itself when any request changes (live.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from services.web.client import ApiError
from services.web.session import PortalDep, check_csrf, need_role
from services.web.templating import is_htmx, render
from shared.contracts import wording

router = APIRouter(dependencies=[Depends(check_csrf)])

OPERATORS = ("dispatcher", "accounts_receivable", "admin")
PAGE_SIZE = 24  # a grid of 2, 3 or 4 columns fills evenly


@router.get("/customers")
async def all_customers(request: Request, portal: PortalDep, q: str = "", cursor: str = ""):
    need_role(portal, *OPERATORS)
    q = q.strip()[:200]
    notice = None
    try:
        page = await portal.get("/customers", q=q, limit=PAGE_SIZE, cursor=cursor)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        notice, cursor = "That page of the list is gone; here is the first page.", ""  # an old bookmark's cursor
        page = await portal.get("/customers", q=q, limit=PAGE_SIZE)
    first = {"q": q} if q else {}
    ctx = {
        "nav": "customers",
        "customers": page["items"],
        "q": q,
        "cursor": cursor,
        "notice": notice,
        "buckets": wording.BUCKET_WORDS,
        "first_query": first,
        "this_query": {**first, **({"cursor": cursor} if cursor else {})},
        "next_query": {**first, "cursor": page["next_cursor"]} if page.get("next_cursor") else None,
    }
    # The whole screen, or (for the live refresh) only the grid.
    return render(
        request,
        "customers/list.html",
        ctx,
        block="grid" if is_htmx(request) else None,
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )
