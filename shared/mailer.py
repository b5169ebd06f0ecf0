"""Outgoing email over SMTP (aiosmtplib). The Message-ID is given by the caller, so a message re-sent after a
retry carries the same id and can be recognised as the same message."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from shared.db import utcnow
from shared.settings import Settings


def build_message(settings: Settings, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(utcnow())
    message.set_content(body)
    return message


async def send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port_effective, timeout=20)
