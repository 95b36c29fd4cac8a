"""The quality gate: one verdict per configured gate, champion regression and segment gaps
direction-aware, unknown figures failing rather than passing."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.training.config import QualityGates
from mlops.training.evaluation import SegmentMetrics
from mlops.training.gates import GateReport, evaluate_gates

METRICS = {"roc_auc": 0.91, "log_loss": 0.30, "accuracy": 0.88, "f1_macro": 0.86, "brier": 0.09}
SEGMENTS = [
    SegmentMetrics(segment="north", rows=400, metrics={"roc_auc": 0.92}),
    SegmentMetrics(segment="south", rows=350, metrics={"roc_auc": 0.87}),
    SegmentMetrics(segment="islands", rows=12, metrics={"roc_auc": 0.40}),
]
LATENCY = {"rows": 1.0, "p50_ms": 0.02, "p99_ms": 0.08, "p50_ms_per_row": 0.02, "p99_ms_per_row": 0.08}


def _gates(**data: Any) -> QualityGates:
    return QualityGates.model_validate(data)


def _run(gates: QualityGates, champion: dict[str, float | None] | None = None, **kwargs: Any) -> GateReport:
    return evaluate_gates(
        kwargs.get("metrics", METRICS),
        kwargs.get("segments", SEGMENTS),
        kwargs.get("latency", LATENCY),
        gates,
        champion,
        selection_metric=kwargs.get("metric", "roc_auc"),
    )


def _by_name(report: GateReport) -> dict[str, Any]:
    return {r.name: r for r in report.results}


def test_no_gates_configured_passes_with_no_results() -> None:
    report = _run(QualityGates())
    assert report.passed and report.results == []


def test_absolute_bounds_pass_and_fail_per_side() -> None:
    report = _run(_gates(absolute={"roc_auc": {"min": 0.9, "max": 0.95}, "log_loss": {"max": 0.25}}))
    results = _by_name(report)
    assert set(results) == {"absolute.roc_auc.min", "absolute.roc_auc.max", "absolute.log_loss.max"}
    assert results["absolute.roc_auc.min"].passed and results["absolute.roc_auc.max"].passed
    failed = results["absolute.log_loss.max"]
    assert not failed.passed and failed.observed == 0.30 and failed.threshold == 0.25
    assert failed.message == "log_loss 0.3 > 0.25"
    assert not report.passed and report.failures == [failed]


def test_a_metric_that_was_not_computed_fails_its_gate() -> None:
    report = _run(_gates(absolute={"roc_auc": {"min": 0.5}}), metrics={**METRICS, "roc_auc": None})
    assert not report.passed and "not computed" in report.results[0].message


def test_without_a_champion_the_regression_gate_passes_with_a_note() -> None:
    report = _run(_gates(max_regression={"roc_auc": 0.01}), champion=None)
    assert report.passed and "no champion" in report.results[0].message


@pytest.mark.parametrize(
    ("metric", "champion", "tolerance", "passed", "wording"),
    [
        ("roc_auc", 0.915, 0.01, True, "worse by 0.005"),  # within tolerance
        ("roc_auc", 0.93, 0.01, False, "worse by 0.02"),
        ("roc_auc", 0.80, 0.0, True, "better by 0.11"),
        ("roc_auc", 0.91, 0.0, True, "vs champion 0.91: the same"),  # it read "better by -0"
        ("log_loss", 0.28, 0.05, True, "worse by 0.02"),  # lower is better
        ("log_loss", 0.20, 0.05, False, "worse by 0.1"),
        ("log_loss", 0.40, 0.0, True, "better by 0.1"),
    ],
)
def test_champion_regression_is_direction_aware(
    metric: str, champion: float, tolerance: float, passed: bool, wording: str
) -> None:
    report = _run(_gates(max_regression={metric: tolerance}), champion={metric: champion})
    result = report.results[0]
    assert result.passed is passed and report.passed is passed
    assert result.threshold == pytest.approx(champion - tolerance if metric == "roc_auc" else champion + tolerance)
    assert wording in result.message, result.message


def test_segment_gap_uses_the_worst_large_enough_segment() -> None:
    passing = _run(_gates(max_segment_gap=0.05, min_segment_rows=30))
    result = passing.results[0]
    assert passing.passed and result.observed == pytest.approx(0.04)
    assert "'south'" in result.message and "islands" in result.message  # too small: named, not gated
    failing = _run(_gates(max_segment_gap=0.03, min_segment_rows=30))
    assert not failing.passed
    gated_small = _run(_gates(max_segment_gap=0.05, min_segment_rows=10))
    assert not gated_small.passed and "'islands'" in gated_small.results[0].message


def test_segment_gap_for_a_lower_is_better_metric_and_without_segments() -> None:
    segments = [
        SegmentMetrics(segment="a", rows=100, metrics={"rmse": 10.0}),
        SegmentMetrics(segment="b", rows=100, metrics={"rmse": 14.0}),
    ]
    report = _run(_gates(max_segment_gap=3.0), metrics={"rmse": 12.0}, segments=segments, metric="rmse")
    assert report.passed and report.results[0].observed == pytest.approx(2.0)
    report = _run(_gates(max_segment_gap=1.0), metrics={"rmse": 12.0}, segments=segments, metric="rmse")
    assert not report.passed
    none = _run(_gates(max_segment_gap=0.01), segments=[])
    assert none.passed and none.results[0].message == "no segment column"
    undefined = [SegmentMetrics(segment="x", rows=100, metrics={"roc_auc": None})]
    assert not _run(_gates(max_segment_gap=0.1), segments=undefined).passed
    as_dicts = [s.model_dump() for s in SEGMENTS]
    assert _run(_gates(max_segment_gap=0.05), segments=as_dicts).passed


def test_latency_budget() -> None:
    assert _run(_gates(latency_budget_ms_per_row=0.1)).passed
    over = _run(_gates(latency_budget_ms_per_row=0.05))
    assert not over.passed and "over budget" in over.results[0].message
    assert not _run(_gates(latency_budget_ms_per_row=1.0), latency=None).passed


def test_the_report_is_json_and_every_gate_is_reported() -> None:
    gates = _gates(
        absolute={"accuracy": {"min": 0.8}},
        max_regression={"roc_auc": 0.01, "brier": 0.01},
        max_segment_gap=0.1,
        latency_budget_ms_per_row=1.0,
    )
    report = _run(gates, champion={"roc_auc": 0.90, "brier": 0.05})
    assert [r.name for r in report.results] == [
        "absolute.accuracy.min",
        "max_regression.roc_auc",
        "max_regression.brier",
        "max_segment_gap",
        "latency_budget_ms_per_row",
    ]
    assert not report.passed and [r.name for r in report.failures] == ["max_regression.brier"]
    assert GateReport.model_validate_json(report.model_dump_json()) == report
