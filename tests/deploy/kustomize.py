"""Just enough of kustomize to render deploy/k8s offline, for the features deploy/k8s uses: resources (files and
directories), configMapGenerator and secretGenerator (envs, files, literals; create or merge; stable names),
JSON 6902 patches by kind and name, namespace and images. Anything else in a kustomization.yaml is refused, so a
new feature there comes with its rendering here. When a `kubectl` is on the PATH, the tests also compare this
rendering with `kubectl kustomize`."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "PriorityClass",
    "CustomResourceDefinition",
}


def kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def referenced_files(directory: Path) -> set[Path]:
    """Every file a kustomization names, as paths (directories of resources excluded)."""
    k = kustomization(directory)
    files = {directory / entry for entry in k.get("resources", []) if not (directory / entry).is_dir()}
    for generator in (*k.get("configMapGenerator", []), *k.get("secretGenerator", [])):
        files |= {directory / entry for entry in generator.get("envs", [])}
        files |= {directory / entry.rpartition("=")[2] for entry in generator.get("files", [])}
    files |= {directory / p["path"] for p in k.get("patches", []) if "path" in p}
    return {path.resolve() for path in files}


def read_env(path: Path, missing: dict[str, Path]) -> dict[str, str]:
    if not path.exists() and path.name in missing:
        path = missing[path.name]
    data = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            data[key] = value
    return data


def build(directory: Path, missing: dict[str, Path] | None = None) -> list[dict]:
    """The resources `kubectl kustomize directory` prints. `missing` stands in for files kept out of git (a
    secrets.env), by file name."""
    missing = missing or {}
    k = kustomization(directory)
    unknown = set(k) - SUPPORTED
    if unknown:
        raise NotImplementedError(f"{directory}: kustomization fields this renderer does not know: {unknown}")
    resources: list[dict] = []
    for entry in k.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += build(path.resolve(), missing)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]

    stable = k.get("generatorOptions", {}).get("disableNameSuffixHash", False)
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for generator in k.get(field, []):
            if not (stable or generator.get("options", {}).get("disableNameSuffixHash")):
                raise NotImplementedError("generated names with a hash suffix")
            data: dict[str, str] = {}
            for entry in generator.get("envs", []):
                data.update(read_env(directory / entry, missing))
            for entry in generator.get("files", []):
                key, _, source = entry.rpartition("=")
                data[key or Path(source).name] = (directory / source).read_text()
            for entry in generator.get("literals", []):
                key, _, value = entry.partition("=")
                data[key] = value
            if kind == "Secret":
                data = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
            name = generator["name"]
            existing = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
            behavior = generator.get("behavior", "create")
            if behavior == "create":
                assert not existing, f"{kind} {name} is made twice"
                made = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}
                if kind == "Secret":
                    made["type"] = "Opaque"
                resources.append(made)
            elif behavior == "merge":
                assert len(existing) == 1, f"no {kind} {name} to merge into"
                existing[0]["data"].update(data)
            else:
                raise NotImplementedError(f"generator behavior {behavior}")

    for patch in k.get("patches", []):
        if "path" in patch or "target" not in patch:
            raise NotImplementedError("only inline JSON 6902 patches with a target")
        target = patch["target"]
        matched = [
            r
            for r in resources
            if r["kind"] == target["kind"] and ("name" not in target or r["metadata"]["name"] == target["name"])
        ]
        assert matched, f"patch target {target} matches nothing"
        for resource in matched:
            for operation in yaml.safe_load(patch["patch"]):
                apply_operation(resource, operation)

    if "namespace" in k:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for resource in resources:
            for container in containers(resource):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return resources


def apply_operation(document: dict, operation: dict) -> None:
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            node[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[index]
        else:
            raise NotImplementedError(op)
        return
    if op in ("add", "replace"):
        if op == "replace":
            assert last in node, f"replace of a missing {operation['path']}"
        node[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del node[last]
    else:
        raise NotImplementedError(op)


def pod_spec(resource: dict) -> dict | None:
    spec = resource.get("spec") or {}
    if resource["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if "template" in spec:
        return spec["template"]["spec"]
    return None


def containers(resource: dict) -> list[dict]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]
