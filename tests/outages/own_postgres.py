"""A PostgreSQL server of the tests' own, in a temporary folder on a free port, which a test may stop and start
again at will (a shared server must never be restarted). Debian's initdb and pg_ctl, found on PATH or through
`pg_config --bindir`; run as the `postgres` user when the tests run as root, since PostgreSQL refuses root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _program(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    bindir = subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
    return str(Path(bindir) / name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnPostgres:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_owner, *argv], check=True, capture_output=True, cwd=self.root)

    def init(self) -> None:
        if self.as_owner:
            shutil.chown(self.root, "postgres")
        self._run(_program("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        # fsync off: the tests restart the server cleanly and never need its data after a crash of the machine.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off"
        )
        self._run(
            _program("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        # Fast: open sessions are cut, as a restart in production cuts them.
        self._run(_program("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextmanager
def own_postgres():
    """Yields a running OwnPostgres; the server and its folder go afterwards."""
    server = OwnPostgres(Path(tempfile.mkdtemp(prefix="fieldops-pg-")))
    try:
        server.init()
        server.start()
        yield server
    finally:
        subprocess.run(
            [*server.as_owner, _program("pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(server.root, ignore_errors=True)
