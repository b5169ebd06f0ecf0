"""Every recorded history replays against today's workflow code: a change that running workflows would replay
differently fails here (guard it with `workflow.patched()`, see the README). Histories are (re)recorded by
running the workflow tests with FIELDOPS_RECORD_HISTORIES=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.worker import WORKFLOWS, sandbox_runner

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))
PATHS = {
    "paid",
    "declined",
    "reassigned",
    "team_offer",
    "marketplace_walk_in",
    "cancelled_in_progress",
    "cancelled_by_customer",
    "acceptance_expired",
    "sla_breached",
    "awaiting_parts",
    "recommendation_reminder",
    "update_with_first_task",
}


# The suffix of the histories recorded by today's code: the newest patch every new run takes.
CURRENT = ".concurrent-effects"


def test_every_path_has_a_recorded_history():
    assert {p.stem for p in HISTORIES} >= PATHS
    assert {path + CURRENT for path in PATHS} <= {p.stem for p in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(f"service-request:{path.stem}", path.read_text())
    assert len(history.events) > 10
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=sandbox_runner(), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
