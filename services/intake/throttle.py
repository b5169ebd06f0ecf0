"""Sign-in throttling: it slows an attacker down and never locks the rightful owner out.

- Per client address, a lock: ADDRESS_LIMIT wrong passwords from one address within WINDOW, and that address is
  answered 429 (with Retry-After) for every account until the oldest of them leaves the window.
- Per account, an exponential delay, never a lock: from the FREE_FAILURES-th wrong password within WINDOW on, every
  attempt for the account (the right password too) is answered only after 1, 2, 4 ... seconds, at most MAX_DELAY.
  The owner signing in from another address waits at most that long, and gets in.

Failures are rows of `sign_in_failures`, keyed `account:<email>` or `address:<ip>`, so one never passes for the other.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

from fastapi import HTTPException
from sqlalchemy import delete, func, select

from services.intake.models import SignInFailure
from shared.db import utcnow

WINDOW = timedelta(minutes=15)
ADDRESS_LIMIT = 20
FREE_FAILURES = 3
MAX_DELAY = 8.0
KEY_LENGTH = 320  # the column's


def account_key(email: str) -> str:
    return f"account:{email}"[:KEY_LENGTH]


def address_key(address: str) -> str:
    return f"address:{address}"[:KEY_LENGTH]


def account_delay(failures: int) -> float:
    """Seconds an attempt on an account waits after this many recent wrong passwords."""
    return 0.0 if failures < FREE_FAILURES else min(MAX_DELAY, 2.0 ** (failures - FREE_FAILURES))


async def _recent(db, key: str):
    """How many failures under `key` lie within the window, and when the oldest of them was."""
    since = utcnow() - WINDOW
    return (
        await db.execute(
            select(func.count(), func.min(SignInFailure.at)).where(
                SignInFailure.email == key, SignInFailure.at >= since
            )
        )
    ).one()


async def admit(db, email: str, address: str | None) -> None:
    """Before a password is checked: a 429 for a locked address, then the account's delay waited out. A signed-in
    user confirming its password has no address here (the portal's own address would stand for all its users)."""
    count, oldest = await _recent(db, address_key(address)) if address is not None else (0, None)
    if count >= ADDRESS_LIMIT and oldest is not None:  # the count has an oldest failure
        retry = max(1, math.ceil((oldest + WINDOW - utcnow()).total_seconds()))
        raise HTTPException(429, "too many failed sign-ins; try again later", headers={"Retry-After": str(retry)})
    failures, _ = await _recent(db, account_key(email))
    if delay := account_delay(failures):
        await db.commit()  # no transaction held open while waiting
        await asyncio.sleep(delay)


async def record_failure(db, email: str, address: str | None) -> None:
    keys = [account_key(email)] + ([address_key(address)] if address is not None else [])
    # Failures older than the window count for nothing: they go as new ones come.
    await db.execute(delete(SignInFailure).where(SignInFailure.email.in_(keys), SignInFailure.at < utcnow() - WINDOW))
    db.add_all([SignInFailure(email=key) for key in keys])
    await db.commit()


async def clear_account(db, email: str) -> None:
    """A right password (or a new one) clears the account's count; an address's count runs out with the window."""
    await db.execute(delete(SignInFailure).where(SignInFailure.email == account_key(email)))
