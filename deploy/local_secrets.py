"""The local stack's secrets: made at random on a data folder's first start, kept in `<data>/secrets.env` (readable
by its owner alone) and reused by every later start, so tokens and stored attachments outlive a restart.

A secret given in the environment wins over the file. Test stacks (FIELDOPS_ENV=test) keep the fixed development
secrets instead, so a test can sign a token of its own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SECRETS = ("FIELDOPS_SECRET_KEY", "FIELDOPS_S3_SECRET_KEY", "FIELDOPS_INTERNAL_TOKEN")
FILE_NAME = "secrets.env"


def read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs if value.strip()}


def local_secrets(data: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets the environment does not give, from the data folder's file (made or completed first)."""
    if environ.get("FIELDOPS_ENV") == "test":
        return {}
    path = data / FILE_NAME
    stored = read(path)
    if missing := [name for name in SECRETS if name not in stored]:
        stored |= {name: secrets.token_hex(32) for name in missing}
        data.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# Made by `fieldops run` for this data folder; delete it to make new ones.\n")
            out.writelines(f"{name}={value}\n" for name, value in stored.items())
    os.chmod(path, 0o600)  # a file copied in with looser rights is tightened
    return {name: value for name, value in stored.items() if name in SECRETS and not environ.get(name)}
