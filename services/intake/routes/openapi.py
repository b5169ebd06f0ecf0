"""`/api/v1/openapi.json`: one OpenAPI document for the whole gateway, merged from the four services; and its
interactive docs at `/api/v1/docs`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.internal import UNANSWERED, call, not_answering
from shared.openapi import DESCRIPTION, docs_page
from shared.settings import SERVICES

router = APIRouter(prefix="/api/v1", include_in_schema=False)


@router.get("/openapi.json")
async def gateway_openapi(request: Request) -> dict:
    settings = request.app.state.svc.settings
    merged: dict = {
        "openapi": "3.1.0",
        "info": {"title": "fieldops API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    documents = [request.app.openapi()]
    for service in SERVICES[1:]:
        try:
            response = await call("GET", f"{settings.service_url(service)}/api/v1/{service}/openapi.json", {})
        except UNANSWERED as exc:
            raise not_answering(service) from exc
        if response.status_code != 200:
            raise not_answering(service)
        documents.append(response.json())
    # Schema names are unique across the services (tests/unit/test_openapi.py), so merging loses nothing.
    for document in documents:
        merged["paths"].update(document.get("paths", {}))
        for section, values in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(values)
    return merged


@router.get("/docs")
async def gateway_docs() -> HTMLResponse:
    return docs_page("/api/v1/openapi.json", "fieldops API")
