"""A 500 MB attachment never passes through our processes: every service's memory stays flat.

    FIELDOPS_TEST_PORT_OFFSET=22000 .venv/bin/python bench/upload_memory.py [--mb 500]

Starts its own local stack (the one the tests start, SQLite, at the port offset given), makes a customer and a
request, then uploads a generated file of the given size as a presigned multipart upload straight to S3,
streaming each part (never holding the file), completes it, and streams it back through the download redirect.
A small upload warms the services first. Meanwhile it samples the resident memory (VmRSS from /proc) of the four
service processes every 100 ms and prints, per service, RSS before, peak during and after, in MiB. The upload's
throughput is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, running_stack  # noqa: E402
from tests.portal.support import PNG_BYTES, SERVICES, put_parts, service_rss, upload  # noqa: E402
from tests.support.api import Api, make_cast  # noqa: E402

MB = 1024 * 1024


async def measure(running, size: int) -> None:
    api = Api(running.api_url)
    admin = await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    cast = await make_cast(api, admin)
    number = (
        await cast.customer.post(
            "/requests",
            {
                "customer_id": cast.customer_id,
                "asset_id": cast.asset_id,
                "kind": "service_call",
                "priority": "normal",
                "summary": "Large drawing set",
            },
            expect=201,
        )
    )["number"]
    # Warm up first (intake's S3 client, the routes' first calls) with a small file, so that what is measured is
    # what the size of the file costs.
    small = await upload(cast.customer, number, PNG_BYTES)
    await cast.customer.post(f"/requests/{number}/attachments/{small['id']}/complete", {})
    await api.http.get(f"/requests/{number}/attachments/{small['id']}/download", headers=cast.customer.headers)
    before = service_rss(running)
    peak = dict(before)
    sampling = True

    async def sample() -> None:
        while sampling:
            for name, value in service_rss(running).items():
                peak[name] = max(peak[name], value)
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    created = await cast.customer.post(
        f"/requests/{number}/attachments",
        {"filename": "drawings.pdf", "content_type": "application/pdf", "size_bytes": size},
        expect=201,
    )
    plan = created["upload"]
    etags = await put_parts(plan, size)
    done = await cast.customer.post(f"/requests/{number}/attachments/{created['id']}/complete", {"parts": etags})
    upload_seconds = time.perf_counter() - started
    assert done["status"] == "stored" and done["size_bytes"] == size
    async with httpx.AsyncClient(timeout=600) as s3:
        redirect = await api.http.get(
            f"/requests/{number}/attachments/{created['id']}/download", headers=cast.customer.headers
        )
        assert redirect.status_code == 307
        received = 0
        async with s3.stream("GET", redirect.headers["location"]) as download:
            async for chunk in download.aiter_bytes():
                received += len(chunk)
        assert received == size, received
    sampling = False
    await sampler
    after = service_rss(running)
    await api.close()
    print(
        f"uploaded {size // MB} MB in {len(plan['parts'])} parts in {upload_seconds:.1f}s "
        f"({size / MB / upload_seconds:.0f} MB/s), downloaded it back ({received // MB} MB)"
    )
    print(f"{'service':14} {'before MiB':>11} {'peak MiB':>9} {'after MiB':>10} {'growth MiB':>11}")
    for name in SERVICES:
        print(
            f"{name:14} {before[name] / 1024:11.1f} {peak[name] / 1024:9.1f} {after[name] / 1024:10.1f} "
            f"{(peak[name] - before[name]) / 1024:11.1f}"
        )
    worst = max(peak[name] - before[name] for name in SERVICES) / 1024
    print(f"largest growth of any service: {worst:.1f} MiB for a {size // MB} MB file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("FIELDOPS_TEST_PORT_OFFSET", "22000")))
    args = parser.parse_args()
    with running_stack("bench-upload", args.port_offset) as running:
        asyncio.run(measure(running, args.mb * MB))


if __name__ == "__main__":
    main()
