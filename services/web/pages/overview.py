"""The customer's overview: recent requests, outstanding invoices, latest notifications, quick links."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from services.web.session import PortalDep, check_csrf, need_role
from services.web.templating import is_htmx, render
from shared.contracts import wording

router = APIRouter(dependencies=[Depends(check_csrf)])
LATEST_NOTIFICATIONS = 5
# The dashboard buckets in a customer's words ("published" reads "Submitted" to a customer, like "draft").
CUSTOMER_BUCKETS = (
    ("Submitted", ("draft", "published")),
    ("Waiting for a technician", ("assigned",)),
    ("In progress", ("in_progress",)),
    ("Completed", ("completed",)),
)


@router.get("/overview")
async def overview(request: Request, portal: PortalDep):
    need_role(portal, "customer")
    data = await portal.get("/me/overview")
    counts = data["counts"]
    ctx = {
        "nav": "overview",
        "data": data,
        "buckets": [(said, sum(counts.get(b, 0) for b in buckets)) for said, buckets in CUSTOMER_BUCKETS],
        "notifications": data["notifications"]["items"][:LATEST_NOTIFICATIONS],
        "billing_words": wording.BILLING_WORDS,
    }
    # The same address gives the whole screen, or (for the live refresh) only its sections.
    return render(
        request,
        "overview.html",
        ctx,
        block="sections" if is_htmx(request) else None,
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )
