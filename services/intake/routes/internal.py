"""What the other services ask of intake, with the service credential; not in the public API: the token check
every service asks on every call, a request, an attachment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from sqlalchemy import select

from services.intake.models import Attachment, ServiceRequest
from services.intake.schemas import AttachmentOut, RequestOut
from services.intake.service import is_current
from shared.auth import REVOKED, decode_token
from shared.internal import require_service
from shared.service_app import SessionDep, StateDep

router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(require_service)])


@router.get("/auth/check")
async def auth_check(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """The other services ask this on every call, with the caller's bearer token: 200 while it is good, else 401."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    if not await is_current(state.db.engine, decode_token(authorization.split(" ", 1)[1])):
        raise HTTPException(401, REVOKED, headers={"WWW-Authenticate": "Bearer"})
    return Response(status_code=200)


@router.get("/requests/{number}", response_model=RequestOut)
async def internal_request(number: str, db: SessionDep):
    row = (await db.execute(select(ServiceRequest).where(ServiceRequest.number == number))).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, "request not found")
    return row


@router.get("/requests/{number}/attachments/{attachment_id}", response_model=AttachmentOut)
async def internal_attachment(number: str, attachment_id: str, db: SessionDep):
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number:
        raise HTTPException(404, "attachment not found")
    return row
