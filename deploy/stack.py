"""The local stack: every real component started as a child process, in order, and stopped cleanly.

`make run` (through `fieldops run`) and the end-to-end tests use the same `Stack`, so what the tests
exercise is what a developer runs. Ports move together by FIELDOPS_PORT_OFFSET.

Nothing outlives the launcher: every component runs in one process group with a watchdog, which kills the
group as soon as the launcher's end of a pipe closes, however the launcher ended (SIGKILL included). A running
stack is listed under `.fieldops/stacks/` (by port offset), which is how `fieldops create-admin` finds it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy.local_secrets import local_secrets
from shared.contracts.names import SEARCH_ATTRIBUTES
from shared.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent
# Every port of a stack lies between 7233 and 9334 plus its offset: stacks 3000 apart never collide.
BIN = Path(sys.executable).parent
# Where running stacks are listed: tied to this installation, not to anyone's environment or directory.
REGISTRY = ROOT / ".fieldops" / "stacks"

# Reads its stdin until the launcher's end closes (the launcher stopped the stack, exited or was killed),
# then kills its whole process group: itself and every component of the stack.
WATCHDOG = "import os, signal, sys; sys.stdin.buffer.read(); os.killpg(0, signal.SIGKILL)"


class PortInUse(RuntimeError):
    """A port the stack needs is taken: the message is the one line `fieldops run` prints."""


# The dev server has one history shard, and each shard's task processors poll at most 20 times a second by
# default: every hand-off of a lifecycle (workflow task to activity, activity result back) waited in that queue.
# Raising the limits took an action's p50 from ~276 ms to ~81 ms on a 2-core machine (bench/lifecycle.py).
TEMPORAL_DYNAMIC_CONFIG = {
    "history.transferProcessorMaxPollRPS": 1000,
    "history.visibilityProcessorMaxPollRPS": 1000,
    "history.timerProcessorMaxPollRPS": 1000,
}


# A component that dies is started again after 1 s, then 2, 4 ... up to 30 s while it keeps dying soon after
# starting; one that stayed up a minute starts over from 1 s.
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
KEEP_ALIVE = 120  # seconds an idle connection to a service stays open (see _service)
# uvicorn's drain on SIGTERM: in-flight requests get this long before their connections are closed; then the
# lifespan lets running activities finish (shared/service_app.py ACTIVITY_GRACE). Stopping waits for both.
REQUEST_GRACE = 10
STOP_TIMEOUT = 30


@dataclass
class Process:
    name: str
    argv: list[str]
    ready: str | tuple[str, int]  # a URL answering 200, or a (host, port) accepting connections
    popen: subprocess.Popen | None = None
    log: Path | None = None
    started_at: float = 0.0  # time.monotonic() of the last start
    quick_deaths: int = 0  # deaths in a row, each within STABLE_AFTER of its start: sets the backoff
    restart_at: float | None = None  # when a dead component is due to start again
    # For the services: the address of a listening socket the stack holds and hands to every process it starts
    # there (uvicorn --fd). Between one process and the next, connections wait in its queue instead of being
    # refused, so a restart loses no request.
    listen: tuple[str, int] | None = None
    stop_after: float = STOP_TIMEOUT  # seconds between SIGTERM and SIGKILL

    def started(self) -> subprocess.Popen:
        """The component's process, running or exited: only one that was spawned has one."""
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen


