"""The gateway's merged OpenAPI document and the interactive docs, on the session stack."""

from __future__ import annotations

import httpx
import pytest

from shared.settings import SERVICES

pytestmark = pytest.mark.e2e


async def test_the_gateway_document_is_the_four_services_merged(stack, api):
    merged = (await api.http.get("/openapi.json")).json()
    async with httpx.AsyncClient(timeout=30) as client:
        for service in SERVICES:
            own = (await client.get(f"{stack.settings.service_url(service)}/api/v1/{service}/openapi.json")).json()
            assert own["paths"] and own["paths"].items() <= merged["paths"].items(), service
            for name, schema in own["components"]["schemas"].items():
                assert merged["components"]["schemas"][name] == schema, (service, name)


async def test_the_gateway_docs_load_their_files_from_intake(stack):
    async with httpx.AsyncClient(base_url=stack.settings.service_url("intake"), timeout=30) as intake:
        page = await intake.get("/api/v1/docs")
        assert page.status_code == 200 and "/api/v1/openapi.json" in page.text
        assert "cdn" not in page.text.lower()
        script = await intake.get("/api/v1/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
