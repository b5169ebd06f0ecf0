"""`/api/v1/openapi.json`: one OpenAPI document for the whole gateway, merged from the four services."""
from __future__ import annotations

import httpx
from fastapi import APIRouter, Request

from shared.settings import SERVICES

router = APIRouter(prefix="/api/v1", include_in_schema=False)


@router.get("/openapi.json")
async def gateway_openapi(request: Request) -> dict:
    settings = request.app.state.svc.settings
    merged: dict = {"openapi": "3.1.0", "info": {"title": "fieldops API", "version": "1"},
                    "servers": [{"url": "/"}], "paths": {}, "components": {"schemas": {}, "securitySchemes": {}}}
    documents = [request.app.openapi()]
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES[1:]:
            response = await client.get(f"{settings.service_url(service)}/api/v1/{service}/openapi.json")
            response.raise_for_status()
            documents.append(response.json())
    for document in documents:
        merged["paths"].update(document.get("paths", {}))
        for section, values in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(values)
    return merged
