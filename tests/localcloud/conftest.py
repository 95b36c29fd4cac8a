"""Emulator fixtures: the probe stack (tiny handlers, one of each resource) deployed into a local cloud
whose clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized, synthesize


@pytest.fixture(scope="session")
def probe_synth() -> Synthesized:
    from tests.localcloud.probe_stack.stack import build_probe_app

    return synthesize(build_probe_app)


START = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)  # where the probe cloud's time starts


@pytest.fixture
def probe_cloud(probe_synth: Synthesized, tmp_path: Path) -> Iterator[tuple[LocalCloud, DeployedStack]]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl", start=START) as cloud:
        yield cloud, cloud.deploy(probe_synth)
