"""The drift function as its schedule (or `mlops drift --run`) meets it: a drifted champion gets a
report, a mail and one retraining run named `retrain-<model>-<hour>`; a second check in the same
hour finds that run started; a check that fails fails the invocation after the others ran. The
registry is a fake, the bucket a dict, the traffic real rows of a registered model, shifted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import pytest

from mlops.buckets import ArtifactsBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.checks import DriftServices
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer
from mlops.serving.inputs import InputPolicy, encode_request
from mlops.serving.models import load_version
from tests.unit.handlers.support import (
    MACHINE,
    QUIET,
    Context,
    FakeS3,
    FakeSns,
    FakeStepFunctions,
    emitted,
    loaded,
    logged,
)
from tests.unit.serving.support import churn

pytestmark = QUIET
BUCKET = "artifacts"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
PROFILE = "models/churn/runs/r1/profile.json"


@pytest.fixture(scope="module")
def drift() -> Iterator[Any]:
    with loaded("handlers.drift") as module:
        yield module


@dataclass
class FakeRegistry:
    """The model registry's drift-check side: aliases, records, the lease, results and runs."""

    records: dict[str, dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    held_by: dict[str, str] = field(default_factory=dict)
    remembers: bool = False  # False: every check sees the whole window, as if none ran before

    def list_models(self, *, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return [{"model": name} for name in sorted(self.records)], None

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return {"champion": {"version": 1}} if self.records.get(name) is not None else {}

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        return self.records.get(name)

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.get_version(name, version)
        return ModelVersion.from_item(item) if item else None

    def claim_drift_check(self, name: str, *, owner: str, now: datetime, lease: timedelta) -> str | None:
        holder = self.held_by.get(name)
        if holder is not None and holder != owner:
            return holder
        self.held_by[name] = owner
        return None

    def release_drift_check(self, name: str, *, owner: str, now: datetime) -> None:
        self.held_by.pop(name, None)

    def drift_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        if not self.remembers:
            return []
        return [r for r in reversed(self.results) if r["model"] == name][:limit]

    def put_drift_result(self, name: str, version: int, checked_at: str, summary: dict[str, Any]) -> bool:
        self.results.append({"model": name, "version": version, **summary})
        return True

    def runs_for_dataset(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]:
        return []


class NoDatasets:
    def latest_dataset_version(self, dataset: str) -> dict[str, Any] | None:
        return None


def _shifted_traffic(s3: FakeS3, rows: int = 150) -> None:
    """Test rows of churn with income ten times what training saw, captured as the predict function
    captures them, ten minutes before the check."""
    registered = churn()
    served = load_version("churn", ModelVersion.from_item(registered.record), registered.artifacts.__getitem__)
    records = registered.records(registered.prepared.splits.rows_test)
    shifted = [{**r, "income": (r["income"] or 0) * 10} for r in (records * 10)[:rows]]
    encoded = encode_request(shifted, served.signature, InputPolicy(out_of_range="warn", unseen_category="warn"))
    answer = served.predict(encoded.matrix)
    artifacts = ArtifactsBucket(s3, BUCKET)
    capture = CaptureBuffer(
        write=lambda key, body: artifacts.put(key, body, "application/octet-stream"),
        default_sample_rate=1.0,
        now=lambda: NOW - timedelta(minutes=10),
    )
    capture.add(
        model="churn",
        version=1,
        fields=served.signature.field_kinds,
        classes=served.signature.classes,
        values=encoded.values,
        predictions=answer.predictions,
        probabilities=answer.probabilities,
        variant="champion",
        request_id="req-1",
    )
    capture.flush()


@dataclass
class Monitor:
    module: Any
    registry: FakeRegistry
    s3: FakeS3
    sfn: FakeStepFunctions
    sns: FakeSns

    def call(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        checks: list[dict[str, Any]] = self.module.handler(event, Context())["checks"]
        return checks


@pytest.fixture
def monitor(drift: Any) -> Iterator[Monitor]:
    s3 = FakeS3()
    s3.put_object(Bucket=BUCKET, Key=PROFILE, Body=churn().prepared.profile.model_dump_json().encode())
    _shifted_traffic(s3)
    record = {
        **churn().record,
        "dataset": "churn",
        "profile_key": PROFILE,
        "monitoring": {"every_hours": 24, "drift": {"min_rows": 100, "dataset_drift_share": 0.25}},
        "retraining": {"cooldown_hours": 1, "max_runs_per_day": 3},
    }
    registry = FakeRegistry({"churn": record})
    sfn, sns = FakeStepFunctions(), FakeSns()
    checks = DriftServices(
        registry=cast(ModelRegistry, registry),
        datasets=cast(DatasetRecords, NoDatasets()),
        artifacts=ArtifactsBucket(s3, BUCKET),
        start_training=partial(drift._start, sfn, MACHINE),
        notify=partial(drift._notify, sns, TOPIC),
        now=lambda: NOW,
    )
    with drift.services.replaced(drift.DriftFunction(checks, 24.0, 30.0, "monitoring")):
        yield Monitor(drift, registry, s3, sfn, sns)


def test_a_drifted_champion_is_reported_mailed_and_retrained_once(
    monitor: Monitor, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    [check] = monitor.call({"models": ["churn"], "force": True})
    assert (check["model"], check["status"], check["version"]) == ("churn", "drift", 1), check
    assert check["retraining"].startswith("drift: dataset drift in")
    assert check["execution_arn"] == MACHINE.replace(":stateMachine:", ":execution:") + ":retrain-churn-20261123T12"
    assert monitor.sfn.started == {
        "retrain-churn-20261123T12": {"dataset": "churn", "reason": check["retraining"]},
    }
    [mail] = monitor.sns.published
    assert mail["TopicArn"] == TOPIC and mail["Subject"] == "Drift: churn v1: dataset drift"
    assert "Retraining started: " in mail["Message"]
    [result] = monitor.registry.results
    assert result["dataset_drift"] is True and "income" in result["drifted_features"]
    assert (BUCKET, result["report_key"]) in monitor.s3.objects
    metrics = emitted(capsys.readouterr().out)
    assert [m["DatasetDrift"] for m in metrics["DatasetDrift"]] == [[1.0]]
    # Only what an alarm watches (each metric is $0.30 a month): the figures behind it and the
    # features' scores are in the log entry, most drifted first, on one scale (1 is the drift line).
    assert set(metrics) == {"DatasetDrift", "RefusedShareExceeded"}
    [entry] = logged(caplog, "drift check")
    assert entry.__dict__["rows"] == result["rows"] and 0 < entry.__dict__["drift_share"] <= 1
    scores = entry.__dict__["feature_scores"]
    assert next(iter(scores)) == "income" and scores["income"] > 1 > scores["age"]
    assert list(scores.values()) == sorted(scores.values(), reverse=True)


def test_an_idle_champion_is_reported_as_such_and_emits_no_metric(
    monitor: Monitor, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traffic, no bill: an hourly check of a model nobody calls says insufficient data in its
    report and emits no custom metric (each one emitted costs $0.30 for the month; issue #21)."""
    monitor.s3.objects = {k: v for k, v in monitor.s3.objects.items() if not k[1].startswith("capture/")}
    [check] = monitor.call({"models": ["churn"], "force": True})
    assert check["status"] == "insufficient_data"
    [result] = monitor.registry.results
    assert result["status"] == "insufficient_data" and result["rows"] == 0
    assert emitted(capsys.readouterr().out) == {}


def test_a_second_check_in_the_same_hour_finds_the_run_already_started(
    monitor: Monitor, caplog: pytest.LogCaptureFixture
) -> None:
    monitor.call({"models": ["churn"], "force": True})
    [check] = monitor.call({"models": ["churn"], "force": True})
    assert check["status"] == "drift" and check["execution_arn"] is None
    assert list(monitor.sfn.started) == ["retrain-churn-20261123T12"]
    [record] = logged(caplog, "retraining already started by a concurrent check")
    assert record.__dict__["execution"] == "retrain-churn-20261123T12"
    assert monitor.registry.results[-1]["retraining"]["started"] is False


def test_the_schedule_checks_every_model_and_a_failed_check_fails_the_invocation_after_the_others(
    monitor: Monitor,
) -> None:
    monitor.registry.records["broken"] = {"model": "broken", "version": 1, "status": "registered", "dataset": "broken"}
    monitor.registry.records["unpromoted"] = None  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match=r"drift checks failed: broken: KeyError: 'profile_key'"):
        monitor.call({})
    assert [r["model"] for r in monitor.registry.results] == ["churn"]


def test_a_model_another_check_holds_is_skipped(monitor: Monitor) -> None:
    monitor.registry.held_by["churn"] = "another-invocation"
    [check] = monitor.call({"models": ["churn"]})
    assert check["status"] == "skipped" and "another-invocation" in check["detail"]
    assert monitor.sfn.started == {}


def test_a_schedule_firing_a_moment_early_still_finds_the_model_due(monitor: Monitor) -> None:
    """EventBridge fires a rate schedule within its minute, not on the second: a daily model whose
    previous check's window ended a few seconds later in the day is still due at the next day's
    firing, not a whole period later; half a day on, it is not."""
    monitor.registry.remembers = True
    monitor.call({"models": ["churn"]})
    checks = monitor.module.services().checks
    for hours_on, seconds_early, expected in ((12, 0, "skipped"), (24, 60, "insufficient_data")):
        at = NOW + timedelta(hours=hours_on) - timedelta(seconds=seconds_early)
        later = monitor.module.DriftFunction(replace(checks, now=lambda at=at: at), 24.0, 30.0, "monitoring")
        with monitor.module.services.replaced(later):
            [check] = monitor.call({"models": ["churn"]})
        assert check["status"] == expected, check
