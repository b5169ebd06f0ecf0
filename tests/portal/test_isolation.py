"""Tenant isolation across all four services, through the gateway.

Organisation A has a request carried to invoicing (work order, recommendation, attachments, provider and
customer invoices, notifications, an account request). For every endpoint of the public API (checked against
the gateway's OpenAPI document, so a new endpoint fails this test until it is listed here), organisation B's
customer, org admin and provider try A's numbers and ids and get 404, and every role that must not act gets
403 or 404. Lists answer B without a trace of A. Afterwards A's request is exactly as it was."""

from __future__ import annotations

import asyncio
import uuid

from tests.portal.support import PNG_BYTES, accepted_request, upload
from tests.support.api import upload_invoice_copy, wait_for

CUSTOMERS = {"custA", "orgA", "custB", "orgB"}
PROVIDERS = {"provA", "provB"}
B_SIDE = {"custB", "orgB", "provB"}
EVERYONE = CUSTOMERS | PROVIDERS | {"disp", "ar", "admin"}
PUBLIC = {
    ("POST", "/auth/token"),
    ("POST", "/auth/password-reset"),
    ("POST", "/auth/password-reset/confirm"),
    ("POST", "/auth/refresh"),
}
SELF = {("GET", "/me"), ("PATCH", "/me"), ("POST", "/me/password")}


