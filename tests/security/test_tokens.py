"""Every service checks every call itself: the token's signature, expiry, issuer and audience, and that its user
is still active and of the token's role. Asked directly at each service's port, not through the gateway."""

from __future__ import annotations

import jwt

from shared.auth import ALGORITHM
from tests.security.support import SIGNED_IN_ROUTE, direct, statuses

ALL_401 = dict.fromkeys(SIGNED_IN_ROUTE, 401)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def signed(stack, claims: dict) -> str:
    return jwt.encode(claims, stack.settings.secret_key, algorithm=ALGORITHM)


async def test_a_deactivated_users_token_is_refused_by_every_service_at_once(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    before = await statuses(stack, user.token)
    assert 401 not in before.values(), before
    await admin.post(f"/users/{user.id}/deactivate", expect=204)
    after = await statuses(stack, user.token)
    assert after == ALL_401, after
    for service, path in SIGNED_IN_ROUTE.items():
        response = await direct(stack, service, "GET", path, headers=user.headers)
        assert response.json() == {"detail": "this account is deactivated or the token was revoked"}, service


async def test_a_token_claiming_another_role_than_its_users_is_refused(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    promoted = signed(stack, {**claims_of(user.token), "role": "admin"})
    assert await statuses(stack, promoted) == ALL_401
    assert 401 not in (await statuses(stack, signed(stack, claims_of(user.token)))).values()


async def test_tokens_carry_their_issuer_and_audience_and_others_are_refused(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    claims = claims_of(user.token)
    assert (claims["iss"], claims["aud"]) == (stack.settings.token_issuer, stack.settings.token_audience)
    refresh = await api.http.post("/auth/token", data={"username": user.email, "password": "correct-horse-battery"})
    assert claims_of(refresh.json()["refresh_token"])["aud"] == stack.settings.token_audience
    without_iss = {k: v for k, v in claims.items() if k != "iss"}
    without_aud = {k: v for k, v in claims.items() if k != "aud"}
    for forged in (
        {**claims, "iss": "someone-else"},
        {**claims, "aud": "another-api"},
        without_iss,
        without_aud,
        {**claims, "aud": ["another-api"]},
    ):
        assert await statuses(stack, signed(stack, forged)) == ALL_401, forged
    # The same claims, as issued, are honoured: only the issuer and audience made the difference.
    assert 401 not in (await statuses(stack, signed(stack, claims))).values()
    # A refresh token for another audience does not refresh either.
    other = signed(stack, {**claims_of(refresh.json()["refresh_token"]), "aud": "another-api"})
    assert (await api.http.post("/auth/refresh", json={"refresh_token": other})).status_code == 401


async def test_no_library_error_text_reaches_a_response(stack, api, admin):
    user = await api.make_user(admin, "dispatcher")
    claims = claims_of(user.token)
    bad_tokens = [
        "x",
        "a.b.c",
        user.token[:-4] + "AAAA",
        jwt.encode(claims, "another-secret-entirely-0123456789abcdef"),
        signed(stack, {**claims, "exp": 1}),
        signed(stack, {**claims, "sub": "not-a-number"}),
        signed(stack, {**claims, "aud": 5}),
        jwt.encode(claims, "k" * 64, algorithm="HS512"),
        "eyJhbGciOiJub25lIn0." + user.token.split(".")[1] + ".",
    ]
    ours = {"invalid or expired token", "not authenticated"}
    for token in bad_tokens:
        for service, path in SIGNED_IN_ROUTE.items():
            response = await direct(stack, service, "GET", path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (service, token, response.text)
            assert response.json()["detail"] in ours, (service, token, response.text)
    # The token check other services ask answers the same words, never PyJWT's.
    for token in bad_tokens:
        response = await direct(
            stack,
            "intake",
            "GET",
            "/internal/auth/check",
            headers={"Authorization": f"Bearer {token}", "X-Fieldops-Service": stack.settings.internal_token},
        )
        assert response.status_code == 401 and response.json()["detail"] in ours, response.text
