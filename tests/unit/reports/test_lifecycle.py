"""The lifecycle report page: what a reviewer needs is on it, nothing from data can inject markup,
and it stays readable when there is little to show."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mlops.monitoring.profile import prediction_profile
from mlops.registry.views import ordered_metrics
from mlops.reports.lifecycle import ModelLifecycle, lifecycle_report_html

EVALUATION: dict[str, Any] = {
    "problem_type": "binary",
    "split": "test",
    "rows": 114,
    "metrics": {"roc_auc": 0.9956, "accuracy": 0.9649, "log_loss": 0.11},
    "confusion_matrix": {"labels": ["malignant", "benign"], "matrix": [[40, 3], [1, 70]]},
    "segments": [{"segment": "clinic <b>a</b>", "rows": 60, "metrics": {"roc_auc": 0.99}}],
    "prediction_distribution": prediction_profile(
        np.array([0, 1, 1]), np.array([0.2, 0.7, 0.9]), classes=["0", "1"], score="positive_probability"
    ).model_dump(mode="json"),
}


def _version(number: int, status: str = "registered") -> dict[str, Any]:
    return {
        "version": number,
        "status": status,
        "created_at": f"2026-11-2{number}T10:00:00+00:00",
        "dataset": "breast-cancer",
        "dataset_version": "abcdef0123456789",
        "run_id": f"run-{number}",
        "estimator": "logistic_regression",
        "metrics": {"roc_auc": 0.99 + number / 1000, "accuracy": 0.96},
        "parity": {"passed": True, "max_abs_probability_diff": 2.5e-7, "label_agreement": 1.0},
    }


def _check(at: str, share: float | None, drifted: bool) -> dict[str, Any]:
    return {
        "checked_at": at,
        "version": 2,
        "status": "drift" if drifted else ("ok" if share is not None else "insufficient_data"),
        "rows": 400,
        "drift_share": share,
        "dataset_drift": drifted,
        "drifted_features": ["mean_radius"] if drifted else [],
        "report_page": f"drift-reports/breast-cancer/{at}.html",
    }


def _lifecycle(**overrides: Any) -> ModelLifecycle:
    arguments: dict[str, Any] = {
        "model": {
            "model": "breast-cancer",
            "latest_version": 2,
            "aliases": {
                "champion": {"version": 2, "previous_version": 1, "updated_at": "2026-11-22T10:00:00+00:00"},
                "challenger": {"version": 1, "rollout": {"mode": "canary", "weight": 0.1}},
            },
        },
        "versions": [_version(1), _version(2)],
        "generated_at": "2026-11-23T12:00:00+00:00",
        "evaluation": EVALUATION,
        "evaluation_version": 2,
        "selection_metric": "roc_auc",
        "drift_checks": [_check("2026-11-23T10:00:00", 0.1, False), _check("2026-11-23T11:00:00", 0.6, True)],
        "drift_reports": {
            "2026-11-23T11:00:00": {
                "features": [
                    {"name": "mean_radius", "statistic": 0.41, "drifted": True, "test": "ks"},
                    {"name": "mean_texture", "statistic": 0.05, "drifted": False, "test": "ks"},
                ]
            },
            "2026-11-23T10:00:00": {"features": [{"name": "mean_radius", "statistic": 0.07, "drifted": False}]},
        },
        "audit": [
            {
                "at": "2026-11-22T10:00:00+00:00",
                "actor": "arn:aws:iam::1:user/ana",
                "action": "set_alias",
                "reason": "better <script>",
                "before": {"version": 1},
                "after": {"version": 2},
            }
        ],
    }
    arguments.update(overrides)
    return ModelLifecycle.from_records(**arguments)


def test_the_page_holds_the_whole_lifecycle() -> None:
    page = lifecycle_report_html(_lifecycle())
    for number in ("40", "3", "70"):  # the confusion matrix
        assert re.search(rf">{number}</td>", page)
    assert "malignant" in page and "benign" in page
    assert "canary 0.1" in page  # the challenger's rollout
    assert "2.5e-07" in page and "label agreement" in page  # parity figures
    history = page.split("Version history", 1)[1].split("Drift over time", 1)[0]
    assert "v2" in history and "champion" in history and "challenger" in history and "run-1" in history
    assert "<svg" in page.split("Drift over time", 1)[1]  # drift share over time
    assert "mean_radius" in page and "0.41" in page and "Per-feature statistics" in page
    assert "set_alias" in page and "v1 -&gt; " not in page  # before/after rendered as states


def test_values_from_data_are_escaped_and_nothing_is_fetched() -> None:
    page = lifecycle_report_html(_lifecycle())
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "clinic &lt;b&gt;a&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page


def test_readable_with_one_version_no_champion_and_no_drift() -> None:
    page = lifecycle_report_html(
        _lifecycle(
            model={"model": "fresh", "latest_version": 1, "aliases": {}},
            versions=[_version(1, "pending_approval")],
            evaluation=None,
            evaluation_version=1,
            drift_checks=[],
            drift_reports={},
            audit=[],
        )
    )
    assert "No aliases" in page and "No drift checks yet" in page and "No audit events" in page
    assert "pending_approval" in page and "<svg" not in page


def test_a_check_without_a_share_draws_without_failing() -> None:
    page = lifecycle_report_html(_lifecycle(drift_checks=[_check("2026-11-23T09:00:00", None, False)]))
    assert "insufficient_data" in page and "share n/a" in page


def test_metrics_in_a_stable_order_selection_metric_first() -> None:
    assert ordered_metrics({"log_loss": 1, "accuracy": 1, "roc_auc": 1}, "roc_auc") == [
        "roc_auc",
        "accuracy",
        "log_loss",
    ]
    assert ordered_metrics({"b": 1, "a": 1}, None) == ["a", "b"]


def _performance_check(at: str, accuracy: float, status: str, **extra: Any) -> dict[str, Any]:
    """A performance check's row as GET /v1/models/{name}/performance answers it."""
    return {
        "model": "breast-cancer",
        "checked_at": at,
        "window_start": "2026-11-16T00:00:00+00:00",
        "window_end": at,
        "status": status,
        "message": "",
        "labelled": 240,
        "min_labels": 100,
        "floor": {"accuracy": 0.9},
        "variants": [
            {
                "version": 2,
                "variant": "champion",
                "labelled": 180,
                "status": status,
                "metrics": {"accuracy": {"value": accuracy, "low": accuracy - 0.03, "high": accuracy + 0.03}},
            },
            {
                "version": 3,
                "variant": "challenger",
                "labelled": 60,
                "status": "ok",
                "metrics": {"accuracy": {"value": 0.61}},
            },
        ],
        **extra,
    }


