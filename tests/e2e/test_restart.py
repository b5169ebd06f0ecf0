"""A second `make run` on the same data folder finds every earlier request and workflow, and goes on."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PORT_OFFSET, running_stack
from tests.support.api import Api, make_cast


@pytest.fixture(scope="module")
def restartable():
    with running_stack("restart", PORT_OFFSET + 9000) as running:
        yield running


async def test_stop_and_start_again_keeps_requests_and_workflows(restartable):
    api = Api(restartable.api_url)
    try:
        admin = await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        cast = await make_cast(api, admin)
        request = await cast.customer.post(
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "service_call",
                "priority": "normal",
                "summary": "Door sensor faulty",
            },
            expect=201,
        )
        number = request["number"]
        await cast.dispatcher.post(f"/work-events/{number}/publish")
    finally:
        await api.close()

    restartable.stack.stop()
    restartable.stack.start()

    api = Api(restartable.api_url)
    try:
        customer = await api.sign_in(cast.customer.email, "correct-horse-battery")
        dispatcher = await api.sign_in(cast.dispatcher.email, "correct-horse-battery")
        again = await customer.get(f"/requests/{number}")
        assert again["status"] == "published"
        # The workflow is still running and takes the next transition.
        assigned = await dispatcher.post(f"/work-events/{number}/assign", {"provider_id": cast.provider_id})
        assert assigned["status"] == "waiting_acceptance"
        assert assigned["work_order_number"] is not None
        timeline = (await customer.get(f"/requests/{number}/timeline"))["items"]
        assert [e["status"] for e in timeline] == ["draft", "published", "waiting_acceptance"]
    finally:
        await api.close()
