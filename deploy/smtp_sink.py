"""The local stack's mail server: an SMTP server on loopback that keeps every message it receives as one
`.eml` file under `<data folder>/mail/`. `python -m deploy.smtp_sink --port 8025 --dir .fieldops/mail`"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller


class KeepEverything:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:
        # One file per message received: a message delivered twice shows up as two files.
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.folder / f".{name}.tmp"
        temporary.write_bytes(envelope.original_content or envelope.content)
        temporary.rename(self.folder / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(KeepEverything(args.dir), hostname=args.host, port=args.port)
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
