"""Outgoing email over SMTP (aiosmtplib). The Message-ID is given by the caller, so a message re-sent after a
retry carries the same id and can be recognised as the same message."""

from __future__ import annotations

import functools
import socket
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType

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
    """One message over a connection of its own."""
    async with Connection(settings) as smtp:
        await smtp.send(message)


@functools.cache
def local_hostname() -> str:
    """The name this host gives in EHLO, looked up once per process: aiosmtplib otherwise asks socket.getfqdn() on a
    worker thread at every connection (a lookup and a thread hand-off per event delivered)."""
    return socket.getfqdn()


class Connection:
    """One SMTP connection for a batch of messages (an event's recipients), opened at the first message sent (a
    batch whose messages all went out before sends none) and closed when the batch ends: one greeting and one
    goodbye per batch rather than per message."""

    def __init__(self, settings: Settings) -> None:
        self.hostname = settings.smtp_host
        self.port = settings.smtp_port_effective
        self._smtp: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            smtp = aiosmtplib.SMTP(hostname=self.hostname, port=self.port, timeout=20, local_hostname=local_hostname())
            await smtp.connect()
            self._smtp = smtp
        await self._smtp.send_message(message)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            smtp.close()  # the messages are in (or their failure is being raised): a failed goodbye changes nothing
