"""docker-compose.yml read as Compose reads it, offline: YAML with its anchors and merge keys, `${VAR}` interpolation
from an .env file, and the facts the tests ask of it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message} (the Compose Specification's forms).
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def load(path: Path = COMPOSE_FILE) -> dict:
    return yaml.safe_load(path.read_text())


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped (commented-out keys are not set)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def variables(text: str) -> list[tuple[str, str | None, str]]:
    """Every ${...} reference: (name, operator or None, argument)."""
    return [(m["name"], m["op"], m["arg"] or "") for m in VARIABLE.finditer(text)]


def interpolate(value, env: dict[str, str]):
    """A value of the file with every ${...} replaced as `docker compose` does; MissingVariable for a required one."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op == ":?" and not current or op == "?" and current is None:
            raise MissingVariable(name, arg)
        return current or ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def image_tag(image: str) -> tuple[str, str | None]:
    name, _, digest = image.partition("@")
    repository, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:  # no tag (a colon, if any, belonged to a registry's port)
        return name, None
    return repository, tag


def host_ports(service: dict) -> dict[int, int]:
    """Container port -> published host port, from the short syntax ("127.0.0.1:8000:8000", "8000:8000")."""
    published = {}
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published[int(entry["target"])] = int(entry["published"])
            continue
        parts = str(entry).split(":")
        published[int(parts[-1])] = int(parts[-2])
    return published


def one_shot(compose: dict) -> set[str]:
    """Services that run to completion: others wait for them with `service_completed_successfully`."""
    names = set()
    for service in compose["services"].values():
        for name, dependency in (service.get("depends_on") or {}).items():
            if isinstance(dependency, dict) and dependency.get("condition") == "service_completed_successfully":
                names.add(name)
    return names


def mounts(service: dict) -> dict[str, str]:
    """Container path -> host path of every bind mount (short syntax), host paths relative to the repository."""
    found = {}
    for entry in service.get("volumes") or []:
        parts = str(entry).split(":")
        if parts[0].startswith("./"):
            found[parts[1]] = parts[0][2:]
    return found


def port_option(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])
