"""Operators' fixtures. `quick_cast` is a cast whose staff (dispatcher, accounts receivable, provider) is shared by
the tests of one module while each test still makes its own customer organisation, user, site and asset: for the
many small tests that only need a request of their own."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import Cast


@pytest.fixture(scope="module")
async def crew(api, admin) -> dict:
    dispatcher = await api.make_user(admin, "dispatcher")
    receivable = await api.make_user(admin, "accounts_receivable")
    company = await dispatcher.post(
        "/providers", {"name": f"Crew {uuid.uuid4().hex[:6]}", "email": "crew@fix.example"}, expect=201
    )
    provider = await api.make_user(admin, "provider", provider_id=company["id"])
    return {"dispatcher": dispatcher, "receivable": receivable, "provider": provider, "provider_id": company["id"]}


@pytest.fixture
async def quick_cast(api, admin, crew) -> Cast:
    org = await admin.post("/customers", {"name": f"Quick {uuid.uuid4().hex[:6]}"}, expect=201)
    customer = await api.make_user(admin, "customer", customer_id=org["id"])
    site = await crew["dispatcher"].post(
        f"/customers/{org['id']}/sites", {"name": "Depot", "address": "2 Lane"}, expect=201
    )
    asset = await crew["dispatcher"].post(
        "/assets",
        {"customer_id": org["id"], "site_id": site["id"], "name": "Pump", "serial_number": f"SN{uuid.uuid4().hex[:8]}"},
        expect=201,
    )
    return Cast(
        admin,
        crew["dispatcher"],
        crew["receivable"],
        customer,
        crew["provider"],
        org["id"],
        asset["id"],
        crew["provider_id"],
    )
