"""Helpers of the portal tests: mail read from the stack's mail directory, requests and uploads made through
the gateway, and the resident memory of the stack's service processes."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from tests.support.api import PDF_BYTES, Cast, User, wait_for

SERVICES = ("intake", "routing", "invoicing", "notifications")
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def read_mail(mail_dir: Path, to: str) -> list[EmailMessage]:
    messages = [
        email.message_from_bytes(p.read_bytes(), EmailMessage, policy=email.policy.default)
        for p in sorted(mail_dir.glob("*.eml"))
    ]
    return [m for m in messages if m["To"] == to]


async def wait_mail(mail_dir: Path, to: str, subject_part: str, count: int = 1) -> list[EmailMessage]:
    async def arrived():
        found = [m for m in read_mail(mail_dir, to) if subject_part in m["Subject"]]
        return found if len(found) >= count else None

    return await wait_for(arrived, timeout=20)


def link_token(message: EmailMessage) -> str:
    body = message.get_content()
    match = re.search(r"\?token=([A-Za-z0-9_\-]+)", body)
    assert match, body
    return match.group(1)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


async def new_request(
    cast: Cast,
    summary: str = "Chiller does not cool",
    priority: str = "normal",
    asset_id: int | None = None,
    kind: str = "service_call",
) -> dict:
    return await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": asset_id or cast.asset_id,
            "kind": kind,
            "priority": priority,
            "summary": summary,
        },
        expect=201,
    )


async def accepted_request(cast: Cast, summary: str = "Chiller does not cool") -> tuple[str, str]:
    """A request assigned to and accepted by the cast's provider: (number, work order number)."""
    number = (await new_request(cast, summary))["number"]
    await cast.dispatcher.post(f"/work-events/{number}/publish")
    wo = (await cast.dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id}))[
        "work_order_number"
    ]
    await cast.provider.post(f"/work-orders/{wo}/accept")
    return number, wo


async def upload(
    user: User,
    number: str,
    content: bytes,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
    size: int | None = None,
    kind: str = "photo",
) -> dict:
    """Announce, PUT straight to S3 through the presigned URL, and return the creation answer (not completed)."""
    created = await user.post(
        f"/requests/{number}/attachments",
        {"filename": filename, "content_type": content_type, "size_bytes": size or len(content), "kind": kind},
        expect=201,
    )
    target = created["upload"]
    async with httpx.AsyncClient(timeout=60) as s3:
        put = await s3.put(target["url"], content=content, headers=target["headers"])
    assert put.status_code == 200, put.text
    return created


async def part_stream_async(part_number: int, length: int, chunk: int = 1024 * 1024):
    """A multipart part's bytes generated as they are sent (never the whole file in memory): a PDF header at
    the very start of part 1, zeros after."""
    sent = 0
    while sent < length:
        size = min(chunk, length - sent)
        block = bytearray(size)
        if part_number == 1 and sent == 0:
            block[: len(PDF_BYTES)] = PDF_BYTES
        sent += size
        yield bytes(block)


async def put_parts(plan: dict, size: int) -> list[dict]:
    """Stream a generated file of `size` bytes to S3 through a multipart plan's presigned part URLs; returns the
    parts with their etags, as `complete` takes them."""
    etags = []
    async with httpx.AsyncClient(timeout=600) as s3:
        for part in plan["parts"]:
            length = min(plan["part_size"], size - (part["part_number"] - 1) * plan["part_size"])
            put = await s3.put(
                part["url"],
                content=part_stream_async(part["part_number"], length),
                headers={"Content-Length": str(length)},
            )
            assert put.status_code == 200, put.text
            etags.append({"part_number": part["part_number"], "etag": put.headers["etag"]})
    return etags


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def service_rss(stack) -> dict[str, int]:
    """Resident memory (KiB) of each service process of a running stack."""
    return {name: rss_kib(stack.stack.processes[name].popen.pid) for name in SERVICES}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


__all__ = [
    "PDF_BYTES",
    "PNG_BYTES",
    "read_mail",
    "wait_mail",
    "link_token",
    "query_of",
    "new_request",
    "accepted_request",
    "upload",
    "part_stream_async",
    "put_parts",
    "service_rss",
    "unique",
]
