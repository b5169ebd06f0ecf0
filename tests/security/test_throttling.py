"""Sign-in throttling slows a guesser and never locks the owner out from elsewhere: a delay per account, a lock
per client address. Addresses are told to intake directly, as the gateway does (X-Forwarded-For)."""

from __future__ import annotations

import ipaddress
import sqlite3
import time
import uuid

from services.intake import throttle
from shared import internal
from tests.security.support import direct

PASSWORD = "correct-horse-battery"


def fresh_address() -> str:
    """A client address no other test uses: 24 random bits in 10.0.0.0/8, not one of 250 (which two tests drew
    alike often enough to see one's failures lock the other out)."""
    return str(ipaddress.IPv4Network("10.0.0.0/8")[uuid.uuid4().int & 0xFFFFFF])


def failures(stack, key: str) -> int:
    with sqlite3.connect(stack.stack.data / "db" / "intake.db") as db:
        return db.execute("SELECT count(*) FROM sign_in_failures WHERE email = ?", (key,)).fetchone()[0]


async def sign_in(stack, email: str, password: str, address: str, **headers):
    return await direct(
        stack,
        "intake",
        "POST",
        "/api/v1/auth/token",
        data={"username": email, "password": password},
        headers={"X-Forwarded-For": address, **headers},
    )


async def test_wrong_passwords_slow_an_account_down_but_its_owner_still_signs_in_elsewhere(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    attacker = fresh_address()
    for _ in range(throttle.FREE_FAILURES):
        assert (await sign_in(stack, user.email, "not-my-password", attacker)).status_code == 401
    started = time.monotonic()
    owner = await sign_in(stack, user.email, PASSWORD, fresh_address())
    waited = time.monotonic() - started
    assert owner.status_code == 200, owner.text
    assert waited >= throttle.account_delay(throttle.FREE_FAILURES) == 1.0
    # The right password cleared the account's count (the next sign-in waits for nothing), not the address's.
    assert failures(stack, throttle.account_key(user.email)) == 0
    assert failures(stack, throttle.address_key(attacker)) == throttle.FREE_FAILURES
    # The delay doubles with each further failure, up to a ceiling: never a lock.
    delays = [throttle.account_delay(n) for n in range(throttle.FREE_FAILURES + 6)]
    assert delays[: throttle.FREE_FAILURES] == [0] * throttle.FREE_FAILURES
    assert delays[throttle.FREE_FAILURES :] == [1, 2, 4, 8, 8, 8] and throttle.MAX_DELAY == 8


async def test_an_address_guessing_too_often_is_locked_and_no_other(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    guesser = fresh_address()
    for _ in range(throttle.ADDRESS_LIMIT):  # spread over accounts: no account delay, only the address counts
        wrong = await sign_in(stack, f"ghost-{uuid.uuid4().hex[:8]}@example.com", "whatever-pw", guesser)
        # An unknown address is the same 401 as a wrong password: no way to learn which addresses have accounts.
        assert wrong.status_code == 401 and wrong.json() == {"detail": "wrong email or password"}
    locked = await sign_in(stack, user.email, PASSWORD, guesser)
    assert locked.status_code == 429 and locked.json() == {"detail": "too many failed sign-ins; try again later"}
    assert 0 < int(locked.headers["Retry-After"]) <= throttle.WINDOW.total_seconds()
    # Naming another address does not help without the service credential...
    claimed = await sign_in(stack, user.email, PASSWORD, guesser, **{internal.CLIENT_HEADER: "192.0.2.9"})
    assert claimed.status_code == 429
    # ...while the portal, credentialed, speaks for its visitor, and the owner elsewhere signs in as ever.
    portal = internal.on_behalf_of(stack.settings, "192.0.2.10")
    assert (await sign_in(stack, user.email, PASSWORD, guesser, **portal)).status_code == 200
    assert (await sign_in(stack, user.email, PASSWORD, "192.0.2.11")).status_code == 200
