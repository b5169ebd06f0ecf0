"""Passwords (argon2) and bearer tokens (JWT) shared by every service.

Every service checks every call itself (`CurrentUser`): the token's signature, expiry, issuer and audience, then
whether its user is still active, of the same role and token version. Intake answers that from its own users
table; the other services ask intake (`/internal/auth/check`, with the service credential), never from a cache,
so a deactivation bites at once everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ValidationError

from shared.contracts.enums import Role
from shared.contracts.models import Actor
from shared.internal import CLIENT_HEADER, CREDENTIAL_HEADER, is_service, token_is_current
from shared.settings import get_settings

ALGORITHM = "HS256"
REFRESH = "refresh"
_hasher = PasswordHasher()
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
REVOKED = "this account is deactivated or the token was revoked"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class Principal(BaseModel):
    user_id: int
    role: Role
    email: str
    name: str
    customer_id: int | None = None
    provider_id: int | None = None
    org_admin: bool = False
    token_version: int = 0

    def actor(self) -> Actor:
        return Actor(
            user_id=self.user_id,
            role=self.role,
            name=self.name or self.email,
            customer_id=self.customer_id,
            provider_id=self.provider_id,
        )

    def has(self, *roles: Role) -> bool:
        return self.role in roles


def issue_token(p: Principal) -> tuple[str, int]:
    settings = get_settings()
    ttl = int(settings.token_ttl.total_seconds())
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": str(p.user_id),
        "iat": now,
        "exp": now + ttl,
        **_addressed(settings),
        **p.model_dump(exclude={"user_id"}, mode="json"),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), ttl


def _addressed(settings) -> dict:
    return {"iss": settings.token_issuer, "aud": settings.token_audience}


def issue_refresh_token(p: Principal, session_started: int | None = None) -> tuple[str, int]:
    """A refresh token for the portal's session: it carries only who and which token version, and it expires a
    working day (`session_ttl`) after sign-in however often it is used, so a session never outlives the day."""
    settings = get_settings()
    now = int(datetime.now(UTC).timestamp())
    started = session_started or now
    expires = started + int(settings.session_ttl.total_seconds())
    claims = {
        "sub": str(p.user_id),
        "typ": REFRESH,
        "iat": now,
        "sid": started,
        "exp": expires,
        "token_version": p.token_version,
        **_addressed(settings),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), expires - now


def _claims(token: str) -> dict:
    try:
        settings = get_settings()
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
        if not 0 < int(claims["sub"]) < 2**31:  # a user id, as the users table holds it
            raise ValueError("sub out of range")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from exc
    return claims


def decode_token(token: str) -> Principal:
    claims = _claims(token)
    if claims.get("typ") == REFRESH:  # a refresh token opens nothing but /auth/refresh
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return Principal(user_id=int(claims["sub"]), **{k: v for k, v in claims.items() if k in Principal.model_fields})
    except ValidationError as exc:  # signed, but its claims are not ours (an unknown role, say)
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from exc


def decode_refresh_token(token: str) -> dict:
    claims = _claims(token)
    if claims.get("typ") != REFRESH:
        raise HTTPException(401, "not a refresh token", headers={"WWW-Authenticate": "Bearer"})
    return claims


# Whether the token's user is still active, of the token's role and token version. Intake registers one that reads
# its users table (app.state.is_current); every other service asks intake.
IsCurrent = Callable[[Request, Principal, str], Awaitable[bool]]


async def ask_intake(request: Request, principal: Principal, token: str) -> bool:
    return await token_is_current(get_settings(), token)


async def current_principal(request: Request, token: Annotated[str | None, Depends(bearer)]) -> Principal:
    """The one dependency behind every authenticated route of every service."""
    if not token:
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    principal = decode_token(token)
    is_current: IsCurrent = getattr(request.app.state, "is_current", ask_intake)
    if not await is_current(request, principal, token):
        raise HTTPException(401, REVOKED, headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def need(user: Principal, *roles: Role) -> None:
    """403 for a role that may never act here (an object it may not see is a 404, decided by the caller)."""
    if user.role not in roles:
        raise HTTPException(403, f"this action needs one of the roles: {', '.join(r.value for r in roles)}")


def client_ip(request: Request) -> str:
    """The caller's address: the portal's word for the person it signs in (with the service credential), else the
    gateway's X-Forwarded-For (it replaces whatever a client sent), else the connection's own address."""
    on_behalf = request.headers.get(CLIENT_HEADER)
    if on_behalf and is_service(request.headers.get(CREDENTIAL_HEADER)):
        return on_behalf.strip()
    forwarded = request.headers.get("x-forwarded-for")
    return forwarded.split(",")[0].strip() if forwarded else (request.client.host if request.client else "")
