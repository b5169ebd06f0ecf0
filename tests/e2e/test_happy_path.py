"""The walking skeleton's promise: one request from submission to payment through the gateway."""

from __future__ import annotations

import email
import subprocess
import sys
from pathlib import Path

from tests.support.api import PAID_PATH, lifecycle, wait_for

STATUS_EMAILS = PAID_PATH  # an email for every status change
# The customer is not told of the provider's invoice and payment (docs/api.md, "What a customer sees").
CUSTOMER_STATUS_EMAILS = STATUS_EMAILS[: STATUS_EMAILS.index("completed") + 1]


def mails_to(mail_dir: Path, address: str) -> list[email.message.Message]:
    messages = [email.message_from_bytes(p.read_bytes()) for p in sorted(mail_dir.glob("*.eml"))]
    return [m for m in messages if m["To"] == address]


async def check_happy_path(running, api, cast) -> None:
    final = await lifecycle(api, cast, invoice_number="AB12345")
    number = final["number"]
    assert number.startswith("SR-") and len(number) == 9
    assert final["status"] == "paid"
    assert final["billing_status"] == "paid"
    wo = final["work_order_number"]
    assert len(wo) == 9 and int(wo) >= 600010001
    assert final["payment_reference"] == f"AB12345{wo}"

    timeline = (await cast.dispatcher.get(f"/requests/{number}/timeline"))["items"]
    statuses = [e["status"] for e in timeline if e["kind"] == "status_change"]
    assert statuses == STATUS_EMAILS
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)

    payments = (await cast.provider.get("/payments"))["items"]
    assert [p["reference"] for p in payments if p["work_order_number"] == wo] == [f"AB12345{wo}"]
    assert next(p for p in payments if p["work_order_number"] == wo)["amount"] == "220.55"
    invoices = (await cast.customer.get("/invoices?status=paid"))["items"]
    assert [i["request_number"] for i in invoices] == [number]

    # One email per status change the customer sees to its notification address, each with its own Message-ID.
    # Emails follow the answers (off the action's critical path), so the last ones may still be on their way.
    me = await cast.customer.get("/me")

    def customer_subjects(received: list[email.message.Message]) -> list[str]:
        subjects = [" ".join(m["Subject"].split()) for m in received]  # unfolded, as a mail client shows it
        return [s for s in subjects if s.startswith(f"Your request {number} ")]

    async def all_arrived() -> list[email.message.Message]:
        received = mails_to(running.mail_dir, me["notification_email"])
        return received if len(customer_subjects(received)) >= len(CUSTOMER_STATUS_EMAILS) else []

    received = await wait_for(all_arrived)
    assert len(customer_subjects(received)) == len(CUSTOMER_STATUS_EMAILS), customer_subjects(received)
    ids = [m["Message-ID"] for m in received]
    assert len(ids) == len(set(ids))

    # Operators find it in Temporal by its search attributes.
    listed = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "list",
            "--address",
            running.settings.temporal_target,
            "--query",
            f"RequestStatus='paid' AND CustomerId='{cast.customer_id}' AND ExecutionStatus='Completed'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"service-request:{number}" in listed  # found by its search attributes, and closed


async def test_create_admin_is_idempotent(stack, api):
    from tests.support.api import create_admin

    create_admin(stack.env, "second-admin@example.com", "first-password-1")
    create_admin(stack.env, "second-admin@example.com", "second-password-2")
    admin = await api.sign_in("second-admin@example.com", "second-password-2")
    me = await admin.get("/me")
    assert me["role"] == "admin"


async def test_happy_path_sqlite(stack, api, cast):
    await check_happy_path(stack, api, cast)


async def test_wrong_state_is_409_naming_status(stack, api, cast):
    request = await cast.customer.post(
        "/requests",
        {
            "customer_id": cast.customer_id,
            "asset_id": cast.asset_id,
            "kind": "walk_in",
            "priority": "low",
            "summary": "Laptop will not boot",
        },
        expect=201,
    )
    assert request["status"] == "draft"
    response = await api.http.post(f"/work-events/{request['number']}/approve-payment", headers=cast.dispatcher.headers)
    assert response.status_code == 409
    assert "draft" in response.json()["detail"]
    await cast.dispatcher.post(f"/work-events/{request['number']}/publish")
    again = await api.http.post(f"/work-events/{request['number']}/publish", headers=cast.dispatcher.headers)
    assert again.status_code == 409 and "published" in again.json()["detail"]
