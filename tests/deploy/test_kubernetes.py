"""deploy/k8s, checked offline: every manifest (each file, and the base and the local overlay as kustomize renders
them) valid against the Kubernetes schemas of `kubernetes-validate`; every kustomization lists every file there is;
a Deployment with probes and resources, a Service, an HPA and a PDB for every service and the worker; the ConfigMap
and Secret carrying every setting the local stack derives; the Ingress and the gateway routing as the local stack's
gateway does; the migration Job; and Temporal's chart values in step with docker-compose.yml and the local stack."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from sqlalchemy import make_url

from deploy.stack import TEMPORAL_DYNAMIC_CONFIG, Stack, gateway_routes
from shared.settings import LOCAL_SECRETS, SERVICES, Settings
from tests.deploy import kustomize
from tests.deploy.compose import ROOT, image_tag, load, mounts

K8S = ROOT / "deploy" / "k8s"
BASE, LOCAL = K8S / "base", K8S / "overlays" / "local"
KUSTOMIZATIONS = (BASE, LOCAL)
SECRETS_EXAMPLE = LOCAL / "secrets.env.example"
# The oldest Kubernetes these manifests are meant for, and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
APP_SERVICES = (*SERVICES, "web")
WORKLOADS = (*APP_SERVICES, "workflow-worker", "gateway")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TEMPORAL_VALUES = yaml.safe_load((K8S / "temporal-values.yaml").read_text())
TEMPORAL_RELEASE = "temporal"  # README.md installs the chart under this release name


def rendered(directory: Path) -> list[dict]:
    return kustomize.build(directory, missing={"secrets.env": SECRETS_EXAMPLE})


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def env_file(path: Path) -> dict[str, str]:
    return kustomize.read_env(path, {})


def config(directory: Path = LOCAL) -> dict[str, str]:
    return by_kind(rendered(directory), "ConfigMap")["fieldops-config"]["data"]


# The Secret's keys as a person fills them in (production settings refuse to start without each).
FILLED_SECRETS = {f"FIELDOPS_{name.upper()}": "x" * 40 for name in LOCAL_SECRETS}


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(
        **{key[len("FIELDOPS_") :].lower(): value for key, value in env.items() if key.startswith("FIELDOPS_")}
    )


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("FIELDOPS_"):
            monkeypatch.delenv(key)


def validate(resource: dict, where: str) -> None:
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{where}: {resource['kind']} {resource['metadata'].get('name')} "
                f"(Kubernetes {version}): {exc.message} at {list(exc.path)}"
            ) from None


# --- the files -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: str(d.relative_to(K8S)))
def test_the_kustomization_lists_every_file_there_is(directory):
    listed = kustomize.referenced_files(directory)
    present = {path.resolve() for path in directory.iterdir() if path.is_file()}
    kept_out = {directory / "kustomization.yaml", directory / "secrets.env", directory / "secrets.env.example"}
    unlisted = present - listed - {path.resolve() for path in kept_out}
    assert not unlisted, f"{directory}: not in kustomization.yaml: {sorted(p.name for p in unlisted)}"
    absent = {path for path in listed if not path.exists() and path.name != "secrets.env"}
    assert not absent, f"{directory}: listed but missing: {sorted(p.name for p in absent)}"


def test_every_manifest_file_is_valid_against_the_kubernetes_schemas():
    files = [
        path
        for directory in KUSTOMIZATIONS
        for path in sorted(directory.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    ]
    assert len(files) >= 12
    for path in files:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert documents, path
        for document in documents:
            validate(document, str(path.relative_to(ROOT)))


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: str(d.relative_to(K8S)))
def test_what_kustomize_renders_is_valid_against_the_kubernetes_schemas(directory):
    resources = rendered(directory)
    names = [(r["kind"], r["metadata"]["name"]) for r in resources]
    assert len(names) == len(set(names)), "a resource is defined twice"
    for resource in resources:
        validate(resource, f"{directory.relative_to(ROOT)} rendered")


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: str(d.relative_to(K8S)))
def test_this_rendering_is_kubectl_kustomizes(directory, tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on the PATH: the rendering here stands alone")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    overlay_secrets = copy / "overlays" / "local" / "secrets.env"
    if not overlay_secrets.exists():
        shutil.copy(SECRETS_EXAMPLE, overlay_secrets)
    target = copy / directory.relative_to(K8S)
    result = subprocess.run([kubectl, "kustomize", str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    def normal(resources: list[dict]) -> dict:
        out = {}
        for r in resources:
            if r["kind"] == "Secret":
                r = {**r, "data": {k: base64.b64decode(v).decode() for k, v in r.get("data", {}).items()}}
            out[(r["kind"], r["metadata"]["name"])] = json.dumps(r, sort_keys=True)
        return out

    real = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert normal(kustomize.build(target)) == normal(real)


# --- the workloads ----------------------------------------------------------------------------------------------
def test_a_deployment_service_hpa_and_pdb_for_every_service_and_the_worker():
    resources = rendered(BASE)
    deployments = by_kind(resources, "Deployment")
    assert set(deployments) == set(WORKLOADS)
    hpas, pdbs, services = (
        by_kind(resources, kind) for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service")
    )
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert "replicas" not in deployment["spec"], f"{name}: its HPA sets the replicas"
        hpa = hpas[name]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        if name != "workflow-worker":
            ports = {
                p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
            }
            service = services[name]
            assert service["spec"]["selector"].items() <= labels.items()
            assert service["spec"]["ports"][0]["port"] == ports[service["spec"]["ports"][0]["targetPort"]]


def test_every_container_has_probes_resources_and_runs_unprivileged():
    for directory in KUSTOMIZATIONS:
        for resource in rendered(directory):
            spec = kustomize.pod_spec(resource)
            if spec is None:
                continue
            where = f"{directory.name}: {resource['kind']} {resource['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            for container in kustomize.containers(resource):
                limits, requests = container["resources"]["limits"], container["resources"]["requests"]
                assert {"cpu", "memory"} <= set(requests) and {"cpu", "memory"} <= set(limits), where
                assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
                if resource["kind"] in ("Deployment", "StatefulSet") and container in spec["containers"]:
                    assert container.get("readinessProbe") and container.get("livenessProbe"), where
                repository, tag = image_tag(container["image"])
                assert tag and tag != "latest" and re.search(r"\d", tag), f"{where}: {container['image']}"


def test_the_workloads_run_as_the_local_stack_and_docker_compose_run_them(tmp_path, clean_env):
    stack = Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path), "FIELDOPS_PORT_OFFSET": "0"})
    compose = load()["services"]
    deployments = by_kind(rendered(BASE), "Deployment")
    for name in APP_SERVICES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        local = (stack._web() if name == "web" else stack._service(name)).argv
        assert container["command"] == compose[name]["command"]
        assert container["command"][:2] == ["uvicorn", local[local.index("uvicorn") + 1]]
        port = container["ports"][0]["containerPort"]
        command = container["command"]
        assert port == stack.settings.service_port(name) == int(command[command.index("--port") + 1])
        # Idle connections outlive the gateway's, as in the local stack (no 502 on a connection reused as it closes).
        keep_alive = local[local.index("--timeout-keep-alive") + 1]
        assert command[command.index("--timeout-keep-alive") + 1] == keep_alive, name
        path = urlsplit(stack._web().ready if name == "web" else stack._service(name).ready).path
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, f"{name}: {probe}"
    (worker,) = deployments["workflow-worker"]["spec"]["template"]["spec"]["containers"]
    assert worker["command"] == compose["workflow-worker"]["command"] == ["python", *stack._worker().argv[1:]]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert worker[probe]["exec"]["command"] == compose["workflow-worker"]["healthcheck"]["test"][1:]
    for resource in rendered(BASE):
        for container in kustomize.containers(resource):
            if image_tag(container["image"])[0] == "fieldops":
                assert container["image"] == compose["intake"]["image"] == f"fieldops:{VERSION}"


def test_migrations_run_in_a_job_and_the_services_wait_for_them():
    resources = rendered(BASE)
    (job,) = by_kind(resources, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == load()["services"]["prepare"]["command"] == ["fieldops", "prepare"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    deployments = by_kind(resources, "Deployment")
    for name in SERVICES:  # the services that own a database
        (init,) = deployments[name]["spec"]["template"]["spec"]["initContainers"]
        assert f"python -m deploy.healthcheck migrated {name}" in init["command"][-1]


# --- configuration ------------------------------------------------------------------------------------------------
def test_the_configmap_and_secret_carry_every_setting_the_local_stack_derives(clean_env):
    fields = Settings.model_fields
    base_config = env_file(BASE / "config.env")
    secrets = env_file(SECRETS_EXAMPLE)
    for key in (*base_config, *secrets):
        if key.startswith("FIELDOPS_"):
            assert key[len("FIELDOPS_") :].lower() in fields, f"{key}: no such setting"
    for key in base_config:
        assert not re.search(r"SECRET|PASSWORD|_DB_", key), f"{key} belongs in the Secret"
    derived = {f"FIELDOPS_{name.upper()}" for name, field in fields.items() if field.default is None}
    missing = derived - set(base_config) - set(secrets)
    assert not missing, f"give the containers {sorted(missing)}"
    # Every fieldops container reads both, and the local overlay makes the Secret (from secrets.env).
    resources = rendered(LOCAL)
    assert "fieldops-secrets" in by_kind(resources, "Secret")
    for resource in resources:
        for container in kustomize.containers(resource):
            if image_tag(container["image"])[0] == "fieldops":
                assert container["envFrom"] == [
                    {"configMapRef": {"name": "fieldops-config"}},
                    {"secretRef": {"name": "fieldops-secrets"}},
                ]
    # No secret is committed: the example leaves them empty (or a placeholder to replace everywhere at once).
    for key, value in secrets.items():
        if re.search(r"SECRET|PASSWORD", key):
            assert value in ("", "REPLACE_DB_PASSWORD"), key
    ignored = subprocess.run(["git", "check-ignore", "-q", str(LOCAL / "secrets.env")], cwd=ROOT)
    assert ignored.returncode == 0, "secrets.env must stay out of git"


def test_the_local_overlay_settings_point_at_what_runs_in_the_cluster(clean_env):
    resources = rendered(LOCAL)
    data = by_kind(resources, "ConfigMap")["fieldops-config"]["data"]
    secrets = env_file(SECRETS_EXAMPLE)
    s = settings_from({**data, **secrets, **FILLED_SECRETS})
    services = by_kind(resources, "Service")

    def port_of(service: str, name: str | None = None) -> int:
        ports = services[service]["spec"]["ports"]
        return next(p["port"] for p in ports if name is None or p["name"] == name)

    for name in APP_SERVICES:
        url = urlsplit(s.service_url(name))
        assert (url.hostname, url.port) == (name, port_of(name))
    api = urlsplit(s.portal_api_base)
    assert (api.hostname, api.port, api.path) == ("gateway", port_of("gateway"), "/api/v1")
    assert (s.smtp_host, s.smtp_port_effective) == ("mailpit", port_of("mailpit", "smtp"))
    s3 = urlsplit(s.s3_url)
    assert (s3.hostname, s3.port) == ("minio", port_of("minio"))
    ingresses = by_kind(resources, "Ingress").values()
    public_hosts = {rule["host"] for ingress in ingresses for rule in ingress["spec"]["rules"]}
    assert urlsplit(s.s3_public_url).hostname in public_hosts
    assert urlsplit(s.portal_url).hostname in public_hosts
    assert urlsplit(s.temporal_ui).hostname in TEMPORAL_VALUES["web"]["ingress"]["hosts"]
    minio_env = {
        e["name"]: e
        for e in by_kind(resources, "Deployment")["minio"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert minio_env["MINIO_API_CORS_ALLOW_ORIGIN"]["valueFrom"]["configMapKeyRef"]["key"] == "FIELDOPS_PUBLIC_URL"
    postgres = by_kind(resources, "StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]
    user = next(e["value"] for e in postgres["env"] if e["name"] == "POSTGRES_USER")
    created = set(re.findall(r"CREATE DATABASE (\w+);", (LOCAL / "create-databases.sql").read_text()))
    for service in SERVICES:
        url = make_url(s.database_url(service))
        assert (url.host, url.port, url.username) == ("postgres", port_of("postgres"), user)
        assert url.password == secrets["POSTGRES_PASSWORD"] and url.database in created
    assert (LOCAL / "create-databases.sql").read_text() == (ROOT / "deploy/compose/create-databases.sql").read_text()


# --- routing ------------------------------------------------------------------------------------------------------
def test_the_gateway_runs_the_local_stacks_routes_for_the_cluster_addresses(clean_env):
    resources = rendered(BASE)
    gateway_files = by_kind(resources, "ConfigMap")["gateway"]["data"]
    expected = json.loads(gateway_routes(settings_from({**env_file(BASE / "config.env"), **FILLED_SECRETS})))
    assert json.loads(gateway_files["routes.yml"]) == expected, (
        "regenerate: (set -a; . deploy/k8s/base/config.env; .venv/bin/fieldops gateway-routes "
        "> deploy/k8s/base/gateway-routes.yml)"
    )
    # The same files as docker-compose's gateway (the Service names are the compose service names).
    compose_gateway = mounts(load()["services"]["gateway"])
    assert gateway_files["routes.yml"] == (ROOT / compose_gateway["/etc/traefik/routes.yml"]).read_text()
    assert gateway_files["traefik.yml"] == (ROOT / compose_gateway["/etc/traefik/traefik.yml"]).read_text()
    deployment = by_kind(resources, "Deployment")["gateway"]["spec"]["template"]["spec"]
    (container,) = deployment["containers"]
    assert image_tag(container["image"]) == image_tag(load()["services"]["gateway"]["image"])
    (mount,) = container["volumeMounts"]
    volume = next(v for v in deployment["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "gateway" and mount["mountPath"] == "/etc/traefik"
    services = by_kind(resources, "Service")
    for server in (s["url"] for svc in expected["http"]["services"].values() for s in svc["loadBalancer"]["servers"]):
        url = urlsplit(server)
        assert services[url.hostname]["spec"]["ports"][0]["port"] == url.port, server


def test_the_ingress_routes_as_the_gateway_does():
    routers = json.loads(gateway_routes(Settings()))["http"]["routers"]
    # The gateway sends everything outside /api/v1 to the portal, with no auth of its own...
    assert routers["web"]["rule"] == "PathPrefix(`/`)" and routers["web"]["service"] == "web"
    assert "middlewares" not in routers["web"]
    # ...and every other route lies under /api/v1.
    for name, router in routers.items():
        if name != "web":
            for argument in re.findall(r"Path(?:Prefix|Regexp)?\(`([^`]*)`\)", router["rule"]):
                assert argument.lstrip("^").startswith("/api/v1/") or argument == "/api/v1", (name, argument)
    (ingress,) = list(by_kind(rendered(BASE), "Ingress").values())
    (rule,) = ingress["spec"]["rules"]
    backends = {
        p["path"]: (p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
        for p in rule["http"]["paths"]
    }
    assert backends == {"/api/v1": ("Prefix", "gateway", "http"), "/": ("Prefix", "web", "http")}


# --- Temporal -----------------------------------------------------------------------------------------------------
def test_temporal_comes_from_its_chart_at_the_versions_docker_compose_runs():
    compose = load()["services"]
    server, admin, web = TEMPORAL_VALUES["server"], TEMPORAL_VALUES["admintools"], TEMPORAL_VALUES["web"]
    for values, service in ((server, "temporal"), (admin, "temporal-schema"), (web, "temporal-ui")):
        image = values["image"]
        assert f"{image['repository']}:{image['tag']}" == compose[service]["image"]
    assert server["dynamicConfig"] == {key: [{"value": value}] for key, value in TEMPORAL_DYNAMIC_CONFIG.items()}


def test_temporal_values_match_the_cluster(clean_env):
    data = config()
    s = settings_from({**data, **FILLED_SECRETS})
    assert s.temporal_target == f"{TEMPORAL_RELEASE}-frontend:7233"
    namespaces = TEMPORAL_VALUES["server"]["config"]["namespaces"]
    assert namespaces["create"] and s.temporal_namespace in {n["name"] for n in namespaces["namespace"]}
    persistence = TEMPORAL_VALUES["server"]["config"]["persistence"]
    secrets = env_file(SECRETS_EXAMPLE)
    services = by_kind(rendered(LOCAL), "Service")
    for store in ("default", "visibility"):
        sql = persistence["datastores"][store]["sql"]
        assert sql["pluginName"] == "postgres12" and sql["createDatabase"] and sql["manageSchema"]
        host, port = sql["connectAddr"].split(":")
        assert services[host]["spec"]["ports"][0]["port"] == int(port)
        assert sql["existingSecret"] == "fieldops-secrets" and sql["secretKey"] in secrets
        assert "password" not in sql, "the password comes from the Secret, never from the values file"


def test_the_readme_says_how_to_run_it():
    readme = (K8S / "README.md").read_text()
    for words in (
        "kubectl apply -k deploy/k8s/overlays/local",
        "helm install",
        "temporal-values.yaml",
        "secrets.env",
        "fieldops-migrate",
        f"--version {TEMPORAL_CHART_VERSION}",
    ):
        assert words in readme, words


TEMPORAL_CHART_VERSION = re.search(r"chart version (\d+\.\d+\.\d+)", (K8S / "temporal-values.yaml").read_text()).group(
    1
)
