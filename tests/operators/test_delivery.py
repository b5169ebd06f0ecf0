"""Each message is sent once even when the deliver activity is retried: the service function run again and again
with the same key, against a real SMTP server (aiosmtpd) and a real database migrated by Alembic."""

from __future__ import annotations

import email
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtplib import SMTPConnectError
from sqlalchemy import func, select, update
from temporalio.exceptions import ApplicationError

from services.notifications.models import Email, Notification
from services.notifications.service import CLAIM_LEASE, deliver, message_id
from shared.contracts.models import Deliver, Recipient
from shared.db import Database, utcnow
from shared.migrations import upgrade
from shared.settings import Settings

EVENT = Deliver(
    key="SR-000042:7",
    request_number="SR-000042",
    subject="SR-000042 was completed",
    body="Service request SR-000042 is now completed.",
    recipients=[
        Recipient(user_id=11, email="contact@customer.example", name="Contact"),
        Recipient(user_id=12, email="dispatch@ops.example", name="Dispatch"),
    ],
)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.peers: list[tuple] = []  # the client's address per message: one per SMTP connection

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        self.peers.append(session.peer)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def ledger(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    upgrade("notifications", url)
    db = Database(url)
    yield db
    await db.dispose()


@pytest.fixture
def smtp():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    yield inbox, controller, Settings(smtp_host="127.0.0.1", smtp_port=port)
    if getattr(controller, "_thread", None) is not None:
        controller.stop()


async def attempt(db: Database, settings: Settings) -> int:
    """One activity attempt: its own session, as the activity opens one."""
    async with db.sessions() as session:
        return await deliver(session, settings, EVENT)


async def test_retries_send_each_message_once_with_a_stable_message_id(ledger, smtp):
    inbox, controller, settings = smtp
    # The first attempt finds the mail server down and fails, as an activity attempt would.
    with pytest.raises(SMTPConnectError):
        await attempt(ledger, settings)
    controller.start()
    assert await attempt(ledger, settings) == 2  # the retry sends both
    assert len(inbox.peers) == 2 and len(set(inbox.peers)) == 1  # over one connection
    assert await attempt(ledger, settings) == 0  # and any later retry sends nothing
    assert await attempt(ledger, settings) == 0

    assert sorted(m["To"] for m in inbox.messages) == ["contact@customer.example", "dispatch@ops.example"]
    ids = {m["To"]: m["Message-ID"] for m in inbox.messages}
    assert ids == {
        "contact@customer.example": message_id(EVENT.key, 11),
        "dispatch@ops.example": message_id(EVENT.key, 12),
    }
    assert message_id(EVENT.key, 11) == message_id("SR-000042:7", 11) != message_id("SR-000042:8", 11)
    assert all(m["Subject"] == EVENT.subject for m in inbox.messages)
    async with ledger.sessions() as session:
        feed = (await session.execute(select(Notification.user_id).order_by(Notification.user_id))).scalars().all()
        assert feed == [11, 12]  # one feed entry each, however many attempts
        rows = (await session.execute(select(Email).order_by(Email.recipient))).scalars().all()
        # The failed attempt claimed both, failed at the first and let both go at once (the retry took both
        # without waiting out the lease): two attempts each, one message each.
        assert [(r.recipient, r.status, r.attempts) for r in rows] == [
            ("contact@customer.example", "sent", 2),
            ("dispatch@ops.example", "sent", 2),
        ]


async def test_an_attempt_still_sending_is_not_doubled(ledger, smtp):
    inbox, controller, settings = smtp
    controller.start()
    # An earlier attempt claimed the first message and is still talking to SMTP (say its activity timed out).
    async with ledger.sessions() as session:
        session.add(
            Email(
                message_id=message_id(EVENT.key, 11),
                recipient="contact@customer.example",
                subject=EVENT.subject,
                attempts=1,
                claimed_at=utcnow(),
            )
        )
        await session.commit()
    with pytest.raises(ApplicationError) as refused:
        await attempt(ledger, settings)
    assert refused.value.type == "StillSending" and not refused.value.non_retryable
    assert inbox.messages == []  # the retry waits rather than sending a second copy
    # That attempt died without sending: once its claim is older than the lease, a retry takes over, once.
    async with ledger.sessions() as session:
        await session.execute(update(Email).values(claimed_at=utcnow() - CLAIM_LEASE - timedelta(seconds=1)))
        await session.commit()
    assert await attempt(ledger, settings) == 2
    assert await attempt(ledger, settings) == 0
    assert sorted(m["To"] for m in inbox.messages) == ["contact@customer.example", "dispatch@ops.example"]
    async with ledger.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Notification))).scalar_one() == 2


async def test_each_reads_its_own_words_with_a_link_into_the_portal(ledger, smtp):
    inbox, controller, settings = smtp
    controller.start()
    settings = settings.model_copy(update={"public_url": "https://portal.example"})
    own = Deliver(
        key="SR-000043:3",
        request_number="SR-000043",
        subject="Request SR-000043 was completed",
        body="Status: Completed.",
        recipients=[
            Recipient(
                user_id=21,
                email="contact@customer.example",
                subject="Your request SR-000043 is now completed",
                body="Your request SR-000043 is now completed.",
                path="/requests/SR-000043/recommendations/9",
            ),
            Recipient(user_id=22, email="dispatch@ops.example"),
        ],
    )
    async with ledger.sessions() as session:
        assert await deliver(session, settings, own) == 2
    mail = {m["To"]: m for m in inbox.messages}
    customer, dispatcher = mail["contact@customer.example"], mail["dispatch@ops.example"]
    text = {to: m.get_payload(decode=True).decode().replace("\r\n", "\n") for to, m in mail.items()}
    assert customer["Subject"] == "Your request SR-000043 is now completed"
    assert text["contact@customer.example"] == (
        "Your request SR-000043 is now completed.\n\nOpen it in the portal:\n"
        "https://portal.example/requests/SR-000043/recommendations/9\n"
    )
    assert dispatcher["Subject"] == own.subject
    assert text["dispatch@ops.example"].endswith("\nhttps://portal.example/requests/SR-000043\n")
    async with ledger.sessions() as session:
        feed = {n.user_id: (n.subject, n.body) for n in (await session.execute(select(Notification))).scalars()}
    assert feed == {
        21: ("Your request SR-000043 is now completed", "Your request SR-000043 is now completed."),
        22: (own.subject, own.body),
    }
