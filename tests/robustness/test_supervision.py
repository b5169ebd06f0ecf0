"""`fieldops run` keeps its stack whole: a component that dies is started again; a SIGTERM lets a service or the
workflow worker finish what it has in hand, so a lifecycle running across their restarts loses nothing and runs
every activity on its first attempt."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from deploy.stack import Stack
from shared.contracts.names import request_workflow_id
from shared.temporal import connect
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BASE_ENV, PORT_OFFSET
from tests.robustness.test_launcher import Launcher, free_offset, processes
from tests.support.api import Api, ApiError, create_admin, lifecycle, make_cast, wait_for

pytestmark = pytest.mark.e2e
RESTARTED = {
    "routing": "services.routing.app:app",
    "notifications": "services.notifications.app:app",
    "workflow-worker": "workflows.worker",
}


class Launched:
    def __init__(self, launcher: Launcher, stack: Stack) -> None:
        self.launcher = launcher
        self.settings = stack.settings
        self.logs = stack.data / "logs"

    def pid_of(self, module: str) -> int:
        """The launcher's child running `module` (e.g. services.routing.app:app)."""
        for pid, (state, parent, _) in processes().items():
            if parent == self.launcher.popen.pid and state != "Z":
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if module.encode() in argv:
                    return pid
        raise AssertionError(f"no process runs {module}")


@pytest.fixture(scope="module")
def launched():
    # Clear of the session stack and the other test stacks (no port of one is a port of another).
    offset = free_offset(PORT_OFFSET + 112)
    data = Path(tempfile.mkdtemp(prefix="fieldops-supervision-"))
    env = {**BASE_ENV, "FIELDOPS_PORT_OFFSET": str(offset), "FIELDOPS_DATA_DIR": str(data)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in BASE_ENV.items():
            patch.setenv(key, value)
        launcher = Launcher(offset, data)
    try:
        launcher.wait_for("fieldops is up")
        create_admin({**os.environ, **env}, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield Launched(launcher, Stack(env=env))
    finally:
        if launcher.popen.poll() is None:
            launcher.popen.send_signal(signal.SIGINT)
            try:
                launcher.popen.wait(timeout=120)
            except Exception:
                launcher.popen.kill()
        shutil.rmtree(data, ignore_errors=True)


def test_a_killed_service_is_started_again(launched):
    before = launched.pid_of("services.routing.app:app")
    os.kill(before, signal.SIGKILL)
    launched.launcher.wait_for("fieldops: routing exited (-9); restarting it in 1s", timeout=30)
    launched.launcher.wait_for("fieldops: routing restarted", timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{launched.settings.service_url('routing')}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        raise AssertionError("routing did not come back")
    assert launched.pid_of("services.routing.app:app") != before


async def test_sigterm_mid_lifecycle_loses_nothing_and_runs_every_activity_once(launched):
    api = Api(launched.settings.api_url)
    try:
        cast = await make_cast(api, await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD))
        timings: list[float] = []  # one entry per action answered
        running = asyncio.create_task(lifecycle(api, cast, timings=timings))

        # Mid-lifecycle, four actions in (created, published, assigned, accepted): API calls (routing), email
        # deliveries (notifications) and workflow tasks (the worker) are in hand; calls that arrive while a
        # service is down wait for the next one on the socket it keeps. Counted, not timed: a lifecycle can
        # take less than two seconds in all.
        async def four_in_or_over() -> bool:
            return len(timings) >= 4 or running.done()

        await wait_for(four_in_or_over, interval=0.02)
        assert not running.done()
        signalled_at = len(launched.launcher.lines)  # the first test's kill and restart of routing are before it
        for module in RESTARTED.values():
            os.kill(launched.pid_of(module), signal.SIGTERM)
        try:
            done = await asyncio.wait_for(running, timeout=120)
        except ApiError as exc:  # what the services said about it
            tails = {name: (launched.logs / f"{name}.log").read_text()[-3000:] for name in RESTARTED}
            raise AssertionError(f"{exc}\n{tails}") from exc
    finally:
        await api.close()
    assert (done["status"], done["billing_status"]) == ("paid", "paid")
    for name in RESTARTED:
        launched.launcher.wait_for(f"fieldops: {name} restarted", timeout=60, after=signalled_at)
        # A clean exit (uvicorn ends by the signal it drained on), not a kill after a timeout.
        lines = launched.launcher.lines[signalled_at:]
        exits = [line for line in lines if line.startswith(f"fieldops: {name} exited")]
        assert exits and ("(0)" in exits[-1] or "(-15)" in exits[-1]), exits
    assert "Application shutdown complete" in (launched.logs / "notifications.log").read_text()

    client = await connect(launched.settings)
    workflow = client.get_workflow_handle(request_workflow_id(done["number"]))
    await asyncio.wait_for(workflow.result(), timeout=60)  # its last emails go out after the last API call
    history = await workflow.fetch_history()
    events = history.events
    started = [
        e.activity_task_started_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    completed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert started and [a.attempt for a in started] == [1] * len(started)
    assert len(completed) == len(scheduled) == len(started)
