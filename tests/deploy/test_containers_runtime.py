"""What the containers need of the code: presigned URLs a browser on the host can use while the services talk to
object storage inside the network, a bucket made on an S3 server without per-bucket CORS (MinIO), and the health
probes of deploy/healthcheck.py. No network: presigning is local, S3 answers are stubbed."""

from __future__ import annotations

import http.server
import threading
from urllib.parse import urlsplit

import pytest
from botocore.stub import Stubber

from deploy import healthcheck
from services.intake.storage import Storage
from shared.settings import Settings

INTERNAL, PUBLIC = "http://minio:9000", "http://localhost:9000"


def storage(**extra) -> Storage:
    return Storage(Settings(s3_endpoint=INTERNAL, s3_access_key="k", s3_secret_key="s", **extra))


async def test_presigned_urls_carry_the_public_endpoint_and_the_services_the_internal_one():
    store = storage(s3_public_endpoint=PUBLIC)
    assert store.s3.meta.endpoint_url == INTERNAL
    with Stubber(store.s3) as s3:  # the store is asked whether it answers before a URL into it is handed out
        s3.add_response("head_bucket", {}, {"Bucket": store.bucket})
        upload, upload_id = await store.presign_upload("requests/SR-1/a", "image/png", 1000)
    assert upload_id is None and urlsplit(upload["url"]).netloc == "localhost:9000"
    assert urlsplit(await store.download_url("requests/SR-1/a", "photo.png")).netloc == "localhost:9000"
    # A large file: the multipart upload is created inside the network, its parts presigned for the browser.
    with Stubber(store.s3) as s3:
        s3.add_response(
            "create_multipart_upload",
            {"UploadId": "u-1", "Bucket": store.bucket, "Key": "k"},
            {"Bucket": store.bucket, "Key": "requests/SR-1/b", "ContentType": "application/pdf"},
        )
        upload, upload_id = await store.presign_upload("requests/SR-1/b", "application/pdf", 300 * 1024 * 1024)
    assert upload_id == "u-1"
    assert {urlsplit(part["url"]).netloc for part in upload["parts"]} == {"localhost:9000"}


async def test_without_a_public_endpoint_presigned_urls_use_the_one_endpoint():
    store = storage()
    assert store.presigner is store.s3
    with Stubber(store.s3) as s3:
        s3.add_response("head_bucket", {}, {"Bucket": store.bucket})
        upload, _ = await store.presign_upload("requests/SR-1/a", "image/png", 10)
    assert urlsplit(upload["url"]).netloc == "minio:9000"


def test_a_bucket_is_made_on_a_server_that_keeps_cors_server_wide():
    store = storage()
    with Stubber(store.s3) as s3:
        s3.add_client_error("head_bucket", "404", http_status_code=404)
        s3.add_response("create_bucket", {})
        s3.add_client_error("put_bucket_cors", "NotImplemented", http_status_code=501)
        store.ensure_bucket()  # MinIO: no per-bucket CORS, and no failure
        s3.assert_no_pending_responses()
    with Stubber(store.s3) as s3, pytest.raises(Exception, match="AccessDenied"):
        s3.add_response("head_bucket", {})
        s3.add_client_error("put_bucket_cors", "AccessDenied", http_status_code=403)
        store.ensure_bucket()  # any other refusal still stops `fieldops prepare`


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_http_probe(local_server):
    assert healthcheck.main(["http", f"{local_server}/healthz"]) == 0
    assert healthcheck.main(["http", f"{local_server}/other"]) == 1
    assert healthcheck.main(["http", "http://127.0.0.1:1/healthz"]) == 1
    assert healthcheck.main([]) == 2


class _Poller:
    def __init__(self, identity: str, seconds_ago: float) -> None:
        import time

        from google.protobuf.timestamp_pb2 import Timestamp

        self.identity = identity
        self.last_access_time = Timestamp(seconds=int(time.time() - seconds_ago))


def test_the_worker_probe_looks_for_this_hosts_poller(monkeypatch):
    import socket

    pollers: list[_Poller] = []

    class Service:
        async def describe_task_queue(self, request, timeout):
            assert request.task_queue.name == "service-requests"
            return type("Answer", (), {"pollers": pollers})()

    class Client:
        workflow_service = Service()

    async def connect(settings):
        return Client()

    monkeypatch.setattr("shared.temporal.connect", connect)
    host = socket.gethostname()
    assert healthcheck.main(["worker"]) == 1  # nobody polls
    pollers.append(_Poller("123@another-host", 1))
    assert healthcheck.main(["worker"]) == 1  # another container's worker
    pollers.append(_Poller(f"7@{host}", healthcheck.POLLER_SEEN_WITHIN + 60))
    assert healthcheck.main(["worker"]) == 1  # this host's worker, gone quiet
    pollers.append(_Poller(f"8@{host}", 5))
    assert healthcheck.main(["worker"]) == 0


def test_the_migrated_probe_waits_for_the_services_migrations(tmp_path, monkeypatch):
    from shared import migrations
    from shared.settings import get_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}"
    monkeypatch.setenv("FIELDOPS_DB_ROUTING", url)
    get_settings.cache_clear()
    try:
        assert healthcheck.main(["migrated", "routing"]) == 1  # nothing applied yet
        migrations.upgrade("routing", url)
        assert healthcheck.main(["migrated", "routing"]) == 0
        assert healthcheck.main(["migrated", "nonsense"]) == 1
    finally:
        get_settings.cache_clear()
