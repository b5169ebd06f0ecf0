"""Signing in and out, the forgotten-password journey, sessions that end, and CSRF on every form."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.support.api import wait_for
from tests.web.support import latest_mail_link


async def test_sign_in_lands_on_the_start_page_and_sign_out_ends_the_session(visit, cast):
    visitor = await visit(None)
    await visitor.goto("/overview")
    assert "/sign-in?next=" in visitor.page.url  # a page that needs a session sends you to sign in, and back
    await visitor.axe("sign-in")
    await visitor.page.get_by_label("Email").fill(cast.customer.email)
    await visitor.page.get_by_label("Password").fill("not-the-password")
    await visitor.page.get_by_role("button", name="Sign in").click()
    await visitor.page.get_by_text("do not match an active account").wait_for()
    assert await visitor.page.get_by_label("Email").input_value() == cast.customer.email  # what was typed is kept
    await visitor.page.get_by_label("Password").fill("correct-horse-battery")
    await visitor.page.get_by_role("button", name="Sign in").click()
    await visitor.page.wait_for_url(re.compile(r"/overview$"))
    await visitor.page.get_by_role("button", name="Sign out").click()
    await visitor.page.wait_for_url(re.compile(r"/sign-in"))
    await visitor.goto("/overview")
    assert "/sign-in" in visitor.page.url


async def test_a_deactivated_user_is_out_at_the_next_click(visit, api, admin):
    customer_org = await admin.post("/customers", {"name": f"Gone {uuid.uuid4().hex[:6]}"}, expect=201)
    user = await api.make_user(admin, "customer", customer_id=customer_org["id"])
    visitor = await visit(user)
    await admin.post(f"/users/{user.id}/deactivate", expect=204)
    await visitor.goto("/overview")
    assert "/sign-in?next=%2Foverview" in visitor.page.url


async def test_a_form_without_the_csrf_token_is_refused(stack, cast):
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as browserless:
        page = await browserless.get("/sign-in")
        assert page.status_code == 200
        forged = await browserless.post(
            "/sign-in", data={"email": cast.customer.email, "password": "correct-horse-battery"}
        )
        assert forged.status_code == 403
        assert "expired" in forged.text and "Traceback" not in forged.text


async def test_forgotten_password_from_the_emailed_link_signs_you_in(visit, stack, cast):
    visitor = await visit(None)
    await visitor.goto("/sign-in")
    await visitor.page.get_by_role("link", name="Forgot password?").click()
    await visitor.axe("forgot-password")
    await visitor.page.get_by_label("Email").fill(cast.customer.email)
    await visitor.page.get_by_role("button", name="Email me a link").click()
    await visitor.page.get_by_text("we have emailed it a link").wait_for()
    link = await wait_for(lambda: latest_mail_link(stack, cast.customer, "/reset-password?token="))
    await visitor.page.goto(link)
    await visitor.axe("reset-password")
    await visitor.page.get_by_label("New password").fill("a-brand-new-secret")
    await visitor.page.get_by_label("Type it again").fill("a-brand-new-secret")
    await visitor.page.get_by_role("button", name="Save and sign in").click()
    await visitor.page.wait_for_url(re.compile(r"/overview"))
    # The link works once: opened again, it says so and offers a new one.
    await visitor.page.goto(link)
    await visitor.page.get_by_label("New password").fill("another-new-secret")
    await visitor.page.get_by_label("Type it again").fill("another-new-secret")
    await visitor.page.get_by_role("button", name="Save and sign in").click()
    await visitor.page.get_by_text("expired or was already used").wait_for()
    await visitor.page.get_by_role("link", name="Send me a new link").click()
    await visitor.page.wait_for_url(re.compile(r"/forgot-password"))
