"""Attachments go straight between the client and S3 through presigned URLs; the server only checks the
stored object. Proven here with real SeaweedFS: single PUT, multipart above 100 MB, refusals, downloads."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from urllib.parse import unquote

import boto3
import httpx
from botocore.client import Config
from botocore.exceptions import ClientError

from services.intake.storage import PART_SIZE, SINGLE_PUT_MAX
from shared.contracts import names
from shared.contracts.models import UploadsSwept, UploadSweepInput
from shared.temporal import connect
from tests.portal.support import PDF_BYTES, PNG_BYTES, new_request, put_parts, query_of, service_rss, upload

MB = 1024 * 1024


def s3_of(stack):
    s = stack.settings
    return boto3.client(
        "s3",
        endpoint_url=s.s3_url,
        aws_access_key_id=s.s3_access_key,
        aws_secret_access_key=s.s3_secret_key,
        region_name=s.s3_region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def stored(stack, number: str, attachment_id: str) -> bool:
    try:
        s3_of(stack).head_object(Bucket=stack.settings.s3_bucket, Key=f"requests/{number}/{attachment_id}")
        return True
    except ClientError:
        return False


async def test_presigned_put_complete_and_short_lived_download(stack, api, cast):
    number = (await new_request(cast))["number"]
    created = await upload(cast.customer, number, PNG_BYTES, filename='../../etc/"pump".png')
    assert created["upload"]["method"] == "PUT" and "parts" not in created["upload"]
    assert created["filename"] == "pump.png" and created["status"] == "pending"
    assert stack.settings.s3_url in created["upload"]["url"]  # the bytes go to S3, not to us
    assert (await cast.customer.get(f"/requests/{number}/attachments"))["items"] == []  # pending is not listed

    # Only the uploader completes its upload.
    other = await api.http.post(
        f"/requests/{number}/attachments/{created['id']}/complete", json={}, headers=cast.dispatcher.headers
    )
    assert other.status_code == 404
    done = await cast.customer.post(f"/requests/{number}/attachments/{created['id']}/complete", {})
    assert done["status"] == "stored" and done["size_bytes"] == len(PNG_BYTES)
    again = await cast.customer.post(f"/requests/{number}/attachments/{created['id']}/complete", {})
    assert again["status"] == "stored"
    assert [a["id"] for a in (await cast.customer.get(f"/requests/{number}/attachments"))["items"]] == [created["id"]]

    download = await api.http.get(
        f"/requests/{number}/attachments/{created['id']}/download", headers=cast.dispatcher.headers
    )
    assert download.status_code == 307
    url = download.headers["location"]
    params = query_of(url)
    assert url.startswith(stack.settings.s3_url) and int(params["X-Amz-Expires"]) <= 300
    assert 'filename="pump.png"' in params["response-content-disposition"]
    async with httpx.AsyncClient(timeout=30) as s3:
        fetched = await s3.get(url)
    assert fetched.status_code == 200 and fetched.content == PNG_BYTES


async def test_a_non_ascii_filename_downloads_under_its_own_name(stack, api, cast):
    number = (await new_request(cast))["number"]
    name = "Prüfbericht – Kältemaschine №3.pdf"
    created = await upload(cast.customer, number, PDF_BYTES, filename=name, content_type="application/pdf")
    assert created["filename"] == name
    await cast.customer.post(f"/requests/{number}/attachments/{created['id']}/complete", {})
    download = await api.http.get(
        f"/requests/{number}/attachments/{created['id']}/download", headers=cast.customer.headers
    )
    assert download.status_code == 307
    async with httpx.AsyncClient(timeout=30) as s3:
        fetched = await s3.get(download.headers["location"])
    assert fetched.status_code == 200 and fetched.content == PDF_BYTES
    header = fetched.headers["content-disposition"]
    header.encode("ascii")  # an HTTP header carries ASCII only; the real name rides percent-encoded
    assert 'filename="Pr_fbericht _ K_ltemaschine _3.pdf"' in header
    encoded = header.split("filename*=UTF-8''", 1)[1].split(";", 1)[0]
    assert unquote(encoded) == name


async def test_wrong_size_or_wrong_type_is_rejected_and_removed(stack, api, cast):
    number = (await new_request(cast))["number"]
    cases = [
        (b"%PDF-1.4 but shorter than announced", "report.pdf", "application/pdf", 5000, "bytes"),
        (b"MZ\x90\x00 an executable in disguise" + b"\x00" * 100, "photo.jpg", "image/jpeg", None, "content"),
        (PDF_BYTES, "photo.png", "image/png", None, "content"),  # a PDF is not the announced image
        (b"<html><script>alert(1)</script>,</html>", "sheet.csv", "text/csv", None, "content"),
    ]
    for content, filename, content_type, size, problem in cases:
        created = await upload(cast.customer, number, content, filename=filename, content_type=content_type, size=size)
        assert stored(stack, number, created["id"])
        response = await api.http.post(
            f"/requests/{number}/attachments/{created['id']}/complete", json={}, headers=cast.customer.headers
        )
        assert response.status_code == 422, response.text
        assert problem in response.json()["detail"] and "removed" in response.json()["detail"]
        assert not stored(stack, number, created["id"])
        gone = await api.http.post(
            f"/requests/{number}/attachments/{created['id']}/complete", json={}, headers=cast.customer.headers
        )
        assert gone.status_code == 404
    assert (await cast.customer.get(f"/requests/{number}/attachments"))["items"] == []
    timeline = (await cast.customer.get(f"/requests/{number}/timeline"))["items"]
    assert [e for e in timeline if e["kind"] == "attachment"] == []

    # Refused before any upload: types that are not images, PDF or spreadsheets, and anything above 500 MB.
    for content_type, size, status in (
        ("text/html", 10, 422),
        ("image/svg+xml", 10, 422),
        ("application/x-msdownload", 10, 422),
        ("application/pdf", 500 * MB + 1, 413),
    ):
        response = await api.http.post(
            f"/requests/{number}/attachments",
            headers=cast.customer.headers,
            json={"filename": "f", "content_type": content_type, "size_bytes": size},
        )
        assert response.status_code == status, (content_type, response.text)
    nothing = await api.http.post(
        f"/requests/{number}/attachments/{'0' * 36}/complete", json={}, headers=cast.customer.headers
    )
    assert nothing.status_code == 404


async def test_multipart_upload_above_100_mb_leaves_services_memory_flat(stack, api, cast):
    number = (await new_request(cast))["number"]
    size = 101 * MB
    assert size > SINGLE_PUT_MAX
    warm = await upload(cast.customer, number, PNG_BYTES)  # intake's S3 client exists before memory is measured
    await cast.customer.post(f"/requests/{number}/attachments/{warm['id']}/complete", {})
    before = service_rss(stack)
    created = await cast.customer.post(
        f"/requests/{number}/attachments",
        {"filename": "manual.pdf", "content_type": "application/pdf", "size_bytes": size, "kind": "document"},
        expect=201,
    )
    plan = created["upload"]
    assert plan["part_size"] == PART_SIZE and [p["part_number"] for p in plan["parts"]] == [1, 2]
    assert "url" not in plan

    # Completing before the parts are in, or without them, is refused.
    missing = await api.http.post(
        f"/requests/{number}/attachments/{created['id']}/complete", json={}, headers=cast.customer.headers
    )
    assert missing.status_code == 422
    etags = await put_parts(plan, size)
    bad = await api.http.post(
        f"/requests/{number}/attachments/{created['id']}/complete",
        json={"parts": [{"part_number": 1, "etag": '"nope"'}]},
        headers=cast.customer.headers,
    )
    assert bad.status_code == 422
    done = await cast.customer.post(f"/requests/{number}/attachments/{created['id']}/complete", {"parts": etags})
    assert done["status"] == "stored" and done["size_bytes"] == size
    head = s3_of(stack).head_object(Bucket=stack.settings.s3_bucket, Key=f"requests/{number}/{created['id']}")
    assert head["ContentLength"] == size
    after = service_rss(stack)
    # 101 MB went through S3; no service grew by anything near it.
    assert all(after[name] - before[name] < 10 * 1024 for name in before), (before, after)


async def test_uploads_never_completed_are_swept_from_s3(stack, cast):
    number = (await new_request(cast))["number"]
    s3, bucket = s3_of(stack), stack.settings.s3_bucket
    put_only = await upload(cast.customer, number, PNG_BYTES)  # the bytes went up, `complete` never came
    multipart = await cast.customer.post(
        f"/requests/{number}/attachments",
        {"filename": "scan.pdf", "content_type": "application/pdf", "size_bytes": SINGLE_PUT_MAX + 1},
        expect=201,
    )
    recent = await upload(cast.customer, number, PNG_BYTES)

    def open_multipart_keys() -> set[str]:
        listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=f"requests/{number}/")
        return {u["Key"] for u in listed.get("Uploads", [])}

    multipart_key = f"requests/{number}/{multipart['id']}"
    assert stored(stack, number, put_only["id"]) and multipart_key in open_multipart_keys()
    with sqlite3.connect(stack.stack.data / "db" / "intake.db") as db:  # started two days ago
        db.execute(
            "UPDATE attachments SET created_at = datetime(created_at, '-2 days') WHERE id IN (?, ?)",
            (put_only["id"], multipart["id"]),
        )

    client = await connect(stack.settings)
    schedule = await client.get_schedule_handle(names.UPLOAD_SWEEP_SCHEDULE_ID).describe()
    assert schedule.schedule.spec.intervals[0].every == timedelta(hours=1)
    swept = await client.execute_workflow(  # what the Schedule starts, run now
        "UploadSweepWorkflow",
        UploadSweepInput(abandoned_after=stack.settings.upload_abandoned_after),
        id=f"upload-sweep-now-{number}",
        task_queue=names.WORKFLOW_TASK_QUEUE,
        result_type=UploadsSwept,
    )
    assert {put_only["id"], multipart["id"]} <= set(swept.attachment_ids)
    assert recent["id"] not in swept.attachment_ids
    assert not stored(stack, number, put_only["id"]) and multipart_key not in open_multipart_keys()
    for gone in (put_only, multipart):
        await cast.customer.post(f"/requests/{number}/attachments/{gone['id']}/complete", {}, expect=404)
    done = await cast.customer.post(f"/requests/{number}/attachments/{recent['id']}/complete", {})
    assert done["status"] == "stored"  # an upload still within its day is left alone
