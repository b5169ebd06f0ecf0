"""The OpenAPI documents of the four services, built from their apps (no stack): every operation's success is
typed, every error it may answer is declared with its body, and a schema name means one schema across services
(the gateway merges the four documents into one)."""

from __future__ import annotations

import pytest

from services.intake.app import app as intake
from services.invoicing.app import app as invoicing
from services.notifications.app import app as notifications
from services.routing.app import app as routing

APPS = {"intake": intake, "routing": routing, "invoicing": invoicing, "notifications": notifications}
# Answers that are no JSON object by design: the redirect to a download and the PDF of an invoice.
NOT_JSON = {
    ("get", "/api/v1/requests/{number}/attachments/{attachment_id}/download"),
    ("get", "/api/v1/invoices/{invoice_id}/pdf"),
}


def operations():
    for service, app in APPS.items():
        for path, methods in app.openapi()["paths"].items():
            for method, operation in methods.items():
                yield service, method, path, operation


def untyped(schema: dict) -> bool:
    """Whether a response schema says nothing of the body's fields: `{}`, or any object (a route's `-> dict`)."""
    if "$ref" in schema:
        return False
    if schema.get("type") == "object" and not schema.get("properties"):
        return True
    return not schema


def test_every_success_is_typed():
    problems = []
    for service, method, path, operation in operations():
        successes = {code: r for code, r in operation["responses"].items() if code.startswith(("2", "3"))}
        if not successes:
            problems.append(f"{service} {method.upper()} {path}: no success answer declared")
        for code, response in successes.items():
            if code in ("204", "307") or (method, path) in NOT_JSON:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if untyped(schema):
                problems.append(f"{service} {method.upper()} {path} {code}: untyped body {schema}")
    assert not problems, "\n".join(problems)


def test_every_operation_declares_its_errors_with_their_bodies():
    problems = []
    for service, method, path, operation in operations():
        responses = operation["responses"]
        if operation.get("security") and "401" not in responses:
            problems.append(f"{service} {method.upper()} {path}: no 401")
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                expected = "InvalidInput" if code == "422" else "Problem"
                if not ref.endswith(f"/{expected}"):
                    problems.append(f"{service} {method.upper()} {path} {code}: body {ref or 'undeclared'}")
    assert not problems, "\n".join(problems)


def test_a_schema_name_means_one_schema_across_services():
    seen: dict[str, tuple[str, dict]] = {}
    clashes = []
    for service, app in APPS.items():
        for name, schema in app.openapi()["components"]["schemas"].items():
            if name in seen and seen[name][1] != schema:
                clashes.append(f"{name}: {seen[name][0]} and {service} differ")
            seen.setdefault(name, (service, schema))
    assert not clashes, "\n".join(clashes)


def test_operation_ids_are_unique_across_services():
    ids = [operation["operationId"] for *_, operation in operations()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("service", APPS)
def test_docs_are_served_from_the_package(service):
    from fastapi.testclient import TestClient

    client = TestClient(APPS[service])  # without its lifespan: the docs need no database or Temporal
    page = client.get(f"/api/v1/{service}/docs")
    assert page.status_code == 200
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert client.get("/api/v1/docs/assets/swagger-ui.css").status_code == 200
