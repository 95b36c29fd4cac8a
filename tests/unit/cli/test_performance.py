"""`mlops performance` as an operator reads it: the newest check as a table per version and variant
(each metric with its interval, the test-split figure and the floor), the earlier checks a line
each, `--run` invoking the performance function by its stack output, exit 1 below a floor."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from mlops.monitoring.assessment import VersionBaseline
from mlops.monitoring.performance_record import PerformanceSummary
from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError
from mlopsctl.commands.performance import PERFORMANCE_FUNCTION_OUTPUT, performance_lines
from mlopsctl.parser import parse_args
from mlopsctl.target import Target
from tests.unit.monitoring.performance_support import END, assess, cancer_answers, cancer_window

OUTPUTS = {"ApiUrl": "https://api/", PERFORMANCE_FUNCTION_OUTPUT: "mlops-performance", "ArtifactsBucketName": "art"}


def _check(floor_gap: float, days: int = 0) -> PerformanceSummary:
    """The breast cancer traffic's check with an accuracy floor `floor_gap` above its accuracy."""
    y, predicted, _, _ = cancer_answers()
    assessment = assess(
        cancer_window(predicted={1: 1000}),
        config={"floor": {"accuracy": float(np.mean(y == predicted)) + floor_gap}},
        versions={1: VersionBaseline(1, {"accuracy": 0.97, "roc_auc": 0.995})},
        now=END + timedelta(days=days),
        resamples=100,
    )
    return assessment.summary(report_page=f"reports/performance/cancer/{days}.html")


def test_the_newest_check_is_a_table_with_intervals_test_figures_and_floors() -> None:
    newest, earlier = _check(0.02, days=1), _check(-0.05)
    lines = performance_lines("cancer", [newest, earlier], "art")
    assert lines[0].startswith("cancer: below floor, checked 2026-12-09T00:00:00")
    header = next(line for line in lines if line.startswith("version"))
    columns = ["version", "variant", "labelled", "status", "metric", "value", "interval", "test split", "diff"]
    assert header.split() == [word for column in [*columns, "floor"] for word in column.split()]
    accuracy = newest.variants[0].metrics["accuracy"]
    assert accuracy.value is not None and accuracy.low is not None and accuracy.high is not None
    [row] = [line for line in lines if " accuracy " in line and line.startswith("v1")]
    assert row.split()[:4] == ["v1", "champion", "285", "below_floor"]
    assert f"[{accuracy.low:.4g}, {accuracy.high:.4g}]" in row and "0.97" in row and row.endswith("PAST")
    assert f"{accuracy.value - 0.97:+.4g}" in row
    assert any(line.split()[:2] == ["roc_auc", f"{newest.variants[0].metrics['roc_auc'].value:.4g}"] for line in lines)
    assert "coverage: v1 28.5 % (285 of 1,000 predictions); label delay median 1.0 h, p90 1.0 h" in lines
    assert "report: s3://art/reports/performance/cancer/1.html" in lines
    assert lines[-2:] == ["earlier checks:", lines[-1]] and lines[-1].startswith("2026-12-08T00:00:00  ok ")
    assert "v1 champion accuracy" in lines[-1]
    assert performance_lines("cancer", [])[0].startswith("cancer: no performance checks yet (checks run hourly")


@dataclass
class _Lambda:
    error: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        answer = {"Payload": io.BytesIO(b'{"errorMessage": "boom"}' if self.error else b"[]")}
        return {**answer, "FunctionError": "Unhandled"} if self.error else answer


@dataclass
class _Target(Target):
    functions: _Lambda = field(default_factory=_Lambda)

    def client(self, service: str) -> Any:
        assert service == "lambda"
        return self.functions


def _run(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], checks: list[PerformanceSummary], error: bool = False
) -> Any:
    target = _Target(dict(OUTPUTS), functions=_Lambda(error))
    asked: list[tuple[str, str, Any]] = []

    def call(target: Target, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        asked.append((method, path, query))
        return {"checks": [json.loads(c.model_dump_json()) for c in checks]}

    monkeypatch.setattr("mlopsctl.commands.performance.deployment_target", lambda args: target)
    monkeypatch.setattr("mlopsctl.api.call", call)
    args = parse_args(argv)
    return args.run(args), target.functions.calls, asked


def test_what_the_check_led_to_is_listed_under_the_table() -> None:
    led_to = _check(0.02).model_copy(
        update={
            "ab_test": {"verdict": "challenger_worse", "text": "accuracy of challenger v2 0.61 vs champion v1 0.97"},
            "canary": {"action": "rolled_back", "detail": "canary of v2 rolled back; champion v1 stays"},
            "feedback": {"status": "written", "detail": "285 labelled rows written to raw/cancer/feedback-….csv"},
            "retraining": {"summary": "no retraining: cooldown"},
        }
    )
    lines = performance_lines("cancer", [led_to])
    assert "A/B: accuracy of challenger v2 0.61 vs champion v1 0.97" in lines
    assert "canary: rolled_back: canary of v2 rolled back; champion v1 stays" in lines
    assert "feedback: 285 labelled rows written to raw/cancer/feedback-….csv" in lines
    assert "retraining: no retraining: cooldown" in lines


def test_labels_that_named_no_captured_prediction_are_counted_beside_coverage() -> None:
    """A label is accepted when well formed; that it named no answered row shows only at the join."""
    check = _check(0.02).model_copy(update={"unmatched_labels": 3})
    [coverage] = [line for line in performance_lines("cancer", [check]) if line.startswith("coverage:")]
    assert coverage.endswith("labels about no captured prediction: 3")
    assert "no captured prediction" not in " ".join(performance_lines("cancer", [_check(0.02)]))


def test_run_invokes_the_performance_function_for_the_model_then_lists_its_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, invoked, asked = _run(monkeypatch, ["performance", "cancer", "--run", "--limit", "3"], [_check(0.02)])
    assert code == EXIT_REJECTED, "the newest check found a version below a floor"
    assert invoked == [
        {"FunctionName": "mlops-performance", "Payload": json.dumps({"models": ["cancer"], "force": True}).encode()}
    ]
    assert asked == [("GET", "/v1/models/cancer/performance", {"limit": 3})]
    assert "below floor" in capsys.readouterr().out


def test_without_run_nothing_is_invoked_and_json_is_the_apis_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, invoked, _ = _run(monkeypatch, ["performance", "cancer", "--json"], [_check(-0.05)])
    assert (code, invoked) == (EXIT_OK, [])
    document = json.loads(capsys.readouterr().out)
    assert document["checks"][0]["status"] == "ok" and document["checks"][0]["variants"][0]["version"] == 1


def test_a_failed_check_is_an_error_naming_what_the_function_said(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CommandError, match=r"the performance check failed: .*boom"):
        _run(monkeypatch, ["performance", "cancer", "--run"], [], error=True)
