"""Delivery: every recipient of an event gets one feed entry and one email, however often it is retried.

Each email has a ledger row keyed by its deterministic Message-ID. An attempt claims the row before it talks to
SMTP and marks it `sent` after; a later attempt skips a sent message. A claim held by an attempt that may still be
running (a timed-out activity is not cancelled at once) makes the next attempt wait and retry instead of sending a
second copy; a send that failed releases its claim at once, and a claim older than the lease (the attempt died)
may be taken over. Only a process killed between SMTP's acceptance and the ledger's `sent` can cause a repeat,
and that repeat carries the same Message-ID, so mail clients show it once.

What each person reads comes with the event: a recipient's own words when intake gave it some (a customer's),
else the event's. Every email ends with the link to its page in the portal (`FIELDOPS_PUBLIC_URL`)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from temporalio.exceptions import ApplicationError

from services.notifications.models import Email, Notification
from shared import mailer
from shared.contracts.models import Deliver, Recipient
from shared.db import utcnow
from shared.settings import Settings

# Longer than the deliver activity's start-to-close timeout (30 s): an attempt that timed out has given up by then.
CLAIM_LEASE = timedelta(seconds=60)


def message_id(key: str, user_id: int) -> str:
    """Deterministic: the same event to the same person always has the same Message-ID."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).hexdigest()[:32]
    return f"<{digest}.{user_id}@fieldops>"


def busy(mid: str) -> ApplicationError:
    # Retryable: the workflow's retry policy brings the activity back once the other attempt has finished.
    return ApplicationError(f"message {mid} is being sent by another attempt", type="StillSending")


def words_for(inp: Deliver, recipient: Recipient) -> tuple[str, str]:
    """(subject, body) this recipient reads: its own words if intake gave it some (a customer's), else the event's."""
    return recipient.subject or inp.subject, recipient.body or inp.body


def portal_link(settings: Settings, inp: Deliver, recipient: Recipient) -> str | None:
    """The page of the portal an email points to: the one intake named, or the request's page."""
    path = recipient.path or (f"/requests/{inp.request_number}" if inp.request_number else None)
    return f"{settings.portal_url.rstrip('/')}{path}" if path else None


def email_text(settings: Settings, inp: Deliver, recipient: Recipient) -> str:
    body = words_for(inp, recipient)[1]
    link = portal_link(settings, inp, recipient)
    return f"{body}\n\nOpen it in the portal:\n{link}\n" if link else body


async def add_to_feed(db, inp: Deliver, recipient: Recipient) -> None:
    """The recipient's feed entry, in the caller's transaction (committed with the email's claim)."""
    subject, body = words_for(inp, recipient)
    try:
        async with db.begin_nested():
            db.add(
                Notification(
                    key=f"{inp.key}:{recipient.user_id}",
                    user_id=recipient.user_id,
                    request_number=inp.request_number,
                    subject=subject,
                    body=body,
                )
            )
    except IntegrityError:
        pass  # written by an earlier attempt


async def claim(db, inp: Deliver, mid: str, recipient: Recipient, subject: str) -> bool:
    """Take the right to send `mid`; False when it was sent already. Raises `busy` while another attempt holds it.
    A claim writes the recipient's feed entry in the same commit (once: a later one finds it written)."""
    now = utcnow()
    email = await db.get(Email, mid)
    if email is None:
        await add_to_feed(db, inp, recipient)
        db.add(Email(message_id=mid, recipient=recipient.email, subject=subject, attempts=1, claimed_at=now))
        try:
            await db.commit()
        except IntegrityError as exc:
            await db.rollback()
            raise busy(mid) from exc
        return True
    if email.status == "sent":
        return False
    taken = await db.execute(
        update(Email)
        .where(
            Email.message_id == mid,
            Email.status != "sent",
            or_(Email.claimed_at.is_(None), Email.claimed_at < now - CLAIM_LEASE),
        )
        .values(claimed_at=now, attempts=Email.attempts + 1)
    )
    if taken.rowcount != 1:
        await db.rollback()
        raise busy(mid)
    await add_to_feed(db, inp, recipient)  # a no-op when the first claim wrote it
    await db.commit()
    return True


async def deliver(db, settings: Settings, inp: Deliver) -> int:
    """Feed entries and emails for every recipient of one event, over one SMTP connection; the number of emails
    this attempt sent."""
    sent = 0
    async with mailer.Connection(settings) as smtp:
        for recipient in inp.recipients:
            mid = message_id(inp.key, recipient.user_id)
            subject = words_for(inp, recipient)[0]
            if not await claim(db, inp, mid, recipient, subject):
                continue
            try:
                await smtp.send(
                    mailer.build_message(settings, recipient.email, subject, email_text(settings, inp, recipient), mid)
                )
            except BaseException:
                await db.execute(update(Email).where(Email.message_id == mid).values(claimed_at=None))
                await db.commit()
                raise
            await db.execute(update(Email).where(Email.message_id == mid).values(status="sent", sent_at=utcnow()))
            await db.commit()
            sent += 1
    return sent


async def unread_count(db, user_id: int) -> int:
    return (
        await db.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
    ).scalar_one()
