"""Accounts: sign-in, users, profiles, password reset, and organisation admins' account requests."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import or_, select, update

from services.intake import throttle
from services.intake.models import AccountRequest, Customer, PasswordReset, User
from services.intake.schemas import (
    AccountRequestIn,
    AccountRequestOut,
    AccountRequestPage,
    DecisionIn,
    PasswordChangeIn,
    PasswordResetConfirm,
    PasswordResetIn,
    ProfilePatch,
    RefreshIn,
    ResetRequested,
    TokenOut,
    UserIn,
    UserOut,
    UserPage,
)
from services.intake.service import create_user, idempotency, like_pattern, token_pair
from shared import mailer
from shared.auth import CurrentUser, Principal, client_ip, decode_refresh_token, hash_password, need, verify_password
from shared.contracts.enums import Role
from shared.db import utcnow
from shared.http import Cursor, Id, Limit, errors, id_page
from shared.idempotency import IdempotencyKey
from shared.internal import internal_get
from shared.service_app import SessionDep, StateDep

router = APIRouter(prefix="/api/v1")

RESET_VALID = timedelta(hours=1)
INVITATION_VALID = timedelta(days=3)
# Verified when the address is unknown, so a wrong address costs as long as a wrong password (no enumeration).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={
        401: {"description": "wrong email or password"},
        429: {"description": "too many failed sign-ins from this client address; see Retry-After"},
    },
)
async def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, db: SessionDep) -> TokenOut:
    email, address = form.username.strip().lower(), client_ip(request)
    await throttle.admit(db, email, address)
    user = (await db.execute(select(User).where(User.email == email))).scalar_one_or_none()
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, form.password)
    if user is None or not user.active or not valid:
        await throttle.record_failure(db, email, address)
        raise HTTPException(401, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    await throttle.clear_account(db, email)
    await db.commit()
    return token_pair(user)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    tags=["auth"],
    responses={401: {"description": "the refresh token expired, or the user was deactivated"}},
)
async def refresh(body: RefreshIn, db: SessionDep) -> TokenOut:
    """Trade a refresh token for a new access token (one hour) and refresh token. The session still ends a
    working day (`FIELDOPS_SESSION_TTL`) after sign-in, and at once when the user is deactivated."""
    claims = decode_refresh_token(body.refresh_token)
    user = await db.get(User, int(claims["sub"]))
    if user is None or not user.active or user.token_version != claims.get("token_version"):
        raise HTTPException(
            401, "this account is deactivated or the session was revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return token_pair(user, session_started=int(claims["sid"]))


async def check_provider_exists(state, provider_id: int) -> bool:
    return await internal_get(state.settings, "routing", f"providers/{provider_id}") is not None


@router.post("/users", status_code=201, response_model=UserOut, tags=["accounts"], responses=errors(403, 409))
async def post_user(body: UserIn, user: CurrentUser, db: SessionDep, state: StateDep) -> User:
    need(user, Role.admin)
    if body.role == Role.customer:
        if body.customer_id is None or await db.get(Customer, body.customer_id) is None:
            raise HTTPException(422, "a customer user needs the customer_id of an existing customer")
    elif body.customer_id is not None:
        raise HTTPException(422, "only a customer user belongs to a customer")
    if body.role == Role.provider:
        if body.provider_id is None or not await check_provider_exists(state, body.provider_id):
            raise HTTPException(422, "a provider user needs the provider_id of an existing provider")
    elif body.provider_id is not None:
        raise HTTPException(422, "only a provider user belongs to a provider")
    if body.org_admin and body.role != Role.customer:
        raise HTTPException(422, "org_admin applies to customer users only")
    if (await db.execute(select(User.id).where(User.email == body.email.lower()))).first():
        raise HTTPException(409, "a user with this email already exists")
    created = await create_user(db, body)
    await db.commit()
    return created


@router.get("/users", response_model=UserPage, tags=["accounts"], responses=errors(403))
async def list_users(
    user: CurrentUser,
    db: SessionDep,
    customer_id: Id | None = None,
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Admins see everyone; an organisation admin sees its own organisation's contacts (and nobody else).
    `q` finds users by part of their name or email."""
    query = select(User)
    if q and q.strip():
        pattern = like_pattern(q)
        query = query.where(or_(User.full_name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\")))
    if user.role == Role.customer and user.org_admin:
        query = query.where(User.customer_id == user.customer_id)
    elif user.role == Role.admin:
        if customer_id is not None:
            query = query.where(User.customer_id == customer_id)
    else:
        raise HTTPException(403, "only admins and organisation admins list users")
    if role is not None:
        query = query.where(User.role == role.value)
    return await id_page(db, query, User.id, limit, cursor, UserOut.model_validate)


def lock_out(target: User) -> None:
    target.active = False
    target.token_version += 1  # every token issued so far stops working at once


@router.post("/users/{user_id}/deactivate", status_code=204, tags=["accounts"], responses=errors(403, 404))
async def deactivate(user_id: Id, user: CurrentUser, db: SessionDep) -> Response:
    need(user, Role.admin)
    target = await db.get(User, user_id)
    if target is None:
        raise HTTPException(404, "user not found")
    if target.id == user.user_id:
        raise HTTPException(422, "an admin cannot deactivate its own account")
    lock_out(target)
    await db.commit()
    return Response(status_code=204)


async def own_row(db, user: Principal) -> User:
    """The signed-in user's row (CurrentUser has just found it current in the users table)."""
    me = await db.get(User, user.user_id)
    if me is None:
        raise HTTPException(401, "this account no longer exists")
    return me


@router.get("/me", response_model=UserOut, tags=["accounts"])
async def get_me(user: CurrentUser, db: SessionDep) -> User:
    return await own_row(db, user)


@router.patch("/me", response_model=UserOut, tags=["accounts"])
async def patch_me(body: ProfilePatch, user: CurrentUser, db: SessionDep) -> User:
    me = await own_row(db, user)
    for field, value in body.model_dump(exclude_unset=True).items():
        if field == "full_name" and value is None:
            raise HTTPException(422, "full_name must not be empty")
        setattr(me, field, value)
    await db.commit()
    return me


def field_error(field: str, message: str) -> list[dict]:
    """A 422 detail shaped like a validation error, so a client shows `message` beside `field`."""
    return [{"loc": ["body", field], "msg": message, "type": "value_error"}]


@router.post(
    "/me/password",
    response_model=TokenOut,
    tags=["accounts"],
    responses={
        422: {"description": "the current password is wrong, or the new one is not acceptable"},
        429: {"description": "too many wrong passwords; try again later"},
    },
)
async def change_password(body: PasswordChangeIn, user: CurrentUser, db: SessionDep) -> TokenOut:
    """Change one's own password, giving the current one. Every token issued so far stops working (other
    browsers and devices are signed out); the answer is a fresh token pair for the caller, as at sign-in.
    Wrong current passwords count as failed sign-ins (the same throttling: see `POST /auth/token`)."""
    me = await own_row(db, user)
    await throttle.admit(db, me.email, None)
    if not verify_password(me.password_hash, body.current_password):
        await throttle.record_failure(db, me.email, None)
        raise HTTPException(422, field_error("current_password", "this is not your current password"))
    if body.new_password == body.current_password:
        raise HTTPException(422, field_error("new_password", "the new password must differ from the current one"))
    await throttle.clear_account(db, me.email)
    me.password_hash = hash_password(body.new_password)
    me.token_version += 1
    await db.commit()
    return token_pair(me)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_link(db, settings, user: User, valid: timedelta, subject: str, text: str):
    """Stage a single-use password link for `user` and build its email (to the profile's notification address)."""
    token = secrets.token_urlsafe(32)
    db.add(PasswordReset(token_hash=_token_hash(token), user_id=user.id, expires_at=utcnow() + valid))
    link = f"{settings.portal_url}/reset-password?token={token}"
    return mailer.build_message(
        settings,
        user.notification_email or user.email,
        subject,
        f"{text}\n{link}\n\nIf you did not ask for this, ignore this message.",
        f"<password-reset.{_token_hash(token)[:24]}@fieldops>",
    )


@router.post("/auth/password-reset", status_code=202, response_model=ResetRequested, tags=["auth"])
async def password_reset(body: PasswordResetIn, db: SessionDep, state: StateDep, tasks: BackgroundTasks):
    # The same answer, as fast, whether or not the address exists: the email is sent after the response.
    user = (await db.execute(select(User).where(User.email == body.email.strip().lower()))).scalar_one_or_none()
    if user is not None and user.active:
        message = password_link(
            db,
            state.settings,
            user,
            RESET_VALID,
            "Reset your fieldops password",
            "Open this link within one hour to choose a new password:",
        )
        await db.commit()
        tasks.add_task(mailer.send, state.settings, message)
    return {"detail": "if the address has an account, a reset link is on its way"}


@router.post(
    "/auth/password-reset/confirm",
    status_code=204,
    tags=["auth"],
    responses={
        200: {"model": TokenOut, "description": "with `sign_in: true`: the person is signed in"},
        400: {"description": "the link is invalid, used or expired"},
    },
)
async def password_reset_confirm(body: PasswordResetConfirm, db: SessionDep) -> Response:
    reset = await db.get(PasswordReset, _token_hash(body.token))
    if reset is None or reset.used_at is not None or reset.expires_at < utcnow():
        raise HTTPException(400, "this reset link is invalid, used or expired")
    user = await db.get(User, reset.user_id)
    if user is None or not user.active:
        raise HTTPException(400, "this reset link is invalid, used or expired")
    now = utcnow()
    # This link and every other outstanding link of the user stop working; old tokens are revoked.
    await db.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    await throttle.clear_account(db, user.email)
    user.password_hash = hash_password(body.new_password)
    user.token_version += 1
    await db.commit()
    if body.sign_in:
        return Response(token_pair(user).model_dump_json(), status_code=200, media_type="application/json")
    return Response(status_code=204)


# --- organisation admins' account requests, carried out by an admin ----------------------------------
def need_org_admin(user: Principal) -> None:
    if not (user.role == Role.customer and user.org_admin):
        raise HTTPException(403, "only an organisation admin asks for accounts or deactivations")


@router.post(
    "/account-requests",
    status_code=201,
    response_model=AccountRequestOut,
    tags=["accounts"],
    responses=errors(403, 404, 409),
)
async def create_account_request(body: AccountRequestIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    """An organisation admin asks for a new contact of its own organisation (`action: create` with `email`,
    `full_name`, optional `phone`, `org_admin`) or for one of its contacts to be deactivated (`action: deactivate`
    with `user_id`). An admin carries it out with `POST /account-requests/{id}/approve`."""
    need_org_admin(user)
    if body.action == "create":
        if body.email is None or body.full_name is None:
            raise HTTPException(422, "a new account needs email and full_name")
        if body.user_id is not None:
            raise HTTPException(422, "user_id applies to deactivation requests only")
    else:
        if body.user_id is None:
            raise HTTPException(422, "a deactivation request needs the user_id of one of your contacts")
        target = await db.get(User, body.user_id)
        if target is None or target.customer_id != user.customer_id:
            raise HTTPException(404, "user not found")
        if not target.active:
            raise HTTPException(409, "this account is already deactivated")
        if target.id == user.user_id:
            raise HTTPException(422, "ask another organisation admin or an admin to deactivate your own account")
    where = f"{user.user_id}:account-requests"
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    row = AccountRequest(
        customer_id=user.customer_id,
        action=body.action,
        email=str(body.email).lower() if body.email else None,
        full_name=body.full_name,
        phone=body.phone,
        org_admin=body.org_admin,
        user_id=body.user_id,
        reason=body.reason,
        requested_by=user.user_id,
    )
    return await idempotency.store_created(db, key, where, body, row, AccountRequestOut)


@router.get("/account-requests", response_model=AccountRequestPage, tags=["accounts"], responses=errors(403))
async def list_account_requests(
    user: CurrentUser,
    db: SessionDep,
    status: Literal["pending", "done", "rejected"] | None = None,
    customer_id: Id | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Admins see every organisation's requests (`?status=pending` is their queue); an organisation admin its own."""
    query = select(AccountRequest)
    if user.role == Role.admin:
        if customer_id is not None:
            query = query.where(AccountRequest.customer_id == customer_id)
    else:
        need_org_admin(user)
        query = query.where(AccountRequest.customer_id == user.customer_id)
    if status is not None:
        query = query.where(AccountRequest.status == status)
    return await id_page(db, query, AccountRequest.id, limit, cursor, AccountRequestOut.model_validate)


async def pending_request(db, user: Principal, request_id: int) -> AccountRequest:
    need(user, Role.admin)
    row = await db.get(AccountRequest, request_id)
    if row is None:
        raise HTTPException(404, "account request not found")
    if row.status != "pending":
        raise HTTPException(409, f"this account request is already {row.status}")
    return row


@router.post(
    "/account-requests/{request_id}/approve",
    response_model=AccountRequestOut,
    tags=["accounts"],
    responses=errors(403, 404, 409),
)
async def approve_account_request(
    request_id: Id, body: DecisionIn, user: CurrentUser, db: SessionDep, state: StateDep, tasks: BackgroundTasks
):
    """Admin: carry the request out. A new account gets an email with a single-use link to choose its password
    (valid three days); a deactivation locks the account out at once."""
    row = await pending_request(db, user, request_id)
    message = None
    if row.action == "create":
        if row.email is None or row.full_name is None:
            raise HTTPException(409, "this account request lacks the email or name of the account to create")
        if (await db.execute(select(User.id).where(User.email == row.email))).first():
            raise HTTPException(409, "a user with this email already exists")
        created = await create_user(
            db,
            UserIn(
                email=row.email,
                full_name=row.full_name,
                role=Role.customer,
                password=secrets.token_urlsafe(24),
                customer_id=row.customer_id,
                org_admin=row.org_admin,
                phone=row.phone,
            ),
        )
        row.user_id = created.id
        message = password_link(
            db,
            state.settings,
            created,
            INVITATION_VALID,
            "Your fieldops account",
            "An account was made for you. Open this link within three days to choose your password:",
        )
    else:
        target = await db.get(User, row.user_id)
        if target is None:
            raise HTTPException(409, "the account to deactivate no longer exists")
        lock_out(target)
    row.status, row.decided_by, row.decided_at, row.decision_comment = "done", user.user_id, utcnow(), body.comment
    await db.commit()
    if message is not None:
        tasks.add_task(mailer.send, state.settings, message)
    return row


@router.post(
    "/account-requests/{request_id}/reject",
    response_model=AccountRequestOut,
    tags=["accounts"],
    responses=errors(403, 404, 409),
)
async def reject_account_request(request_id: Id, body: DecisionIn, user: CurrentUser, db: SessionDep):
    """Admin: decline the request, saying why in `comment`."""
    row = await pending_request(db, user, request_id)
    row.status, row.decided_by, row.decided_at, row.decision_comment = "rejected", user.user_id, utcnow(), body.comment
    await db.commit()
    return row
