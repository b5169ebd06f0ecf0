"""`/internal` routes answer only a caller with the service credential; services reach them with one pooled client."""

from __future__ import annotations

import asyncio

import pytest

from shared import internal
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


async def test_one_pooled_client_per_event_loop():
    first = internal.client()
    assert internal.client() is first
    await asyncio.sleep(0)
    assert internal.client() is first
