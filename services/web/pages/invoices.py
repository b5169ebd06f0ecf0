"""The customer's invoices: outstanding and paid, one invoice with its lines, and its PDF.

Customers see their own organisation's invoices only: the API answers another organisation's invoice with a 404,
which the portal shows as its 404 page. Accounts receivable (and admins) reach the same screens for every customer.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from services.web.client import ApiError
from services.web.session import PortalDep, check_csrf, need_role
from services.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])

READERS = ("customer", "accounts_receivable", "admin")  # who the API lets read customer invoices
TABS = {"outstanding": "Outstanding", "paid": "Paid"}
PAGE_SIZE = 50
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def invoice_id(value: str) -> int:
    """An invoice's address holds its number in the list; anything else is no page at all."""
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(404, "There is no such page.")
    return int(value)


@router.get("/invoices")
async def invoice_list(request: Request, portal: PortalDep, status: str = "outstanding", cursor: str = ""):
    need_role(portal, *READERS)
    status = status if status in TABS else "outstanding"
    try:
        page = await portal.get("/invoices", status=status, limit=PAGE_SIZE, cursor=cursor)
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        page, cursor = await portal.get("/invoices", status=status, limit=PAGE_SIZE), ""  # a stale bookmark
    return render(
        request,
        "invoices/list.html",
        {
            "nav": "invoices",
            "tabs": TABS,
            "status": status,
            "invoices": page["items"],
            "cursor": cursor,
            "next_cursor": page.get("next_cursor"),
            "staff": not portal.is_customer,
        },
    )


@router.get("/invoices/{number}")
async def invoice_page(number: str, request: Request, portal: PortalDep):
    need_role(portal, *READERS)
    invoice = await portal.get(f"/invoices/{invoice_id(number)}")
    return render(request, "invoices/detail.html", {"nav": "invoices", "invoice": invoice})


@router.get("/invoices/{number}/pdf")
async def invoice_pdf(number: str, portal: PortalDep):
    """The API's PDF, passed on as a download (the bearer token stays on the server)."""
    need_role(portal, *READERS)
    answer = await portal.call("GET", f"/invoices/{invoice_id(number)}/pdf")
    found = re.search(r'filename="?([^";]+)"?', answer.headers.get("content-disposition", ""))
    filename = SAFE_NAME.sub("_", found.group(1)) if found else f"invoice-{number}.pdf"
    return Response(
        answer.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )
