"""The same happy path with every service on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.test_happy_path import check_happy_path
from tests.support.api import Api, make_cast


@pytest.fixture(scope="module")
async def pg_api(pg_stack):
    client = Api(pg_stack.api_url)
    yield client
    await client.close()


async def test_happy_path_postgres(pg_stack, pg_api):
    services = ("INTAKE", "ROUTING", "INVOICING", "NOTIFICATIONS")
    assert all("postgresql" in pg_stack.env[f"FIELDOPS_DB_{s}"] for s in services)
    admin = await pg_api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    cast = await make_cast(pg_api, admin)
    await check_happy_path(pg_stack, pg_api, cast)
