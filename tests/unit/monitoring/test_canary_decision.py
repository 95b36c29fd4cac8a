"""Ending a canary on its A/B test, on moto's DynamoDB: a better challenger is promoted, a worse one's
canary ends with the champion kept, each audited with the figures by "performance-check"; a second
call changes nothing and says why; aliases moved meanwhile are left as they are."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops.monitoring.ab_test import ABComparison, compare_canary
from mlops.monitoring.canary_decision import end_canary
from mlops.monitoring.config import ABTestConfig
from mlops.registry.models import ModelRegistry
from tests.unit.monitoring.ab_support import CLASSES, accuracy_window

AT = "2026-12-03T10:00:00+00:00"
LATER = "2026-12-03T11:00:00+00:00"


@pytest.fixture
def registry(registry_table: Any) -> ModelRegistry:
    """Model churn: v1 champion, v2 a 20 % canary, v3 registered and idle."""
    registry = ModelRegistry(registry_table)
    for run in ("r1", "r2", "r3"):
        registry.start_run(run, {"dataset": "churn", "started_at": AT})
        registry.register_version("churn", {"status": "registered"}, run_id=run, at=AT)
    registry.set_alias("churn", "champion", 1, reason="first", actor="alice", at=AT)
    registry.set_alias(
        "churn", "challenger", 2, reason="try v2", actor="alice", at=AT, rollout={"mode": "canary", "weight": 0.2}
    )
    return registry


# A difference of 0.1 from a champion right about 0.9 of the time: planned at about 200 rows per side
# (the champion's after the 50 its plan came from), which 800 and 400 labelled rows reach; 100 do not.
CONFIG = ABTestConfig(min_effect=0.1)


def _comparison(challenger_accuracy: float, challenger_rows: int = 400) -> ABComparison:
    window = accuracy_window(
        np.random.default_rng(7), champion=(800, 0.9), challenger=(challenger_rows, challenger_accuracy), shadow=0
    )
    return compare_canary(
        window, champion=1, challenger=2, problem_type="binary", classes=CLASSES, config=CONFIG, seed=1
    )


def _aliases(registry: ModelRegistry) -> dict[str, int]:
    return {alias: int(item["version"]) for alias, item in registry.aliases("churn").items()}


def test_a_significantly_better_challenger_is_promoted_and_the_audit_holds_the_figures(
    registry: ModelRegistry,
) -> None:
    comparison = _comparison(0.99)
    assert comparison.verdict == "challenger_better"
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "promoted" and decision.changed and decision.champion == 2
    assert _aliases(registry) == {"champion": 2}  # the promotion ended the canary, as a person's does
    events = registry.audit("churn", limit=2)
    promotion = next(e for e in events if e["action"] == "set_alias:champion")
    assert promotion["actor"] == "performance-check" and promotion["before"]["version"] == 1
    evidence = promotion["evidence"]
    assert evidence["metric"] == "accuracy" and evidence["verdict"] == "challenger_better"
    assert evidence["champion"]["labels"] == 800 and evidence["challenger"]["labels"] == 400
    assert evidence["challenger"]["tested"] == evidence["plan"]["labels"] < 400  # the planned rows decided
    assert float(evidence["challenger"]["value"]) == pytest.approx(comparison.challenger.value)
    assert float(evidence["effect"]) > 0 and float(evidence["p_value"]) < 0.05
    assert "accuracy of challenger v2" in promotion["reason"] and "p = " in promotion["reason"]


def test_a_significantly_worse_challenger_is_rolled_back_and_the_champion_stays(registry: ModelRegistry) -> None:
    comparison = _comparison(0.7)
    assert comparison.verdict == "challenger_worse"
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "rolled_back" and decision.champion == 1 and decision.challenger is None
    assert _aliases(registry) == {"champion": 1}
    (event,) = registry.audit("churn", limit=1)
    assert event["action"] == "remove_alias:challenger" and event["actor"] == "performance-check"
    assert event["before"] == {"version": 2} and event["evidence"]["verdict"] == "challenger_worse"
    assert float(event["evidence"]["effect"]) < 0 and event["reason"].startswith("A/B test, canary rolled back")


@pytest.mark.parametrize(("accuracy", "now"), [(0.99, {"champion": 2}), (0.7, {"champion": 1})])
def test_a_second_call_after_the_action_does_nothing_and_says_so(
    registry: ModelRegistry, accuracy: float, now: dict[str, int]
) -> None:
    comparison = _comparison(accuracy)
    assert end_canary(registry, comparison, auto_decide=True, at=LATER).changed
    events = len(registry.audit("churn"))
    again = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert again.action == "already_ended" and not again.changed
    assert "by performance-check at 2026-12-03T11:00:00+00:00" in again.detail and "nothing changed" in again.detail
    assert _aliases(registry) == now and len(registry.audit("churn")) == events


def test_aliases_changed_since_the_comparison_are_left_as_they_are(registry: ModelRegistry) -> None:
    comparison = _comparison(0.7)
    # Meanwhile a person replaced the canary with v3.
    registry.set_alias(
        "churn", "challenger", 3, reason="try v3", actor="bob", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    events = len(registry.audit("churn"))
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "aliases_changed" and "names v3, not the compared v2" in decision.detail
    assert _aliases(registry) == {"champion": 1, "challenger": 3} and len(registry.audit("churn")) == events


def test_a_champion_changed_meanwhile_blocks_a_promotion(registry: ModelRegistry) -> None:
    comparison = _comparison(0.99)
    registry.set_alias("churn", "champion", 3, reason="hotfix", actor="bob", at=AT)
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "aliases_changed" and "champion is v3, not the compared v1" in decision.detail
    assert _aliases(registry) == {"champion": 3, "challenger": 2}


def test_a_canary_turned_shadow_is_no_longer_ended_by_the_ab_test(registry: ModelRegistry) -> None:
    registry.set_alias("churn", "challenger", 2, reason="watch only", actor="bob", at=AT, rollout={"mode": "shadow"})
    decision = end_canary(registry, _comparison(0.7), auto_decide=True, at=LATER)
    assert decision.action == "aliases_changed" and "no canary now (rollout shadow)" in decision.detail


def test_a_change_between_the_read_and_the_write_is_refused_not_overwritten(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    comparison = _comparison(0.7)
    stale = registry.aliases("churn")
    registry.set_alias(
        "churn", "challenger", 3, reason="try v3", actor="bob", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    reads = iter([stale])  # the decision's first read still sees v2 as the canary
    real = registry.aliases
    monkeypatch.setattr(registry, "aliases", lambda name: next(reads, None) or real(name))
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "aliases_changed" and decision.challenger == 3
    assert _aliases(registry) == {"champion": 1, "challenger": 3}  # v3's canary was not removed


def test_without_auto_decide_the_verdict_is_only_reported(registry: ModelRegistry) -> None:
    decision = end_canary(registry, _comparison(0.7), auto_decide=False, at=LATER)
    assert decision.action == "report_only" and "significantly worse" in decision.detail
    assert _aliases(registry) == {"champion": 1, "challenger": 2}


@pytest.mark.parametrize(
    ("accuracy", "rows", "verdict", "said"),
    [
        (0.9, 400, "no_difference", "no significant difference"),
        (0.5, 100, "collecting", "information only"),  # far worse, but not yet at the planned size
    ],
)
def test_no_decision_changes_nothing(
    registry: ModelRegistry, accuracy: float, rows: int, verdict: str, said: str
) -> None:
    comparison = _comparison(accuracy, rows)
    assert comparison.verdict == verdict and not comparison.decided
    decision = end_canary(registry, comparison, auto_decide=True, at=LATER)
    assert decision.action == "no_decision" and said in decision.detail
    assert _aliases(registry) == {"champion": 1, "challenger": 2}
