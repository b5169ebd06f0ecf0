"""Browser tests of the portal: Debian's Chromium driven by Playwright's async API, against the session's stack.

Nothing is downloaded: the browser is the `chromium` on PATH (make test installs it). Pages are found the way a
person finds things (roles and labels), every page is scanned with axe-core, console errors fail the test, and
a screenshot of each screen is kept under .artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.api import User

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "services/web/node_modules/axe-core/axe.min.js"
SHOTS = ROOT / ".artifacts/screenshots"
PASSWORD = "correct-horse-battery"  # what tests.support.api.Api.make_user gives every user
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture(scope="session")
async def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "the portal's browser tests need Chromium: run 'sudo apt-get install chromium' (make test does "
            "it when run as root)"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        await browser.close()


class Visitor:
    """One person in one browser context: signs in through the form, and remembers console errors."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def url(self, path: str) -> str:
        return self.base_url + path

    async def goto(self, path: str):
        return await self.page.goto(self.url(path))

    async def sign_in(self, email: str, password: str = PASSWORD) -> None:
        await self.goto("/sign-in")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url(re.compile(r"^(?!.*/sign-in).*$"))

    async def axe(self, name: str) -> None:
        """No serious or critical accessibility violation on the page as it stands; keeps a screenshot."""
        await self.screenshot(name)
        await self.page.add_script_tag(path=str(AXE))
        result = await self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"axe on {name}: " + json.dumps(bad, indent=1)

    async def screenshot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def assert_no_console_errors(self) -> None:
        # A 4xx that a page shows on purpose (an error page) logs "Failed to load resource"; anything else fails.
        real = [e for e in self.console_errors if "Failed to load resource" not in e]
        assert not real, f"console errors: {real}"

    async def no_horizontal_scroll(self) -> None:
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.page.viewport_size["width"], f"page is {width}px wide"


@pytest.fixture
async def visit(browser: Browser, stack):
    """`visitor = await visit(user)`: a fresh browser context signed in as `user` (or anonymous with None)."""
    contexts: list[BrowserContext] = []
    visitors: list[Visitor] = []

    async def open_as(user: User | None, viewport: dict | None = None) -> Visitor:
        context = await browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True)
        contexts.append(context)
        visitor = Visitor(context, await context.new_page(), stack.settings.gateway_url)
        visitors.append(visitor)
        if user is not None:
            await visitor.sign_in(user.email)
        return visitor

    yield open_as
    for context in contexts:
        await context.close()
    for visitor in visitors:
        visitor.assert_no_console_errors()
