"""An automatic alias change keeps the figures it acted on in its audit event, and a removal can be
guarded by the version the caller decided about (moto's DynamoDB)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.registry.errors import RegistryError
from mlops.registry.models import ModelRegistry

AT = "2026-12-03T10:00:00+00:00"


@pytest.fixture
def registry(registry_table: Any) -> ModelRegistry:
    registry = ModelRegistry(registry_table)
    for run in ("r1", "r2", "r3"):
        registry.start_run(run, {"dataset": "m", "started_at": AT})
        registry.register_version("m", {"status": "registered"}, run_id=run, at=AT)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    return registry


def test_the_evidence_is_stored_with_the_audit_event_as_dynamodb_numbers(registry: ModelRegistry) -> None:
    evidence = {"metric": "accuracy", "p_value": 0.0031, "effect": float("nan"), "labels": 120}
    registry.set_alias("m", "champion", 2, reason="A/B", actor="performance-check", at=AT, evidence=evidence)
    (event,) = registry.audit("m", limit=1)
    assert event["evidence"]["metric"] == "accuracy" and float(event["evidence"]["p_value"]) == 0.0031
    assert event["evidence"]["effect"] is None and event["evidence"]["labels"] == 120  # NaN is not storable
    registry.set_alias("m", "champion", 3, reason="by hand", actor="alice", at=AT)
    assert "evidence" not in registry.audit("m", limit=1)[0]  # a person's change carries none


def test_a_guarded_removal_refuses_when_the_alias_names_another_version(registry: ModelRegistry) -> None:
    registry.set_alias(
        "m", "challenger", 3, reason="canary", actor="t", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    with pytest.raises(RegistryError) as refused:
        registry.remove_alias("m", "challenger", reason="A/B", actor="performance-check", at=AT, expected_version=2)
    assert refused.value.code == "conflict" and "is version 3, not 2" in refused.value.message
    assert registry.get_alias("m", "challenger") is not None
    registry.remove_alias(
        "m", "challenger", reason="A/B", actor="performance-check", at=AT, expected_version=3, evidence={"p": 0.01}
    )
    assert registry.get_alias("m", "challenger") is None
    assert float(registry.audit("m", limit=1)[0]["evidence"]["p"]) == 0.01
