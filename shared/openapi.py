"""Each service's OpenAPI document, with the error answers every operation shares declared, and its interactive
docs. Swagger UI's files are served from the swagger-ui-bundle package, never a CDN."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

from shared.http import ERRORS, InvalidInput, Problem

# Every service serves the same files here; through the gateway, intake answers for all of them.
ASSETS = "/api/v1/docs/assets"
DESCRIPTION = (
    "fieldops' public API. Send `Authorization: Bearer <access token>` (from `POST /api/v1/auth/token`) "
    'with every call but sign-in and password reset. Errors are `{"detail": ...}`: a sentence, or for a '
    "422 the list of fields that do not fit."
)


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )


def add_docs(app: FastAPI, service: str) -> None:
    """`/api/v1/<service>/docs` and `/openapi.json` beside it, and the docs' static files."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(f"/api/v1/{service}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return docs_page(f"/api/v1/{service}/openapi.json", f"fieldops {service} API")

    app.openapi = lambda: document(app)  # type: ignore[method-assign]  # FastAPI's documented way to replace it


def document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes)
        declare_shared_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _answer(code: int, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": _body(model)}


def declare_shared_errors(schema: dict[str, Any]) -> None:
    """What any operation may answer whatever it does: 401 when it takes a token, 422 (FastAPI's list, or our
    sentence) when it takes parameters or a body, 413 when it takes a body, 400 when it takes a cursor."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, InvalidInput):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            if operation.get("security"):
                responses.setdefault("401", _answer(401, Problem))
            if parameters or operation.get("requestBody"):
                # In place of FastAPI's list-only HTTPValidationError; an operation's own words are kept.
                own = responses.get("422", {}).get("description", "Validation Error")
                responses["422"] = {
                    **_answer(422, InvalidInput),
                    **({"description": own} if own != "Validation Error" else {}),
                }
            if operation.get("requestBody"):
                responses.setdefault("413", _answer(413, Problem))
            if any(p.get("name") == "cursor" for p in parameters):
                responses.setdefault("400", _answer(400, Problem))
            for code, response in responses.items():
                if code[0] in "45" and "content" not in response:  # declared with words alone
                    response["content"] = _body(Problem)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