def endpoints(a: dict) -> list[tuple]:
    """(method, path template, concrete path, body, hide: exactly 404, deny: 403 or 404, lists: 200 without A)."""
    n, wo, inv, att, rec, acc = a["number"], a["wo"], a["invoice_id"], a["attachment_id"], a["rec_id"], a["acc_id"]
    cid, asset, user, note = a["customer_id"], a["asset_id"], a["user_id"], a["notification_id"]
    new_email = f"iso-{uuid.uuid4().hex[:8]}@example.com"
    req_body = {"customer_id": cid, "asset_id": asset, "kind": "walk_in", "priority": "low", "summary": "x"}
    att_body = {"filename": "a.png", "content_type": "image/png", "size_bytes": 10}
    not_dispatch = CUSTOMERS | PROVIDERS | {"ar"}
    not_billing = CUSTOMERS | PROVIDERS | {"disp", "admin"}
    only_provider = CUSTOMERS | {"disp", "ar", "admin"}
    rows = [
        # intake: accounts
        ("GET", "/me/overview", "/me/overview", None, set(), PROVIDERS | {"disp", "ar", "admin"}, {"custB", "orgB"}),
        (
            "POST",
            "/users",
            "/users",
            {"email": new_email, "full_name": "X", "role": "customer", "password": "p" * 10, "customer_id": cid},
            set(),
            EVERYONE - {"admin"},
            set(),
        ),
        ("GET", "/users", "/users", None, set(), {"custA", "custB", "provA", "provB", "disp", "ar"}, {"orgB"}),
        ("GET", "/users", f"/users?customer_id={cid}", None, set(), set(), {"orgB"}),
        ("POST", "/users/{user_id}/deactivate", f"/users/{user}/deactivate", None, set(), EVERYONE - {"admin"}, set()),
        (
            "POST",
            "/account-requests",
            "/account-requests",
            {"action": "deactivate", "user_id": user},
            {"orgB"},
            EVERYONE - {"orgA", "orgB"},
            set(),
        ),
        ("GET", "/account-requests", "/account-requests", None, set(), EVERYONE - {"orgA", "orgB", "admin"}, {"orgB"}),
        (
            "POST",
            "/account-requests/{request_id}/approve",
            f"/account-requests/{acc}/approve",
            {},
            set(),
            EVERYONE - {"admin"},
            set(),
        ),
        (
            "POST",
            "/account-requests/{request_id}/reject",
            f"/account-requests/{acc}/reject",
            {},
            set(),
            EVERYONE - {"admin"},
            set(),
        ),
        # intake: customers, sites, assets
        ("POST", "/customers", "/customers", {"name": "X"}, set(), not_dispatch, set()),
        ("GET", "/customers", "/customers", None, set(), CUSTOMERS | PROVIDERS, set()),
        ("GET", "/customers/{customer_id}", f"/customers/{cid}", None, B_SIDE, {"provA"}, set()),
        (
            "POST",
            "/customers/{customer_id}/sites",
            f"/customers/{cid}/sites",
            {"name": "S"},
            {"custB", "orgB"},
            PROVIDERS | {"ar", "custA"},
            set(),
        ),
        ("GET", "/customers/{customer_id}/sites", f"/customers/{cid}/sites", None, B_SIDE, {"provA"}, set()),
        (
            "POST",
            "/assets",
            "/assets",
            {"customer_id": cid, "name": "X", "serial_number": "Y"},
            {"custB", "orgB"},
            PROVIDERS | {"ar"},
            set(),
        ),
        ("GET", "/assets", f"/assets?customer_id={cid}", None, set(), PROVIDERS | {"ar"}, {"custB", "orgB"}),
        ("GET", "/assets/{asset_id}", f"/assets/{asset}", None, B_SIDE, {"provA", "ar"}, set()),
        # intake: requests
        ("POST", "/requests", "/requests", req_body, {"custB", "orgB"}, PROVIDERS | {"ar"}, set()),
        (
            "POST",
            "/requests",
            "/requests",
            {**req_body, "customer_id": a["b_customer_id"]},
            {"custB", "orgB"},
            set(),
            set(),
        ),  # B's own customer id with A's asset
        ("GET", "/requests", f"/requests?customer_id={cid}", None, set(), set(), B_SIDE),
        ("GET", "/work-events", "/work-events", None, set(), CUSTOMERS | PROVIDERS, set()),
        ("GET", "/requests/{number}", f"/requests/{n}", None, B_SIDE, set(), set()),
        ("GET", "/requests/{number}/timeline", f"/requests/{n}/timeline", None, B_SIDE, set(), set()),
        ("POST", "/requests/{number}/notes", f"/requests/{n}/notes", {"body": "x"}, B_SIDE, set(), set()),
        (
            "POST",
            "/requests/{number}/cancel",
            f"/requests/{n}/cancel",
            {"reason": "x"},
            {"custB", "orgB"},
            PROVIDERS | {"ar"},
            set(),
        ),
        ("POST", "/requests/{number}/attachments", f"/requests/{n}/attachments", att_body, B_SIDE, set(), set()),
        ("GET", "/requests/{number}/attachments", f"/requests/{n}/attachments", None, B_SIDE, set(), set()),
        (
            "POST",
            "/requests/{number}/attachments/{attachment_id}/complete",
            f"/requests/{n}/attachments/{att}/complete",
            {},
            B_SIDE,
            {"orgA", "provA", "disp", "ar", "admin"},
            set(),
        ),
        (
            "GET",
            "/requests/{number}/attachments/{attachment_id}/download",
            f"/requests/{n}/attachments/{att}/download",
            None,
            B_SIDE,
            set(),
            set(),
        ),
        (
            "POST",
            "/requests/{number}/recommendations",
            f"/requests/{n}/recommendations",
            {"summary": "x"},
            {"provB"},
            CUSTOMERS | {"disp", "ar", "admin"},
            set(),
        ),
        ("GET", "/requests/{number}/recommendations", f"/requests/{n}/recommendations", None, B_SIDE, set(), set()),
        ("GET", "/changes", "/changes?after=0&limit=500", None, set(), set(), B_SIDE),
        (
            "POST",
            "/requests/{number}/recommendations/{rec_id}/respond",
            f"/requests/{n}/recommendations/{rec}/respond",
            {"decision": "approve"},
            {"custB", "orgB"},
            PROVIDERS | {"disp", "ar", "admin"},
            set(),
        ),
        # routing
        ("POST", "/providers", "/providers", {"name": "P", "email": "p@example.com"}, set(), not_dispatch, set()),
        ("GET", "/providers", "/providers", None, set(), CUSTOMERS | PROVIDERS, set()),
        ("POST", "/teams", "/teams", {"name": "T", "provider_ids": [a["provider_id"]]}, set(), not_dispatch, set()),
        ("GET", "/teams", "/teams", None, set(), not_dispatch, set()),
        (
            "POST",
            "/work-events/bulk",
            "/work-events/bulk",
            {"action": "publish", "numbers": [n]},
            set(),
            not_dispatch,
            set(),
        ),
        (
            "POST",
            "/work-events/bulk",
            "/work-events/bulk",
            {"action": "invoiced", "numbers": [n]},
            set(),
            not_billing,
            set(),
        ),
    ]
    for action in ("publish", "send-to-marketplace", "delete", "approve-payment"):
        rows.append(
            ("POST", f"/work-events/{{number}}/{action}", f"/work-events/{n}/{action}", {}, set(), not_dispatch, set())
        )
    rows += [
        (
            "POST",
            "/work-events/{number}/assign",
            f"/work-events/{n}/assign",
            {"provider_id": a["b_provider_id"]},
            set(),
            not_dispatch,
            set(),
        ),
        (
            "POST",
            "/work-events/{number}/assign-team",
            f"/work-events/{n}/assign-team",
            {"team_id": 1},
            set(),
            not_dispatch,
            set(),
        ),
        ("POST", "/work-events/{number}/invoiced", f"/work-events/{n}/invoiced", {}, set(), not_billing, set()),
        (
            "POST",
            "/work-events/{number}/invoice-not-required",
            f"/work-events/{n}/invoice-not-required",
            {},
            set(),
            not_billing,
            set(),
        ),
        ("GET", "/work-orders", "/work-orders?view=accepted", None, set(), only_provider, {"provB"}),
        ("GET", "/work-orders", "/work-orders?view=completed", None, set(), set(), {"provB"}),
        ("GET", "/work-orders/{wo}", f"/work-orders/{wo}", None, {"provB"}, only_provider, set()),
    ]
    for action in ("accept", "decline", "start", "await-parts", "resume", "ready-for-return"):
        rows.append(
            (
                "POST",
                f"/work-orders/{{wo}}/{action}",
                f"/work-orders/{wo}/{action}",
                {},
                {"provB"},
                only_provider,
                set(),
            )
        )
    rows += [
        (
            "POST",
            "/work-orders/{wo}/schedule",
            f"/work-orders/{wo}/schedule",
            {"scheduled_for": "2031-01-01T09:00:00Z"},
            {"provB"},
            only_provider,
            set(),
        ),
        (
            "POST",
            "/work-orders/{wo}/complete",
            f"/work-orders/{wo}/complete",
            {"notes": "x", "invoice_attachment_id": att},
            {"provB"},
            only_provider,
            set(),
        ),
        # invoicing
        (
            "PUT",
            "/provider-invoices/{wo}",
            f"/provider-invoices/{wo}",
            {"invoice_number": "ISO1", "parts": "1.00", "labor": "1.00", "tax": "0.00"},
            {"provB"},
            only_provider,
            set(),
        ),
        (
            "GET",
            "/provider-invoices/{wo}",
            f"/provider-invoices/{wo}",
            None,
            {"provB", "custA", "custB", "orgA", "orgB"},
            set(),
            set(),
        ),
        (
            "POST",
            "/provider-invoices/{wo}/submit",
            f"/provider-invoices/{wo}/submit",
            {},
            {"provB"},
            only_provider,
            set(),
        ),
        ("POST", "/payment-runs", "/payment-runs", {}, set(), CUSTOMERS | PROVIDERS, set()),
        ("GET", "/payment-runs", "/payment-runs", None, set(), CUSTOMERS | PROVIDERS, set()),
        ("GET", "/payments", "/payments", None, set(), CUSTOMERS, {"provB"}),
        ("GET", "/invoices", "/invoices", None, set(), PROVIDERS | {"disp"}, {"custB", "orgB"}),
        ("GET", "/invoices/{invoice_id}", f"/invoices/{inv}", None, {"custB", "orgB"}, PROVIDERS | {"disp"}, set()),
        (
            "GET",
            "/invoices/{invoice_id}/pdf",
            f"/invoices/{inv}/pdf",
            None,
            {"custB", "orgB"},
            PROVIDERS | {"disp"},
            set(),
        ),
        (
            "POST",
            "/invoices/{invoice_id}/record-payment",
            f"/invoices/{inv}/record-payment",
            {"amount": a["invoice_total"], "paid_at": "2031-01-01T00:00:00Z"},
            set(),
            EVERYONE - {"ar"},
            set(),
        ),
        # notifications
        ("GET", "/notifications", "/notifications", None, set(), set(), B_SIDE),
        ("GET", "/notifications/unread-count", "/notifications/unread-count", None, set(), set(), B_SIDE),
        (
            "POST",
            "/notifications/{notification_id}/read",
            f"/notifications/{note}/read",
            None,
            EVERYONE - {"custA"},
            set(),
            set(),
        ),
    ]
    return rows


