"""Accounts through the gateway: token expiry, deactivation on every service, password reset by email,
throttled sign-ins, the profile, and organisation admins' contacts and account requests."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from shared import auth
from shared.auth import Principal
from shared.contracts.enums import Role
from shared.settings import Settings
from tests.portal.support import link_token, new_request, read_mail, wait_mail
from tests.support.api import User


async def status_of(api, token: str, path: str) -> int:
    return (await api.http.get(path, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_tokens_expire_and_forged_tokens_are_refused(stack, api, cast, monkeypatch):
    signed_in = await api.http.post(
        "/auth/token", data={"username": cast.customer.email, "password": "correct-horse-battery"}
    )
    assert signed_in.status_code == 200
    assert signed_in.json()["expires_in"] == int(stack.settings.token_ttl.total_seconds()) == 3600
    claims = jwt.decode(signed_in.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600

    me = await cast.customer.get("/me")
    principal = Principal(
        user_id=me["id"],
        role=Role.customer,
        email=me["email"],
        name=me["full_name"],
        customer_id=me["customer_id"],
        token_version=0,
    )
    # A token issued under FIELDOPS_TOKEN_TTL=1 (the stack's own secret): good at once, refused once expired.
    monkeypatch.setattr(auth, "get_settings", lambda: Settings(token_ttl=timedelta(seconds=1)))
    short, ttl = auth.issue_token(principal)
    assert ttl == 1
    assert await status_of(api, short, "/me") == 200
    await asyncio.sleep(2.1)
    for path in ("/me", "/requests", "/notifications", "/invoices"):
        response = await api.http.get(path, headers={"Authorization": f"Bearer {short}"})
        assert response.status_code == 401, (path, response.text)

    # Signed with another key, or with a claim changed: refused.
    forged = jwt.encode(
        {**claims, "role": "admin"}, "not-the-secret-of-this-stack-at-all-0123456789", algorithm="HS256"
    )
    assert await status_of(api, forged, "/users") == 401
    tampered = cast.customer.token.rsplit(".", 1)[0] + ".AAAA"
    assert await status_of(api, tampered, "/me") == 401
    assert (await api.http.get("/me")).status_code == 401


async def test_deactivated_user_is_locked_out_of_every_service_at_once(stack, api, cast):
    customer, provider = cast.customer, cast.provider
    request = await new_request(cast)
    # Before: every service answers these tokens.
    calls = [
        (customer, "/me"),
        (customer, "/requests"),
        (customer, f"/requests/{request['number']}"),
        (customer, f"/customers/{cast.customer_id}/sites"),
        (customer, "/invoices"),
        (customer, "/notifications"),
        (provider, "/work-orders"),
        (provider, "/payments"),
        (provider, "/notifications"),
        (provider, "/me"),
    ]
    for user, path in calls:
        assert await status_of(api, user.token, path) == 200, path

    for user in (customer, provider):
        await cast.admin.post(f"/users/{user.id}/deactivate", expect=204)
    for user, path in calls:
        response = await api.http.get(path, headers=user.headers)
        assert response.status_code == 401, (path, response.text)
    # Writes on every service are refused too, and signing in again is not possible.
    writes = [
        (
            customer,
            "POST",
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "walk_in",
                "priority": "low",
                "summary": "x",
            },
        ),
        (provider, "POST", "/work-orders/600000000/accept", {}),
        (provider, "PUT", "/provider-invoices/600000000", {}),
        (customer, "POST", "/notifications/1/read", {}),
    ]
    for user, method, path, body in writes:
        response = await api.http.request(method, path, json=body, headers=user.headers)
        assert response.status_code == 401, (path, response.text)
    again = await api.http.post("/auth/token", data={"username": customer.email, "password": "correct-horse-battery"})
    assert again.status_code == 401
    listed = (await cast.admin.get(f"/users?customer_id={cast.customer_id}"))["items"]
    assert [u["active"] for u in listed if u["id"] == customer.id] == [False]
    # Internal routes are never reachable through the gateway.
    assert (await api.http.get("/internal/auth/check", headers=cast.admin.headers)).status_code == 404


async def test_password_reset_by_email_single_use_one_hour(stack, api, cast):
    me = await cast.customer.get("/me")
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        await api.http.post("/auth/password-reset", json={"email": address})
        for address in (me["email"].upper(), unknown)
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()  # nothing tells whether the address has an account

    # The link goes to the profile's notification address, and nothing to the unknown one.
    message = (await wait_mail(stack.mail_dir, me["notification_email"], "Reset your fieldops password"))[0]
    token = link_token(message)
    assert "one hour" in message.get_content()
    assert read_mail(stack.mail_dir, unknown) == []
    with sqlite3.connect(stack.stack.data / "db" / "intake.db") as db:
        expires = [
            datetime.fromisoformat(r[0])
            for r in db.execute("SELECT expires_at FROM password_resets WHERE user_id = ?", (me["id"],))
        ]
    expires = [e if e.tzinfo else e.replace(tzinfo=UTC) for e in expires]
    assert len(expires) == 1
    assert abs(expires[0] - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=2)

    old_token = cast.customer.token
    confirmed = await api.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "a-brand-new-secret"}
    )
    assert confirmed.status_code == 204
    assert await status_of(api, old_token, "/me") == 401  # the password change revokes earlier tokens
    old = await api.http.post("/auth/token", data={"username": me["email"], "password": "correct-horse-battery"})
    assert old.status_code == 401
    await api.sign_in(me["email"], "a-brand-new-secret")
    reused = await api.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "yet-another-secret"}
    )
    assert reused.status_code == 400

    # A link older than an hour no longer works (its expiry moved into the past in the database itself).
    await api.http.post("/auth/password-reset", json={"email": me["email"]})
    later = await wait_mail(stack.mail_dir, me["notification_email"], "Reset your fieldops password", count=2)
    stale = link_token(later[-1])
    assert stale != token
    with sqlite3.connect(stack.stack.data / "db" / "intake.db") as db:
        past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("UPDATE password_resets SET expires_at = ? WHERE user_id = ? AND used_at IS NULL", (past, me["id"]))
    expired = await api.http.post(
        "/auth/password-reset/confirm", json={"token": stale, "new_password": "too-late-secret"}
    )
    assert expired.status_code == 400
    assert (
        await api.http.post("/auth/password-reset/confirm", json={"token": "x" * 43, "new_password": "whatever-secret"})
    ).status_code == 400


async def test_profile_and_notification_email_used_for_mail(stack, api, cast):
    new_address = f"desk-{uuid.uuid4().hex[:8]}@example.com"
    patched = await cast.customer.call(
        "PATCH", "/me", json={"full_name": "Dana Field", "phone": "+44 20 7946 0000", "notification_email": new_address}
    )
    assert (patched["full_name"], patched["phone"], patched["notification_email"]) == (
        "Dana Field",
        "+44 20 7946 0000",
        new_address,
    )
    me = await cast.customer.get("/me")
    assert me["notification_email"] == new_address and me["role"] == "customer"
    for bad in (
        {"role": "admin"},
        {"full_name": None},
        {"notification_email": "not-an-address"},
        {"customer_id": 1},
        {"full_name": ""},
    ):
        response = await api.http.patch("/me", json=bad, headers=cast.customer.headers)
        assert response.status_code == 422, bad
    assert (await cast.customer.get("/me"))["role"] == "customer"

    # Request emails and the reset link go to the notification address, not the sign-in address.
    number = (await new_request(cast))["number"]
    mails = await wait_mail(stack.mail_dir, new_address, number)
    assert mails and read_mail(stack.mail_dir, me["email"]) == []
    await api.http.post("/auth/password-reset", json={"email": me["email"]})
    await wait_mail(stack.mail_dir, new_address, "Reset your fieldops password")


async def make_org_admin(api, admin: User, customer_id: int) -> User:
    return await api.make_user(admin, "customer", customer_id=customer_id, org_admin=True)


async def test_org_admin_lists_contacts_and_asks_for_accounts(stack, api, admin, cast):
    org_admin = await make_org_admin(api, admin, cast.customer_id)
    other_org = await admin.post("/customers", {"name": "Other Org"}, expect=201)
    stranger = await api.make_user(admin, "customer", customer_id=other_org["id"])
    other_admin = await make_org_admin(api, admin, other_org["id"])

    contacts = (await org_admin.get("/users"))["items"]
    assert {u["id"] for u in contacts} == {cast.customer.id, org_admin.id}
    assert all(u["customer_id"] == cast.customer_id for u in contacts)
    assert {u["id"] for u in (await org_admin.get(f"/users?customer_id={other_org['id']}"))["items"]} == {
        cast.customer.id,
        org_admin.id,
    }
    for user in (cast.customer, cast.provider, cast.dispatcher):
        assert (await api.http.get("/users", headers=user.headers)).status_code == 403

    # Ask for a new contact; only an organisation admin may ask.
    new_email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    body = {"action": "create", "email": new_email, "full_name": "New Contact", "phone": "123"}
    assert (await api.http.post("/account-requests", json=body, headers=cast.customer.headers)).status_code == 403
    asked = await org_admin.post("/account-requests", body, expect=201, headers={"Idempotency-Key": "ask-1"})
    assert asked["status"] == "pending" and asked["customer_id"] == cast.customer_id and asked["id"]
    assert (await org_admin.post("/account-requests", body, expect=201, headers={"Idempotency-Key": "ask-1"}))[
        "id"
    ] == asked["id"]
    assert (
        await api.http.post("/account-requests", json={"action": "create"}, headers=org_admin.headers)
    ).status_code == 422
    queue = (await admin.get("/account-requests?status=pending"))["items"]
    assert asked["id"] in [r["id"] for r in queue]
    assert asked["id"] not in [r["id"] for r in (await other_admin.get("/account-requests"))["items"]]
    assert (
        await api.http.post(f"/account-requests/{asked['id']}/approve", json={}, headers=org_admin.headers)
    ).status_code == 403

    done = await admin.post(f"/account-requests/{asked['id']}/approve", {"comment": "welcome"})
    assert done["status"] == "done" and done["user_id"] and done["decided_by"] == admin.id
    again = await api.http.post(f"/account-requests/{asked['id']}/approve", json={}, headers=admin.headers)
    assert again.status_code == 409 and "done" in again.json()["detail"]
    invitation = (await wait_mail(stack.mail_dir, new_email, "Your fieldops account"))[0]
    await api.http.post(
        "/auth/password-reset/confirm", json={"token": link_token(invitation), "new_password": "chosen-by-contact"}
    )
    contact = await api.sign_in(new_email, "chosen-by-contact")
    assert contact.customer_id == cast.customer_id
    assert (await contact.get("/me"))["org_admin"] is False

    # Ask for a deactivation: only of one's own contacts; the admin carries it out and it bites at once.
    foreign = await api.http.post(
        "/account-requests", json={"action": "deactivate", "user_id": stranger.id}, headers=org_admin.headers
    )
    assert foreign.status_code == 404
    ask_off = await org_admin.post(
        "/account-requests",
        {"action": "deactivate", "user_id": cast.customer.id, "reason": "left the company"},
        expect=201,
    )
    assert await status_of(api, cast.customer.token, "/me") == 200
    await admin.post(f"/account-requests/{ask_off['id']}/approve", {})
    assert await status_of(api, cast.customer.token, "/me") == 401
    assert await status_of(api, cast.customer.token, "/notifications") == 401

    # A request the admin turns down changes nothing.
    ask_other = await org_admin.post("/account-requests", {"action": "deactivate", "user_id": contact.id}, expect=201)
    rejected = await admin.post(f"/account-requests/{ask_other['id']}/reject", {"comment": "still needed"})
    assert rejected["status"] == "rejected" and rejected["decision_comment"] == "still needed"
    assert await status_of(api, contact.token, "/me") == 200
    mine = (await org_admin.get("/account-requests"))["items"]
    assert [r["status"] for r in mine] == ["done", "done", "rejected"]
