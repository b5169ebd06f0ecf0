"""Helpers of the portal's browser tests."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

LINK = re.compile(r"https?://[^\s\"<>]+")


async def mail_addresses(user) -> set[str]:
    """Where a user's emails go: the sign-in address and the profile's notification address."""
    me = await user.get("/me")
    return {a for a in (me["email"], me.get("notification_email")) if a}


async def latest_mail_link(stack, user, contains: str) -> str | None:
    """The newest link containing `contains` in an email to `user` (its notification address or its email)."""
    addresses = await mail_addresses(user)
    newest: tuple[float, str] | None = None
    for path in stack.mail_dir.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if not addresses & {a.strip() for a in str(message.get("To", "")).split(",")} and not any(
            a in str(message.get("To", "")) for a in addresses
        ):
            continue
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body else ""
        for link in LINK.findall(text):
            if contains in link and (newest is None or path.stat().st_mtime > newest[0]):
                newest = (path.stat().st_mtime, link)
    return newest[1] if newest else None