async def build_tenant_a(api, admin, cast) -> dict:
    c, p = cast.customer, cast.provider
    number, wo = await accepted_request(cast, "Isolation subject")
    rec = await p.post(f"/requests/{number}/recommendations", {"summary": "Replace belt"}, expect=201)
    await p.post(f"/work-orders/{wo}/start")
    photo = await upload(c, number, PNG_BYTES)
    await c.post(f"/requests/{number}/attachments/{photo['id']}/complete", {})
    copy = await upload_invoice_copy(api, p, number)
    await p.post(f"/work-orders/{wo}/complete", {"notes": "done", "invoice_attachment_id": copy})
    await p.put(f"/provider-invoices/{wo}", {"invoice_number": "ISO7", "parts": "5.00", "labor": "5.00", "tax": "0.00"})
    await p.post(f"/provider-invoices/{wo}/submit")
    await cast.receivable.post(f"/work-events/{number}/invoiced")
    invoice = (await c.get("/invoices?status=outstanding"))["items"][0]
    org_a = await api.make_user(admin, "customer", customer_id=cast.customer_id, org_admin=True)
    marker_email = f"marker-{uuid.uuid4().hex[:8]}@example.com"
    acc = await org_a.post(
        "/account-requests", {"action": "create", "email": marker_email, "full_name": "Marker"}, expect=201
    )

    async def notified():
        return (await c.get("/notifications"))["items"]

    notification = (await wait_for(notified))[0]
    asset = await c.get(f"/assets/{cast.asset_id}")
    customer = await admin.get(f"/customers/{cast.customer_id}")
    return {
        "number": number,
        "wo": wo,
        "rec_id": rec["id"],
        "attachment_id": photo["id"],
        "invoice_id": invoice["id"],
        "invoice_total": invoice["total"],
        "acc_id": acc["id"],
        "customer_id": cast.customer_id,
        "asset_id": cast.asset_id,
        "user_id": c.id,
        "notification_id": notification["id"],
        "provider_id": cast.provider_id,
        "org_a": org_a,
        "markers": [number, wo, c.email, asset["serial_number"], invoice["number"], marker_email, customer["name"]],
    }


