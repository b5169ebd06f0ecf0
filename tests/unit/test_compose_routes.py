"""docker-compose's gateway routes are the ones deploy.stack generates for the compose service names."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_routes_are_generated_from_the_stack_routes():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDOPS_")}
    for line in (ROOT / "deploy/compose/env.sh").read_text().splitlines():
        if line.startswith("export "):
            key, value = line[len("export ") :].split("=", 1)
            env[key] = value
    fieldops = Path(sys.executable).parent / "fieldops"
    generated = subprocess.run([str(fieldops), "gateway-routes"], env=env, capture_output=True, text=True, check=True)
    assert generated.stdout.strip() == (ROOT / "deploy/compose/routes.yml").read_text().strip(), (
        "regenerate: (. deploy/compose/env.sh && .venv/bin/fieldops gateway-routes > deploy/compose/routes.yml)"
    )
