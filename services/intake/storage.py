"""Attachments live in S3-compatible storage; clients upload and download through presigned URLs, so file
bytes never pass through our processes. boto3 is synchronous: calls run in a thread.

A store that does not answer (refused, timed out, or a 5xx of its own) is `StorageUnavailable`: the API's
answer is a 503 the caller may retry, and a Temporal activity that meets it fails and is retried."""

from __future__ import annotations

import asyncio
import contextlib
import math
from urllib.parse import quote

import boto3
import filetype
from botocore.client import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from fastapi import HTTPException

from shared.settings import Settings

MAX_BYTES = 500 * 1024 * 1024
SINGLE_PUT_MAX = 100 * 1024 * 1024
PART_SIZE = 64 * 1024 * 1024
URL_TTL = 900  # seconds a presigned upload or download URL stays valid
# A store that is down answers in seconds, not after botocore's default five attempts with a minute's timeout each.
CLIENT_CONFIG = Config(
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    connect_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
)

SPREADSHEET_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/csv",
}


# Raster images only: an SVG is a document that can carry script, and is refused like any other type.
IMAGE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/tiff",
    "image/bmp",
}


def allowed_content_type(content_type: str) -> bool:
    return content_type in IMAGE_TYPES or content_type == "application/pdf" or content_type in SPREADSHEET_TYPES


def sniff(head: bytes) -> str | None:
    """The family a file belongs to by its first bytes: image, pdf, spreadsheet, or None."""
    kind = filetype.guess(head)
    if kind is not None:
        if kind.mime.startswith("image/"):
            return "image"
        if kind.mime == "application/pdf":
            return "pdf"
        if kind.mime in SPREADSHEET_TYPES or kind.extension in ("xlsx", "xls", "ods"):
            return "spreadsheet"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: legacy .xls
        return "spreadsheet"
    if head.startswith(b"PK\x03\x04") and (
        b"xl/" in head or b"[Content_Types].xml" in head or b"opendocument.spreadsheet" in head
    ):
        return "spreadsheet"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The head may end inside a multi-byte character: judge the text up to the last whole one.
        try:
            text = head[:-3].decode("utf-8") if len(head) > 3 else ""
        except UnicodeDecodeError:
            return None
    stripped = text.lstrip("\ufeff \t\r\n")
    printable = all(c.isprintable() or c in "\t\r\n" for c in text)
    if stripped and printable and not stripped.startswith("<") and ("," in text or ";" in text or "\t" in text):
        return "spreadsheet"  # CSV (not markup: HTML or SVG declared as text/csv is refused)
    return None


def family(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "image"
    if content_type == "application/pdf":
        return "pdf"
    return "spreadsheet"


class StorageUnavailable(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            503,
            "file storage is not answering right now; nothing was stored, try again in a minute",
            headers={"Retry-After": "30"},
        )


async def call(fn, **params):
    """One S3 call in a thread. A store that is down (refused, timed out, cut off, or answering a 5xx of its own)
    is StorageUnavailable; what it refuses of the request itself (a 4xx) stays a ClientError."""
    try:
        return await asyncio.to_thread(fn, **params)
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StorageUnavailable() from exc
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise StorageUnavailable() from exc
        raise


def content_disposition(filename: str) -> str:
    """RFC 6266: the exact name UTF-8 percent-encoded for browsers, and an ASCII stand-in for older clients."""
    fallback = "".join(c if " " <= c <= "~" else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Storage:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        # Browsers upload straight to the bucket from the portal's pages: those origins may PUT cross-origin.
        self.browser_origins = sorted({settings.portal_url.rstrip("/"), settings.gateway_url.rstrip("/")})
        self.s3 = self._client(settings, settings.s3_url)
        # Presigned URLs carry the address a browser reaches (FIELDOPS_S3_PUBLIC_ENDPOINT); signing needs no network.
        self.presigner = (
            self.s3 if settings.s3_public_url == settings.s3_url else self._client(settings, settings.s3_public_url)
        )

    @staticmethod
    def _client(settings: Settings, endpoint: str):
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
            region_name=settings.s3_region,
            config=CLIENT_CONFIG,
        )

    def ensure_bucket(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.s3.create_bucket(Bucket=self.bucket)
        # Set at every start, so a changed portal address reaches an existing bucket. ETag is exposed because a
        # browser's multipart upload reads each part's ETag to complete it.
        try:
            self.s3.put_bucket_cors(
                Bucket=self.bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedOrigins": self.browser_origins,
                            "AllowedMethods": ["PUT", "GET", "HEAD"],
                            "AllowedHeaders": ["*"],
                            "ExposeHeaders": ["ETag"],
                            "MaxAgeSeconds": 3600,
                        }
                    ]
                },
            )
        except ClientError as exc:
            # MinIO's community server has no per-bucket CORS: it takes its origins from MINIO_API_CORS_ALLOW_ORIGIN
            # (docker-compose.yml sets it to the portal's address) and always exposes ETag.
            if exc.response.get("Error", {}).get("Code") != "NotImplemented":
                raise

    async def presign_upload(self, key: str, content_type: str, size: int) -> tuple[dict, str | None]:
        if size <= SINGLE_PUT_MAX:
            # Signing needs no network, but a URL into a store that is down fails in the browser without a word:
            # the store is asked first, so the caller hears the 503 now.
            await call(self.s3.head_bucket, Bucket=self.bucket)
            url = await asyncio.to_thread(
                self.presigner.generate_presigned_url,
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=URL_TTL,
            )
            return {"method": "PUT", "url": url, "headers": {"Content-Type": content_type}}, None
        created = await call(self.s3.create_multipart_upload, Bucket=self.bucket, Key=key, ContentType=content_type)
        upload_id = created["UploadId"]
        parts = []
        for number in range(1, math.ceil(size / PART_SIZE) + 1):
            url = await asyncio.to_thread(
                self.presigner.generate_presigned_url,
                "upload_part",
                Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
                ExpiresIn=URL_TTL,
            )
            parts.append({"part_number": number, "url": url})
        return {"method": "PUT", "part_size": PART_SIZE, "parts": parts}, upload_id

    async def complete_multipart(self, key: str, upload_id: str, parts: list[dict]) -> None:
        await call(
            self.s3.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["part_number"], "ETag": p["etag"]} for p in parts]},
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(ClientError):
            await call(self.s3.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def size(self, key: str) -> int | None:
        try:
            head = await call(self.s3.head_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return None
        return int(head["ContentLength"])

    async def head_bytes(self, key: str, count: int = 8192) -> bytes:
        obj = await call(self.s3.get_object, Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return await call(obj["Body"].read)

    async def delete(self, key: str) -> None:
        await call(self.s3.delete_object, Bucket=self.bucket, Key=key)

    async def download_url(self, key: str, filename: str) -> str:
        return await asyncio.to_thread(
            self.presigner.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": content_disposition(filename)},
            ExpiresIn=300,
        )


def storage(state) -> Storage:
    """The service's one S3 client (boto3 clients are thread-safe and keep a connection pool)."""
    if not hasattr(state, "storage"):
        state.storage = Storage(state.settings)
    return state.storage