async def test_every_endpoint_keeps_tenants_apart(api, admin, cast):
    a = await build_tenant_a(api, admin, cast)
    org_b = await admin.post("/customers", {"name": f"Beta {uuid.uuid4().hex[:6]}"}, expect=201)
    cust_b = await api.make_user(admin, "customer", customer_id=org_b["id"])
    org_admin_b = await api.make_user(admin, "customer", customer_id=org_b["id"], org_admin=True)
    provider_b_org = await cast.dispatcher.post(
        "/providers", {"name": "Beta Fix", "email": "b@fix.example"}, expect=201
    )
    prov_b = await api.make_user(admin, "provider", provider_id=provider_b_org["id"])
    asset_b = await cust_b.post(
        "/assets",
        {"customer_id": org_b["id"], "name": "Beta pump", "serial_number": f"B{uuid.uuid4().hex[:8]}"},
        expect=201,
    )
    await cust_b.post(
        "/requests",
        {
            "customer_id": org_b["id"],
            "asset_id": asset_b["id"],
            "kind": "walk_in",
            "priority": "low",
            "summary": "Beta's own request",
        },
        expect=201,
    )
    a.update(b_customer_id=org_b["id"], b_provider_id=provider_b_org["id"])
    actors = {
        "custA": cast.customer,
        "orgA": a["org_a"],
        "custB": cust_b,
        "orgB": org_admin_b,
        "provA": cast.provider,
        "provB": prov_b,
        "disp": cast.dispatcher,
        "ar": cast.receivable,
        "admin": admin,
    }
    before = await cast.customer.get(f"/requests/{a['number']}")
    rows = endpoints(a)

    # Every endpoint of the gateway's OpenAPI document is covered here.
    spec = (await api.http.get("/openapi.json")).json()
    published = {
        (method.upper(), path.removeprefix("/api/v1")) for path, ops in spec["paths"].items() for method in ops
    }
    covered = {(r[0], r[1]) for r in rows} | PUBLIC | SELF
    assert published - covered == set(), f"endpoints without an isolation check: {sorted(published - covered)}"

    gate = asyncio.Semaphore(6)
    failures: list[str] = []

    async def attempt(actor: str, method: str, path: str, body, kind: str) -> None:
        user = actors[actor]
        async with gate:
            response = await api.http.request(
                method, path, headers=user.headers, **({"json": body} if body is not None else {})
            )
        code = response.status_code
        if kind == "hide" and code != 404:
            failures.append(f"{actor} {method} {path}: {code} (want 404) {response.text[:200]}")
        elif kind == "deny" and code not in (403, 404):
            failures.append(f"{actor} {method} {path}: {code} (want 403/404) {response.text[:200]}")
        elif kind == "list":
            leaked = [m for m in a["markers"] if m in response.text]
            if code != 200 or leaked:
                failures.append(f"{actor} {method} {path}: {code}, shows {leaked}")

    calls = []
    for method, _template, path, body, hide, deny, lists in rows:
        assert not (hide & deny), path
        calls += [attempt(actor, method, path, body, "hide") for actor in sorted(hide)]
        calls += [attempt(actor, method, path, body, "deny") for actor in sorted(deny)]
        calls += [attempt(actor, method, path, body, "list") for actor in sorted(lists)]
    await asyncio.gather(*calls)
    assert failures == [], "\n".join(failures)
    assert len(calls) > 250

    # Self-only endpoints answer each user about itself.
    for user in actors.values():
        assert (await user.get("/me"))["id"] == user.id
        assert (await user.call("PATCH", "/me", json={}))["id"] == user.id

    # Nothing any of those calls tried has changed A's request, its invoice, its users or its account request.
    after = await cast.customer.get(f"/requests/{a['number']}")
    assert {k: after[k] for k in ("status", "billing_status", "work_order_number", "provider_id", "updated_at")} == {
        k: before[k] for k in ("status", "billing_status", "work_order_number", "provider_id", "updated_at")
    }
    assert (await cast.customer.get(f"/invoices/{a['invoice_id']}"))["status"] == "outstanding"
    assert (await admin.get(f"/account-requests?customer_id={a['customer_id']}"))["items"][0]["status"] == "pending"
    assert (await cast.customer.get(f"/requests/{a['number']}/recommendations"))["items"][0]["decision"] is None
    assert (await cast.customer.get("/me"))["active"] is True
