"""The workflow's effects over HTTP: a service answers `POST /internal/effects/<activity name>` by running that
activity's own function, with the same input and result, so the workflow worker can run it as a local activity
(workflows/effects.py). An action then answers in one workflow task, not one per hand-off to a task queue.

Only the effects named in `names.EFFECTS` are offered, only to a caller with the service credential. The
activity's retryable failures answer 5xx (the worker retries, as Temporal would retry the activity); an
ApplicationError answers 409 with its type, so the worker raises the same error to the workflow."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_type_hints

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from temporalio.activity import _Definition as ActivityDefinition
from temporalio.exceptions import ApplicationError

from shared.contracts import names
from shared.internal import require_service

PATH = "/internal/effects"


@dataclass(frozen=True)
class Effect:
    run: Callable[[Any], Any]
    takes: TypeAdapter
    gives: TypeAdapter


def index(activities: Iterable[Callable[..., Any]]) -> dict[str, Effect]:
    """The effects among a service's activities, by activity name, with the types its hints declare."""
    effects = {}
    for function in activities:
        name = ActivityDefinition.must_from_callable(function).name
        if name not in names.EFFECTS:
            continue
        hints = get_type_hints(function)
        (arg,) = (hint for key, hint in hints.items() if key != "return")
        effects[name] = Effect(function, TypeAdapter(arg), TypeAdapter(hints.get("return", type(None))))
    return effects


router = APIRouter(prefix=PATH, include_in_schema=False, dependencies=[Depends(require_service)])


@router.post("/{name}")
async def run_effect(name: str, request: Request) -> Response:
    effects: dict[str, Effect] = request.app.state.effects
    effect = effects.get(name)
    if effect is None:
        raise HTTPException(404, f"this service has no effect {name!r}")
    try:
        arg = effect.takes.validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    try:
        result = await effect.run(arg)
    except ApplicationError as exc:
        failure = {"type": exc.type, "message": exc.message, "non_retryable": exc.non_retryable}
        return JSONResponse(failure, status_code=409)
    return Response(effect.gives.dump_json(result), media_type="application/json")
