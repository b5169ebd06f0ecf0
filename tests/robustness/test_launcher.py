"""`fieldops run` (what `make run` runs) and `fieldops create-admin`, as real processes on stacks of their own:
a second launcher or a taken port is one line, create-admin finds the running stack from anywhere, and a
SIGKILLed launcher leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from deploy.stack import ROOT, Stack, port_is_free
from tests.conftest import PORT_OFFSET

pytestmark = pytest.mark.e2e
FIELDOPS = str(Path(sys.executable).parent / "fieldops")


def free_offset(start: int) -> int:
    """An offset from `start` on whose ports nothing listens (other stacks may run on this machine)."""
    for offset in range(start, start + 200):
        stack = Stack(env={"FIELDOPS_PORT_OFFSET": str(offset)})
        if all(port_is_free(stack.settings.host, port) for port in stack.ports()):
            return offset
    raise AssertionError(f"no free port offset from {start}")


class Launcher:
    """`fieldops run` in the background, its output collected line by line."""

    def __init__(self, offset: int, data: Path) -> None:
        env = {**os.environ, "FIELDOPS_PORT_OFFSET": str(offset), "FIELDOPS_DATA_DIR": str(data)}
        self.popen = subprocess.Popen(
            [FIELDOPS, "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 600, after: int = 0) -> None:
        """Waits for a line with `text` among the launcher's lines from index `after` on (earlier lines may
        tell of an earlier, similar event)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines[after:]):
            if self.popen.poll() is not None:
                time.sleep(0.5)  # the last lines
                if not any(text in line for line in self.lines[after:]):
                    raise AssertionError(f"the launcher exited ({self.popen.returncode}):\n" + "\n".join(self.lines))
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {timeout}s:\n" + "\n".join(self.lines))
            time.sleep(0.5)


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def exited(pid: int) -> bool:
    """Whether every thread of a process has exited. A killed multi-threaded process shows its leader as a
    zombie while its other threads still run their exit, holding the process's sockets."""
    states = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue  # gone between the listing and the read
        states.append(text[text.rindex(")") + 2])
    return all(state in "ZX" for state in states)


def live_in_group(pgid: int) -> list[int]:
    return [pid for pid, (_, _, group) in processes().items() if group == pgid and not exited(pid)]


def held_ports(stack: Stack, timeout: float = 30) -> list[int]:
    """The stack's ports still held after `timeout` seconds: the kernel closes a dead process's sockets as it
    reaps it, which on a loaded machine can take a moment after the process is gone."""
    deadline = time.monotonic() + timeout
    while True:
        held = [port for port in stack.ports() if not port_is_free(stack.settings.host, port)]
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def run_cli(args: list[str], env: dict[str, str], cwd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([FIELDOPS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_taken_port_is_one_line_and_starts_nothing(tmp_path):
    offset = free_offset(PORT_OFFSET + 60)
    stack = Stack(env={"FIELDOPS_PORT_OFFSET": str(offset)})
    with socket.socket() as squatter:
        squatter.bind((stack.settings.host, stack.settings.gateway_port))
        squatter.listen()
        env = {**os.environ, "FIELDOPS_PORT_OFFSET": str(offset), "FIELDOPS_DATA_DIR": str(tmp_path / "data")}
        done = subprocess.run([FIELDOPS, "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert str(stack.settings.gateway_port) in lines[0] and f"FIELDOPS_PORT_OFFSET (now {offset})" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing started, nothing written


def test_the_launcher_second_launcher_create_admin_and_sigkill():
    offset = free_offset(PORT_OFFSET + 40)
    data = Path(tempfile.mkdtemp(prefix="fieldops-launcher-"))
    api = f"http://127.0.0.1:{8000 + offset}/api/v1"
    first, again, group = Launcher(offset, data), None, None
    try:
        first.wait_for("fieldops is up")
        children = [pid for pid, (_, parent, _) in processes().items() if parent == first.popen.pid]
        group = proc_stat(children[0])[2]
        assert len(live_in_group(group)) >= 10  # the watchdog and every component

        # A second launcher at the same offset: one line naming the port and FIELDOPS_PORT_OFFSET, at once.
        env = {**os.environ, "FIELDOPS_PORT_OFFSET": str(offset), "FIELDOPS_DATA_DIR": str(data / "second")}
        second = subprocess.run([FIELDOPS, "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert second.returncode == 1 and len(lines) == 1, lines
        assert "already in use by another fieldops stack" in lines[0] and "FIELDOPS_PORT_OFFSET" in lines[0]
        assert str(data) in lines[0]
        assert httpx.get(f"{api}/openapi.json", timeout=30).status_code == 200  # the first one is untouched

        # create-admin from another directory, with nothing but the offset in its environment; then with a
        # FIELDOPS_DATA_DIR that points elsewhere: both reach the running stack, and say where they wrote.
        for n, env in enumerate(
            [
                {"FIELDOPS_PORT_OFFSET": str(offset)},
                {"FIELDOPS_PORT_OFFSET": str(offset), "FIELDOPS_DATA_DIR": "/nonexistent/x", "PATH": "/usr/bin:/bin"},
            ]
        ):
            email = f"launcher-admin-{n}@example.com"
            made = run_cli(["create-admin", "--email", email, "--password", "a-long-secret-1"], env, cwd="/")
            assert made.returncode == 0, made.stderr
            assert "created" in made.stdout and str(data) in made.stdout and api in made.stdout, made.stdout
            token = httpx.post(f"{api}/auth/token", data={"username": email, "password": "a-long-secret-1"}, timeout=60)
            assert token.status_code == 200, token.text
        wrong = run_cli(
            ["create-admin", "--email", "x@example.com", "--password", "a-long-secret-1"],
            {"FIELDOPS_PORT_OFFSET": str(free_offset(offset + 1))},
            cwd="/",
        )
        assert wrong.returncode != 0 and "FIELDOPS_PORT_OFFSET" in wrong.stderr

        # SIGKILL the launcher: every process of the stack goes with it, and the ports are free again.
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait()
        deadline = time.monotonic() + 60
        while live_in_group(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert live_in_group(group) == []
        assert held_ports(Stack(env={"FIELDOPS_PORT_OFFSET": str(offset)})) == []

        # The next launcher starts on the same data and stops cleanly on Ctrl-C.
        again = Launcher(offset, data)
        again.wait_for("fieldops is up")
        children = [pid for pid, (_, parent, _) in processes().items() if parent == again.popen.pid]
        group = proc_stat(children[0])[2]
        token = httpx.post(
            f"{api}/auth/token",
            data={"username": "launcher-admin-0@example.com", "password": "a-long-secret-1"},
            timeout=60,
        )
        assert token.status_code == 200
        again.popen.send_signal(signal.SIGINT)
        assert again.popen.wait(timeout=120) == 0
        assert live_in_group(group) == []
    finally:
        for launcher in (first, again):
            if launcher is not None and launcher.popen.poll() is None:
                launcher.popen.kill()
        if group is not None and live_in_group(group):
            os.killpg(group, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(data)], check=False)


def test_the_services_sockets_send_each_answer_at_once(stack):
    """uvicorn --fd wraps the launcher's socket as AF_UNIX, so asyncio never turns Nagle off on what it accepts:
    an answer written in two parts on a kept-alive connection then waited for the caller's delayed ACK (a GET
    took 48 ms instead of 5). The listening socket carries TCP_NODELAY, which Linux hands to each accepted one."""
    assert set(stack.stack.sockets) >= {"intake", "routing", "invoicing", "notifications", "web"}
    for name, sock in stack.stack.sockets.items():
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), name
