"""Delivery: every recipient of an event gets one feed entry and one email, however often it is retried.

Each email has a ledger row keyed by its deterministic Message-ID. An attempt claims the event's rows (and writes
their feed entries) in one commit before it talks to SMTP, and marks each `sent` once SMTP took it; a later attempt
skips a sent message. A claim held by an attempt that may still be running (a timed-out activity is not cancelled
at once) makes the next attempt wait and retry instead of sending a second copy; a send that failed releases the
claims it had not used at once, and a claim older than the lease (the attempt died) may be taken over. Only a
process killed between SMTP's acceptance and the ledger's `sent` can cause a repeat, and that repeat carries the
same Message-ID, so mail clients show it once.

What each person reads comes with the event: a recipient's own words when intake gave it some (a customer's),
else the event's. Every email ends with the link to its page in the portal (`FIELDOPS_PUBLIC_URL`)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
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


def insert_ignoring_duplicates(db, table):
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect (SQLite or PostgreSQL)."""
    dialect = db.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()


async def add_to_feed(db, inp: Deliver, recipients: list[Recipient]) -> None:
    """The recipients' feed entries, in the caller's transaction (committed with the emails' claims); one an
    earlier attempt wrote stays as it is."""
    rows = []
    for recipient in recipients:
        subject, body = words_for(inp, recipient)
        rows.append(
            {
                "key": f"{inp.key}:{recipient.user_id}",
                "user_id": recipient.user_id,
                "request_number": inp.request_number,
                "subject": subject,
                "body": body,
                "created_at": utcnow(),
            }
        )
    if rows:
        await db.execute(insert_ignoring_duplicates(db, Notification), rows)


async def claim(db, inp: Deliver) -> list[tuple[Recipient, str]]:
    """Take the right to send each recipient's email, in one commit with their feed entries: (recipient,
    Message-ID) for each this attempt must send, those sent already left out. Raises `busy`, taking none, while
    another attempt holds any of them."""
    now = utcnow()
    wanted = {message_id(inp.key, r.user_id): r for r in inp.recipients}
    known = {e.message_id: e for e in (await db.execute(select(Email).where(Email.message_id.in_(wanted)))).scalars()}
    claimed: list[tuple[Recipient, str]] = []
    for mid, recipient in wanted.items():
        email = known.get(mid)
        if email is None:
            db.add(
                Email(
                    message_id=mid,
                    recipient=recipient.email,
                    subject=words_for(inp, recipient)[0],
                    attempts=1,
                    claimed_at=now,
                )
            )
        elif email.status == "sent":
            continue
        else:
            taken = await db.execute(
                update(Email)
                .where(
                    Email.message_id == mid,
                    Email.status != "sent",
                    or_(Email.claimed_at.is_(None), Email.claimed_at < now - CLAIM_LEASE),
                )
                .values(claimed_at=now, attempts=Email.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                await db.rollback()
                raise busy(mid)
        claimed.append((recipient, mid))
    await add_to_feed(db, inp, [r for r, _ in claimed])  # those sent already have theirs
    try:
        await db.commit()
    except IntegrityError as exc:  # another attempt claimed a new one between our read and our write
        await db.rollback()
        raise busy(next(iter(wanted))) from exc
    return claimed


async def deliver(db, settings: Settings, inp: Deliver) -> int:
    """Feed entries and emails for every recipient of one event, claimed in one commit and sent over one SMTP
    connection, each marked sent as soon as SMTP took it; the number of emails this attempt sent."""
    claimed = await claim(db, inp)
    sent = 0
    async with mailer.Connection(settings) as smtp:
        for recipient, mid in claimed:
            subject = words_for(inp, recipient)[0]
            try:
                await smtp.send(
                    mailer.build_message(settings, recipient.email, subject, email_text(settings, inp, recipient), mid)
                )
            except BaseException:
                # This one and the rest are free again at once: the next attempt need not wait out the lease.
                unsent = [m for _, m in claimed[sent:]]
                await db.execute(update(Email).where(Email.message_id.in_(unsent)).values(claimed_at=None))
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
