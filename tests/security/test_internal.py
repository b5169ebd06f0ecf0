"""`/internal` routes answer only a caller with the service credential; services reach them with one pooled client."""

from __future__ import annotations

import asyncio

import pytest

from shared import effects, internal
from shared.contracts import names
from tests.security.support import direct

INTERNAL_ROUTES = [
    ("intake", "/internal/auth/check"),
    ("intake", "/internal/requests/SR-000001"),
    ("intake", "/internal/requests/SR-000001/attachments/00000000-0000-0000-0000-000000000000"),
    ("routing", "/internal/providers/1"),
    ("routing", "/internal/work-orders/WO-000001"),
]


@pytest.mark.parametrize("service,path", INTERNAL_ROUTES)
async def test_internal_routes_need_the_service_credential(stack, service, path):
    for headers in (
        {},
        {internal.CREDENTIAL_HEADER: ""},
        {internal.CREDENTIAL_HEADER: "guess"},
        {internal.CREDENTIAL_HEADER: stack.settings.internal_token + "x"},
    ):
        response = await direct(stack, service, "GET", path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {"detail": "a service credential is needed"}
    credentialed = await direct(stack, service, "GET", path, headers=internal.credential(stack.settings))
    assert credentialed.status_code != 401 or path.endswith("/auth/check"), credentialed.text
    if path.endswith("/auth/check"):  # past the credential, it wants a user's token
        assert credentialed.json() == {"detail": "not authenticated"}


async def test_the_gateway_never_routes_internal_calls(stack, api):
    """Even with the credential, /internal under the gateway is the portal's (a page), never a service's answer."""
    for path in ("/internal/providers/1", "/internal/auth/check"):
        answered = await api.http.get(
            f"{stack.settings.gateway_url}{path}", headers=internal.credential(stack.settings)
        )
        assert not answered.headers.get("content-type", "").startswith("application/json"), answered.text


async def test_one_pooled_session_per_event_loop():
    first = internal.session()
    assert internal.session() is first
    await asyncio.sleep(0)
    assert internal.session() is first
    await internal.close_session()
    assert internal.session() is not first  # a closed one is replaced, never handed out
    await internal.close_session()


EFFECT_ROUTES = [(service, f"{effects.PATH}/{name}") for name, service in names.EFFECTS.items()]


@pytest.mark.parametrize("service,path", EFFECT_ROUTES)
async def test_effects_need_the_service_credential_and_their_own_input(stack, service, path):
    """The workflow worker's local activities reach each effect here: nobody else may, and a body that is not
    the activity's input is a 422 that runs nothing."""
    for headers in ({}, {internal.CREDENTIAL_HEADER: "guess"}):
        response = await direct(stack, service, "POST", path, json={}, headers=headers)
        assert response.status_code == 401, (headers, response.text)
    credential = internal.credential(stack.settings)
    refused = await direct(stack, service, "POST", path, json={"number": []}, headers=credential)
    assert refused.status_code == 422, refused.text


async def test_a_service_offers_only_its_own_effects(stack):
    credential = internal.credential(stack.settings)
    for service, name in (("routing", names.RECORD_TRANSITION), ("intake", "intake.sweep_abandoned_uploads")):
        response = await direct(stack, service, "POST", f"{effects.PATH}/{name}", json={}, headers=credential)
        assert response.status_code == 404, response.text
