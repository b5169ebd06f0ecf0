"""Workflow tests run on the time-skipping test server; they need no stack."""

from __future__ import annotations

import pytest

from tests.workflows.harness import open_harness


@pytest.fixture(scope="module")
async def wf():
    async for harness in open_harness():
        yield harness
