"""A request's attachments: announced, uploaded straight to the object store, completed, listed, downloaded."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from services.intake import views
from services.intake.models import Attachment, TimelineEntry
from services.intake.schemas import AttachmentCompleteIn, AttachmentCreated, AttachmentIn, AttachmentOut, AttachmentPage
from services.intake.service import idempotency, load_visible, scope
from services.intake.storage import MAX_BYTES, allowed_content_type, family, sniff, storage
from shared.auth import CurrentUser
from shared.contracts.enums import Role
from shared.db import utcnow
from shared.http import errors
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep, StateDep

router = APIRouter(prefix="/api/v1")


@router.post(
    "/requests/{number}/attachments",
    status_code=201,
    response_model=AttachmentCreated,
    tags=["attachments"],
    responses=errors(403, 404, 503),
)
async def create_attachment(
    number: str, body: AttachmentIn, user: CurrentUser, db: SessionDep, state: StateDep, key: IdempotencyKey = None
):
    await load_visible(db, user, number)
    if body.size_bytes > MAX_BYTES:
        raise HTTPException(413, "an attachment may be at most 500 MB")
    if not allowed_content_type(body.content_type):
        raise HTTPException(422, "only images, PDF and spreadsheets may be attached")
    if body.kind == "provider_invoice" and user.role != Role.provider:
        raise HTTPException(403, "only the provider attaches its invoice")
    where = scope(user, f"attachments:{number}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    attachment_id = str(uuid.uuid4())
    object_key = f"requests/{number}/{attachment_id}"
    upload, upload_id = await storage(state).presign_upload(object_key, body.content_type, body.size_bytes)
    row = Attachment(
        id=attachment_id,
        request_number=number,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        kind=body.kind,
        object_key=object_key,
        upload_id=upload_id,
        uploaded_by=user.user_id,
    )
    db.add(row)
    await db.flush()
    out = {"id": attachment_id, "upload": upload, **AttachmentOut.model_validate(row).model_dump(mode="json")}
    await idempotency.remember(db, key, where, body, 201, out)
    await db.commit()
    return out


@router.post(
    "/requests/{number}/attachments/{attachment_id}/complete",
    response_model=AttachmentOut,
    tags=["attachments"],
    responses=errors(404, 409, 503),
)
async def complete_attachment(
    number: str, attachment_id: str, body: AttachmentCompleteIn, user: CurrentUser, db: SessionDep, state: StateDep
):
    await load_visible(db, user, number)
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number or row.uploaded_by != user.user_id:
        raise HTTPException(404, "attachment not found")
    if row.status == "stored":
        return row
    store = storage(state)
    if row.upload_id:
        if not body.parts:
            raise HTTPException(422, "a multipart upload is completed with its parts and their etags")
        try:
            await store.complete_multipart(row.object_key, row.upload_id, [p.model_dump() for p in body.parts])
        except HTTPException:
            raise  # the store is down: its 503 as it is
        except Exception as exc:  # botocore's ClientError: wrong or missing parts
            raise HTTPException(422, f"the parts could not be assembled: {exc}") from exc
    size = await store.size(row.object_key)
    if size is None:
        raise HTTPException(409, "nothing was uploaded yet")
    problem = None
    if size != row.size_bytes:
        problem = f"the stored file has {size} bytes, not the {row.size_bytes} announced"
    elif sniff(await store.head_bytes(row.object_key)) != family(row.content_type):
        problem = "the file's content is not an image, a PDF or a spreadsheet of the announced type"
    if problem:
        await store.delete(row.object_key)
        await db.delete(row)
        await db.commit()
        raise HTTPException(422, f"{problem}; the upload was removed")
    row.status = "stored"
    db.add(
        TimelineEntry(
            request_number=number,
            kind="attachment",
            actor_user_id=user.user_id,
            actor_role=user.role.value,
            actor_name=user.name or user.email,
            at=utcnow(),
            detail={"attachment_id": row.id, "filename": row.filename, "kind": row.kind},
        )
    )
    await db.commit()
    return row


@router.get(
    "/requests/{number}/attachments", response_model=AttachmentPage, tags=["attachments"], responses=errors(404)
)
async def list_attachments(number: str, user: CurrentUser, db: SessionDep):
    await load_visible(db, user, number)
    rows = (
        await db.execute(
            select(Attachment)
            .where(Attachment.request_number == number, Attachment.status == "stored")
            .order_by(Attachment.created_at)
        )
    ).scalars()
    return {"items": views.attachments_out(user, rows), "next_cursor": None}


@router.get(
    "/requests/{number}/attachments/{attachment_id}/download",
    tags=["attachments"],
    status_code=307,
    response_class=RedirectResponse,
    responses={307: {"description": "to a short-lived link that downloads the file"}, **errors(404, 503)},
)
async def download_attachment(number: str, attachment_id: str, user: CurrentUser, db: SessionDep, state: StateDep):
    await load_visible(db, user, number)
    row = await db.get(Attachment, attachment_id)
    if row is None or row.request_number != number or row.status != "stored" or not views.shows_attachment(user, row):
        raise HTTPException(404, "attachment not found")
    return RedirectResponse(await storage(state).download_url(row.object_key, row.filename), status_code=307)
