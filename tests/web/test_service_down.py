"""The system not answering: the portal says so plainly (503, no stack trace) and works again once it is back.

The session stack's services are shared, so none is stopped: a second portal process is started whose road to
the API (FIELDOPS_PORTAL_API_URL) is a TCP relay to the session's gateway, and the relay is switched off and on."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.web.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DOWN_WORDS = "Part of fieldops is not answering right now"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Relay:
    """Bytes both ways between the portal and the gateway; `stop` drops every connection, as a dead service does."""

    def __init__(self, port: int, target: str) -> None:
        self.port = port
        self.target = urlsplit(target)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.relay, HOST, self.port)

    async def stop(self) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target.hostname, self.target.port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()
                self.writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def relay(stack):
    relay = Relay(free_port(), stack.settings.gateway_url)
    await relay.start()
    yield relay
    if relay.server.is_serving():
        await relay.stop()


@pytest.fixture
def portal(stack, relay):
    """A portal of its own, calling the API through the relay; yields its address."""
    port = free_port()
    env = {**stack.env, "FIELDOPS_PORTAL_API_URL": f"http://{HOST}:{relay.port}/api/v1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.web.app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the portal did not start"
            assert time.monotonic() < deadline, "the portal did not answer within 30 s"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_backend_that_does_not_answer_gets_a_clear_page_and_the_portal_recovers(portal, relay, cast):
    async with httpx.AsyncClient(base_url=portal, timeout=30) as browser:
        form = await browser.get("/sign-in")
        signed = await browser.post(
            "/sign-in",
            data={
                "csrf_token": CSRF.search(form.text).group(1),
                "email": cast.customer.email,
                "password": PASSWORD,
                "next": "/",
            },
        )
        assert signed.status_code == 303, signed.text[:300]
        assert (await browser.get("/requests")).status_code == 200

        await relay.stop()
        page = await browser.get("/requests")
        assert page.status_code == 503
        assert DOWN_WORDS in page.text and "<h1>Part of fieldops is not answering</h1>" in page.text
        assert "Traceback" not in page.text and "httpx" not in page.text
        assert page.headers["retry-after"] == "30"
        # A part of a page (htmx) gets the message alone, into the page's alert box.
        part = await browser.get("/requests", headers={"HX-Request": "true"})
        assert part.status_code == 503 and part.headers["hx-retarget"] == "#flash"
        assert DOWN_WORDS in part.text and "<html" not in part.text

        await relay.start()
        page = await browser.get("/requests")
        assert page.status_code == 200, page.text[:300]
        assert DOWN_WORDS not in page.text and "<h1>Requests</h1>" in page.text  # still signed in