@dataclass
class Stack:
    env: dict[str, str] = field(default_factory=dict)  # FIELDOPS_* settings for every child
    quiet: bool = False

    def __post_init__(self) -> None:
        self.environ = {**os.environ, **self.env}
        # The launcher is the explicit local mode; its secrets are the data folder's own (deploy/local_secrets.py).
        given = {"FIELDOPS_ENV": self.environ.get("FIELDOPS_ENV", "local"), **self.env}
        data = Path(self.environ.get("FIELDOPS_DATA_DIR") or Settings.model_fields["data_dir"].default).resolve()
        given |= local_secrets(data, {**self.environ, **given})
        self.environ |= given
        fields: dict[str, Any] = {
            k[len("FIELDOPS_") :].lower(): v for k, v in given.items() if k.startswith("FIELDOPS_")
        }
        self.settings = Settings(**fields)
        self.data = self.settings.data_dir.resolve()
        self.environ["FIELDOPS_DATA_DIR"] = str(self.data)
        self.processes: dict[str, Process] = {}
        self.sockets: dict[str, socket.socket] = {}
        self.watchdog: subprocess.Popen | None = None
        self.stopping = False

    def ports(self) -> dict[int, str]:
        """Every port the stack listens on, with the component that does."""
        s, p = self.settings, self.settings.port
        ports = {
            p(7233): "Temporal",
            s.temporal_ui_port: "Temporal UI",
            p(7243): "Temporal HTTP",
            p(7253): "Temporal metrics",
            s.smtp_port_effective: "SMTP sink",
            s.gateway_port: "gateway",
            p(8082): "gateway ping",
            p(9091): "workflow worker metrics",
        }
        for base in (9333, 9334, 8380, 8381, 8888, 8889, 8333, 8334):
            ports[p(base)] = "SeaweedFS"
        for name in (*SERVICES, "web"):
            ports[s.service_port(name)] = f"{name} service"
        return ports

    def check_ports(self) -> None:
        """Refuse, before anything starts, a port that something else holds: one line naming it."""
        s = self.settings
        for port, component in sorted(self.ports().items()):
            if port_is_free(s.host, port):
                continue
            holder = running_stacks().get(s.port_offset)
            who = (
                f"by another fieldops stack (pid {holder['pid']}, data in {holder['data_dir']})"
                if holder
                else "by another program"
            )
            raise PortInUse(
                f"fieldops: port {port} ({component}) on {s.host} is already in use {who}; stop it, "
                f"or move every port with FIELDOPS_PORT_OFFSET (now {s.port_offset}), "
                f"e.g. FIELDOPS_PORT_OFFSET={s.port_offset + 3000}"
            )

    # --- the components -------------------------------------------------------------------------
    def _temporal(self) -> Process:
        s = self.settings
        argv = [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data / "temporal.db"),
            "--ip",
            s.host,
            "--port",
            str(s.port(7233)),
            "--ui-port",
            str(s.temporal_ui_port),
            "--http-port",
            str(s.port(7243)),
            "--metrics-port",
            str(s.port(7253)),
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        for key, value in TEMPORAL_DYNAMIC_CONFIG.items():
            argv += ["--dynamic-config-value", f"{key}={value}"]
        return Process("temporal", argv, (s.host, s.port(7233)))

    def _seaweedfs(self) -> Process:
        s = self.settings
        config = self.data / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "fieldops",
                            "credentials": [{"accessKey": s.s3_access_key, "secretKey": s.s3_secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.data / "s3").mkdir(parents=True, exist_ok=True)
        p = s.port
        argv = [
            str(BIN / "weed"),
            "server",
            "-dir",
            str(self.data / "s3"),
            "-ip",
            s.host,
            "-ip.bind",
            s.host,
            "-master.port",
            str(p(9333)),
            "-master.port.grpc",
            str(p(9334)),
            "-volume.port",
            str(p(8380)),
            "-volume.port.grpc",
            str(p(8381)),
            "-filer.port",
            str(p(8888)),
            "-filer.port.grpc",
            str(p(8889)),
            "-s3",
            "-s3.port",
            str(p(8333)),
            "-s3.port.grpc",
            str(p(8334)),
            "-s3.config",
            str(config),
            "-s3.port.iceberg",
            "0",
            "-s3.port.lance",
            "0",
            "-master.volumeSizeLimitMB",
            "1024",
            "-volume.max",
            "0",
            "-volume.preStopSeconds",
            "0",
        ]
        # Its filer waits 15 s on SIGTERM for its own metadata subscriptions to end, which they never do; its
        # writes are already on disk (the filer's store keeps a log), so it gets 3 s.
        return Process("seaweedfs", argv, (s.host, p(8333)), stop_after=3)

    def _smtp(self) -> Process:
        s = self.settings
        return Process(
            "smtp",
            [
                sys.executable,
                "-m",
                "deploy.smtp_sink",
                "--host",
                s.host,
                "--port",
                str(s.smtp_port_effective),
                "--dir",
                str(self.data / "mail"),
            ],
            (s.smtp_host, s.smtp_port_effective),
        )

    def _service(self, name: str) -> Process:
        # Access logs on: JSON lines with the request id (shared/observability.py).
        s = self.settings
        return Process(
            name,
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"services.{name}.app:app",
                "--log-level",
                "info",
                "--timeout-graceful-shutdown",
                str(REQUEST_GRACE),
                # Longer than the gateway keeps an idle connection (Traefik: 90 s), so the gateway always closes
                # first: a connection uvicorn dropped just as Traefik reused it answered a POST or PUT with 502.
                "--timeout-keep-alive",
                str(KEEP_ALIVE),
            ],
            f"{s.service_url(name)}/healthz",
            listen=(s.host, s.service_port(name)),
        )

    def _web(self) -> Process:
        return self._service("web")

    def _worker(self) -> Process:
        return Process("workflow-worker", [sys.executable, "-m", "workflows.worker"], "")

    def _traefik(self) -> Process:
        s = self.settings
        dynamic = self.data / "traefik-routes.yml"
        dynamic.write_text(gateway_routes(s))
        static = self.data / "traefik.yml"
        static.write_text(
            json.dumps(
                {
                    "entryPoints": {
                        "web": {"address": f"{s.host}:{s.gateway_port}"},
                        "ping": {"address": f"{s.host}:{s.port(8082)}"},
                    },
                    "ping": {"entryPoint": "ping"},
                    "providers": {"file": {"filename": str(dynamic), "watch": False}},
                    "log": {"level": "WARN"},
                    "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
                    **gateway_tracing(self.environ),
                }
            )
        )
        return Process(
            "gateway", [str(BIN / "traefik"), f"--configFile={static}"], f"http://{s.host}:{s.port(8082)}/ping"
        )

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.check_ports()
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / "logs").mkdir(exist_ok=True)
        self.processes = {}  # a start after stop() begins from nothing
        self.stopping = False
        # The group's leader: every component joins its process group (see WATCHDOG).
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
        )
        self._register()
        infrastructure = [self._temporal(), self._seaweedfs(), self._smtp()]
        for process in infrastructure:
            self._spawn(process)
        for process in infrastructure:
            self._wait(process)
        for service in SERVICES:
            migrations_env = {**os.environ, **self.environ}
            subprocess.run(
                [sys.executable, "-c", f"from shared.migrations import upgrade; upgrade({service!r})"],
                check=True,
                cwd=ROOT,
                env=migrations_env,
            )
        self._ensure_bucket()
        for service in SERVICES:
            self._spawn(self._service(service))
        self._spawn(self._worker())
        self._spawn(self._web())
        self._spawn(self._traefik())
        for process in self.processes.values():
            self._wait(process)

    def _spawn(self, process: Process) -> None:
        process.log = self.data / "logs" / f"{process.name}.log"
        with open(process.log, "ab") as out:  # the child keeps its own copy of the descriptor
            # Its own process group (the watchdog's), apart from the launcher's: a Ctrl-C in the terminal
            # reaches the launcher alone, which stops the components in order.
            argv = process.argv
            fds: tuple[int, ...] = ()
            if self.watchdog is None:
                raise RuntimeError("the watchdog starts before any component")
            if process.listen:
                fds = (self._listening(process).fileno(),)
                argv = [*argv, "--fd", str(fds[0])]
            process.popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.environ,
                stdout=out,
                pass_fds=fds,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=self.watchdog.pid,
            )
        process.started_at, process.restart_at = time.monotonic(), None
        self.processes[process.name] = process

    def _listening(self, process: Process) -> socket.socket:
        if process.name not in self.sockets:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # uvicorn --fd wraps the socket as AF_UNIX, so asyncio never turns Nagle off on the connections it
            # accepts: every answer on a kept-alive connection then waited ~40 ms for the caller's delayed ACK.
            # Linux hands TCP_NODELAY on from the listening socket to each accepted one.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if process.listen is None:
                raise RuntimeError(f"{process.name} listens on no address")
            sock.bind(process.listen)
            sock.listen(2048)
            self.sockets[process.name] = sock
        return self.sockets[process.name]

    def _wait(self, process: Process, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.started().poll() is not None:
                log = process.log.read_text()[-3000:] if process.log is not None else ""
                raise RuntimeError(
                    f"{process.name} exited with {process.started().returncode}; see {process.log}:\n" + log
                )
            if not process.ready or self._answers(process.ready):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{process.name} did not become ready in {timeout}s; see {process.log}")

    @staticmethod
    def _answers(ready: str | tuple[str, int]) -> bool:
        try:
            if isinstance(ready, tuple):
                with socket.create_connection(ready, timeout=1):
                    return True
            return httpx.get(ready, timeout=2).status_code == 200
        except (OSError, httpx.HTTPError):
            return False

    def _ensure_bucket(self) -> None:
        from deploy.prepare import ensure_bucket

        deadline = time.monotonic() + 60
        while True:
            try:
                ensure_bucket(self.settings)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def restart(self, name: str, hard: bool = False) -> None:
        """Stop one component (kill -9 when `hard`) and start it again: for durability tests."""
        process = self.processes[name]
        self._stop(process, hard=hard)
        self._spawn(process)
        self._wait(self.processes[name])

    def kill(self, name: str) -> None:
        self._stop(self.processes[name], hard=True)

    def revive(self, name: str) -> None:
        process = self.processes[name]
        self._spawn(process)
        self._wait(self.processes[name])

    @staticmethod
    def _stop(process: Process, hard: bool = False) -> None:
        if process.popen is None or process.popen.poll() is not None:
            return
        process.popen.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            process.popen.wait(process.stop_after)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def supervise(self) -> list[str]:
        """Starts again any component that died (what `fieldops run` calls every half second), after a backoff
        that doubles while it keeps dying soon after starting. Nothing is restarted once the stack is stopping.
        Returns what it did, a line each, for the launcher to print."""
        said = []
        for process in list(self.processes.values()):
            if self.stopping:
                break
            code, now = process.started().poll(), time.monotonic()
            if code is None:
                continue
            if process.restart_at is None:
                quick = now - process.started_at < STABLE_AFTER
                process.quick_deaths = process.quick_deaths + 1 if quick else 1
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (process.quick_deaths - 1))
                process.restart_at = now + delay
                said.append(
                    f"fieldops: {process.name} exited ({code}); restarting it in {delay:g}s (see {process.log})"
                )
            elif now >= process.restart_at:
                self._spawn(process)
                said.append(f"fieldops: {process.name} restarted (pid {process.started().pid})")
        return said

    def stop(self) -> None:
        self.stopping = True
        for process in reversed(list(self.processes.values())):
            self._stop(process)
        if self.watchdog is not None:
            if self.watchdog.stdin is not None:
                self.watchdog.stdin.close()  # anything left in the group goes with the watchdog
            self.watchdog.wait()
            self.watchdog = None
            self._unregister()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()

    # --- the list of running stacks -----------------------------------------------------------------
    def _entry(self) -> Path:
        return REGISTRY / f"{self.settings.port_offset}.json"

    def _register(self) -> None:
        REGISTRY.mkdir(parents=True, exist_ok=True)
        entry = {
            "pid": os.getpid(),
            "port_offset": self.settings.port_offset,
            "data_dir": str(self.data),
            "intake_database": self.settings.database_url("intake"),
            "api_url": self.settings.api_url,
            "host": self.settings.host,
            "gateway_port": self.settings.gateway_port,
        }
        # Only its owner reads it: a PostgreSQL URL may carry a password.
        fd = os.open(self._entry(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(entry, out)

    def _unregister(self) -> None:
        try:
            if json.loads(self._entry().read_text())["pid"] == os.getpid():
                self._entry().unlink()
        except (OSError, ValueError, KeyError):
            pass

    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "Portal (web)": f"{s.gateway_url}/",
            "API (gateway)": s.api_url,
            "OpenAPI": f"{s.api_url}/openapi.json",
            "Temporal UI": f"http://{s.host}:{s.temporal_ui_port}",
            "Temporal frontend": s.temporal_target,
            "S3 (SeaweedFS)": s.s3_url,
            "SMTP (mail kept in)": f"{s.smtp_host}:{s.smtp_port_effective} -> {self.data / 'mail'}",
            **{f"{name} service": s.service_url(name) for name in (*SERVICES, "web")},
        }


def gateway_tracing(environ: dict[str, str]) -> dict:
    """Traefik's OTLP tracing, when the standard OTEL_EXPORTER_OTLP_ENDPOINT is set: traces begin at the gateway,
    which passes their context on to the services."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return {}
    return {
        "tracing": {
            "serviceName": "fieldops-gateway",
            "otlp": {"http": {"endpoint": f"{endpoint.rstrip('/')}/v1/traces"}},
        }
    }


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen here now. SO_REUSEADDR, as the servers set it: a port held only by
    connections closing after a stack stopped (TIME_WAIT) is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def running_stacks() -> dict[int, dict]:
    """The stacks listed as running, by port offset: their launcher is alive and their gateway answers."""
    stacks = {}
    for path in REGISTRY.glob("*.json"):
        try:
            entry = json.loads(path.read_text())
            os.kill(entry["pid"], 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable, or its launcher is gone
        if Stack._answers((entry["host"], entry["gateway_port"])):
            stacks[entry["port_offset"]] = entry
    return stacks


# Which service answers which path: the public API under /api/v1, by prefix.
ROUTES = {
    "intake": [
        "/api/v1/auth",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/account-requests",
        "/api/v1/customers",
        "/api/v1/assets",
        "/api/v1/requests",
        "/api/v1/changes",
        "/api/v1/openapi.json",
        "/api/v1/intake",
        "/api/v1/docs",
    ],  # the whole gateway's docs page and the docs pages' local assets
    "routing": ["/api/v1/providers", "/api/v1/teams", "/api/v1/work-events", "/api/v1/work-orders", "/api/v1/routing"],
    "invoicing": [
        "/api/v1/provider-invoices",
        "/api/v1/payment-runs",
        "/api/v1/payments",
        "/api/v1/invoices",
        "/api/v1/invoicing",
    ],
    "notifications": ["/api/v1/notifications", "/api/v1/notifications-service"],
}


def gateway_routes(s: Settings) -> str:
    """Traefik's file-provider routes (JSON is valid YAML). The gateway only routes: every service checks each
    call's token itself (shared/auth.py), and `/internal` is never routed."""
    routers: dict = {}
    services: dict = {}
    for name, prefixes in ROUTES.items():
        services[name] = {"loadBalancer": {"servers": [{"url": s.service_url(name)}]}}
        rule = " || ".join(f"PathPrefix(`{p}`)" for p in prefixes)
        routers[name] = {"rule": rule, "service": name, "entryPoints": ["web"]}
    # The work-event list is served by intake beside the read copy it filters; actions go to routing.
    routers["work-events-list"] = {
        "rule": "Method(`GET`) && Path(`/api/v1/work-events`)",
        "service": "intake",
        "entryPoints": ["web"],
        "priority": 900,
    }
    for service_name in ("routing", "invoicing", "notifications"):
        routers[f"{service_name}-docs"] = {
            "rule": f"Path(`/api/v1/{service_name}/docs`) || Path(`/api/v1/{service_name}/openapi.json`)",
            "service": service_name,
            "entryPoints": ["web"],
            "priority": 1100,
        }
    # The portal answers everything else (its own sign-in decides who may see a page).
    services["web"] = {"loadBalancer": {"servers": [{"url": s.service_url("web")}]}}
    routers["web"] = {"rule": "PathPrefix(`/`)", "service": "web", "entryPoints": ["web"], "priority": 1}
    return json.dumps({"http": {"routers": routers, "services": services}}, indent=1)
