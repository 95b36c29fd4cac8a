"""Performance checks on moto's DynamoDB: a check's row holds its figures as Decimals (DynamoDB
refuses floats) and reads back as the summary it was; a rerun never overwrites; newest first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mlops.monitoring.assessment import VersionBaseline
from mlops.monitoring.performance_record import PerformanceSummary
from mlops.registry.models import ModelRegistry
from tests.unit.monitoring.performance_support import START, assess, cancer_answers, cancer_window


@pytest.fixture
def registry(registry_table: Any) -> ModelRegistry:
    return ModelRegistry(registry_table)


def _summary(checked_at: datetime) -> PerformanceSummary:
    assessment = assess(
        cancer_window(predicted={1: 2 * len(cancer_answers()[0])}),
        config={"floor": {"accuracy": 0.9, "log_loss": 0.3}},
        versions={1: VersionBaseline(1, {"accuracy": 0.97, "roc_auc": 0.995})},
        now=checked_at,
        resamples=200,
    )
    return assessment.summary(report_key=f"reports/performance/cancer/{checked_at:%Y%m%dT%H%M%S}.json")


def test_a_checks_row_reads_back_as_its_summary(registry: ModelRegistry) -> None:
    summary = _summary(START)
    assert registry.put_performance_result("cancer", summary.checked_at, summary.attributes())
    [row] = registry.performance_results("cancer")
    assert row["kind"] == "performance_result" and row["sk"] == f"PERFORMANCE#{summary.checked_at}"
    assert PerformanceSummary.from_item(row) == summary
    assert summary.variants[0].metrics["accuracy"].test == 0.97 and summary.coverage == {1: 0.5}


def test_checks_are_kept_per_check_newest_first_and_a_rerun_changes_nothing(registry: ModelRegistry) -> None:
    first = _summary(START)
    for hours in (0, 48, 24):
        at = (START + timedelta(hours=hours)).isoformat()
        assert registry.put_performance_result("cancer", at, {**first.attributes(), "checked_at": at})
    changed = {**first.attributes(), "status": "below_floor"}
    assert not registry.put_performance_result("cancer", (START + timedelta(hours=48)).isoformat(), changed)
    rows = registry.performance_results("cancer")
    assert [r["checked_at"][8:13] for r in rows] == ["03T00", "02T00", "01T00"]
    assert rows[0]["status"] == first.status, "a rerun never overwrites a recorded check"
    assert [r["checked_at"] for r in registry.performance_results("cancer", limit=2)] == [
        r["checked_at"] for r in rows[:2]
    ]


def test_performance_rows_are_apart_from_drift_rows_and_other_models(registry: ModelRegistry) -> None:
    summary = _summary(START)
    registry.put_performance_result("cancer", summary.checked_at, summary.attributes())
    registry.put_drift_result("cancer", 1, summary.checked_at, {"drift_share": "0.1"})
    assert len(registry.performance_results("cancer")) == 1 and len(registry.drift_results("cancer")) == 1
    assert registry.performance_results("other") == []
