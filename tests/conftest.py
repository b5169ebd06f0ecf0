"""Shared fixtures. One real stack per test session (SQLite defaults), started the way `make run` starts it;
the PostgreSQL stack lives only as long as the module that asks for it. Each test makes its own customer."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.support.api import Api, Cast, User, create_admin, make_cast
from tests.support.postgres import postgres_server, service_databases

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-for-tests"
# Ports of test stacks sit above the defaults, so a `make run` on this machine is never disturbed, and below
# 32768, where Linux picks the local ports of outgoing connections. A stack spans 2,100 ports: the session
# stack uses the offset, the PostgreSQL, durability and restart stacks +3000, +6000 and +9000.
PORT_OFFSET = int(os.environ.get("FIELDOPS_TEST_PORT_OFFSET", "10000"))
# The tests' own process reads settings too (to sign a token of its own, say): test mode, with its fixed secrets.
os.environ.setdefault("FIELDOPS_ENV", "test")

# Short clocks would make the shared stack's requests expire mid-test: the e2e stacks keep production clocks;
# workflow tests use the time-skipping server instead. Schedule intervals are aligned to the epoch, so a daily
# payment run fires at midnight UTC and would pay a test's invoice before the test starts its own run; every
# 3,650 days it next fires in December 2029.
BASE_ENV = {"FIELDOPS_ENV": "test", "FIELDOPS_PAYMENT_RUN_EVERY": "P3650D"}


class RunningStack:
    def __init__(self, stack: Stack, env: dict[str, str]) -> None:
        self.stack = stack
        self.env = {**os.environ, **env}
        self.settings = stack.settings
        self.api_url = stack.settings.api_url
        self.mail_dir = stack.data / "mail"


def start_stack(name: str, offset: int, extra: dict[str, str] | None = None):
    data = Path(tempfile.mkdtemp(prefix=f"fieldops-{name}-"))
    env = {**BASE_ENV, "FIELDOPS_DATA_DIR": str(data), "FIELDOPS_PORT_OFFSET": str(offset), **(extra or {})}
    stack = Stack(env=env)
    running = RunningStack(stack, env)
    try:
        stack.start()
        create_admin(running.env, ADMIN_EMAIL, ADMIN_PASSWORD)
    except BaseException:
        stack.stop()
        raise
    return running, data


@contextmanager
def running_stack(name: str, offset: int, extra: dict[str, str] | None = None):
    """A stack of its own for as long as the block lasts; its data folder goes with it."""
    running, data = start_stack(name, offset, extra)
    try:
        yield running
    finally:
        running.stack.stop()
        keep_logs(name, data / "logs")
        shutil.rmtree(data, ignore_errors=True)


ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
LOG_PROBLEM = ("Traceback", '"level": "ERROR"', '"level": "CRITICAL"')


def keep_logs(name: str, logs: Path) -> None:
    """A stack's logs outlive its data folder (.artifacts/logs/<stack>/): a failure can be read afterwards."""
    if logs.is_dir():
        target = ARTIFACTS / "logs" / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(logs, target, dirs_exist_ok=True)


def pytest_sessionstart(session) -> None:
    """Only this run's stacks are read on a red run: logs of an earlier run's stacks would mislead."""
    shutil.rmtree(ARTIFACTS / "logs", ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """On a red run, the stacks' own complaints are printed with the failures: a CI log then says why a service
    answered 502 or 500, not only that it did."""
    if exitstatus == 0 or not (ARTIFACTS / "logs").is_dir():
        return
    terminalreporter.section("stack logs: problems")
    for log in sorted((ARTIFACTS / "logs").glob("*/*.log")):
        lines = log.read_text(errors="replace").splitlines()
        problems = [i for i, line in enumerate(lines) if any(mark in line for mark in LOG_PROBLEM)]
        for i in problems[-5:]:
            terminalreporter.write_line(f"{log.parent.name}/{log.name}: " + " | ".join(lines[i : i + 3])[:600])


@pytest.fixture(scope="session")
def stack():
    with running_stack("sqlite", PORT_OFFSET) as running:
        yield running


@pytest.fixture(scope="module")
def pg_stack():
    with postgres_server() as admin_url, service_databases(admin_url) as urls:
        extra = {f"FIELDOPS_DB_{service.upper()}": url for service, url in urls.items()}
        with running_stack("postgres", PORT_OFFSET + 3000, extra) as running:
            yield running


@pytest.fixture(scope="session")
async def api(stack):
    client = Api(stack.api_url)
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def admin(api) -> User:
    return await api.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
async def cast(api, admin) -> Cast:
    """A fresh customer organisation, provider company and staff for one test."""
    return await make_cast(api, admin)