def test_performance_over_time_shows_the_floor_the_ab_verdict_and_the_feedback_versions() -> None:
    checks = [
        _performance_check("2026-11-23T10:00:00+00:00", 0.95, "ok"),
        _performance_check(
            "2026-11-23T11:00:00+00:00",
            0.86,
            "below_floor",
            ab_test={"verdict": "challenger_worse", "text": "v3 worse than v2 on accuracy (p=0.001)"},
            canary={"action": "rolled_back"},
            feedback={"status": "written", "key": "raw/breast-cancer/feedback-bc-1-2.csv", "rows": 240},
            retraining={"summary": "retraining run-9 starts when raw/breast-cancer/feedback-bc-1-2.csv is accepted"},
        ),
    ]
    page = lifecycle_report_html(_lifecycle(performance_checks=checks))
    section = page.split("Performance on labelled traffic", 1)[1].split("Audit trail", 1)[0]
    assert "<svg" in section and "floor 0.9" in section  # the chart with its floor
    assert "v2 champion" in section and "v3 challenger" in section  # a line per version and variant
    assert "v3 worse than v2 on accuracy (p=0.001)" in section and "rolled_back" in section
    assert "feedback-bc-1-2.csv (240 rows)" in section and "starts when" in section
    quiet = lifecycle_report_html(_lifecycle())
    assert "No performance checks yet" in quiet


def test_every_version_links_to_its_run_report_and_shows_its_hyperparameters() -> None:
    versions = [{**_version(1), "params": {"C": 0.1, "max_iter": 500}}, _version(2)]
    page = lifecycle_report_html(_lifecycle(versions=versions, run_reports={1: "breast-cancer-runs/run-1.html"}))
    history = page.split("Version history", 1)[1].split("Drift over time", 1)[0]
    assert "<a href='breast-cancer-runs/run-1.html'><code>run-1</code></a>" in history
    assert "<code>run-2</code>" in history and "href='breast-cancer-runs/run-2" not in history  # no report: no link
    assert "<code>C=0.1</code> <code>max_iter=500</code>" in history
