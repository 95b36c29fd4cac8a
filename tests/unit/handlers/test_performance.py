"""The performance function as its schedule meets it: every champion whose config has
`monitoring.performance` gets its new labels joined with the predictions they are about, others are
skipped, each joined model names the hours of its window for the performance check, and a model
whose join failed fails the invocation after the others ran. The bucket is a dict, the registry and
the join's lease fakes; the traffic is a registered churn model's real answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest

from mlops.buckets import ArtifactsBucket
from mlops.monitoring.label_store import LabelBatch, label_key, labels_npz
from mlops.monitoring.performance_check import PerformanceServices
from mlops.monitoring.scheduled_join import JoinServices
from mlops.registry.label_joins import JoinClaim, JoinState, LabelJoins
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer
from mlops.serving.inputs import InputPolicy, encode_request
from mlops.serving.models import load_version
from mlops.serving.request_ids import new_request_id
from tests.unit.handlers.support import QUIET, Context, FakeS3, emitted, loaded
from tests.unit.serving.support import churn

pytestmark = QUIET
BUCKET = "artifacts"
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ANSWERED = datetime(2026, 11, 23, 14, 20, tzinfo=UTC)  # three days before the labels
HOUR = ANSWERED.replace(minute=0)
RECEIVED = NOW - timedelta(minutes=10)


@pytest.fixture(scope="module")
def performance() -> Iterator[Any]:
    with loaded("handlers.performance") as module:
        yield module


@dataclass
class FakeRegistry:
    """The registry's side the function reads: models, their champions and the champions' records."""

    records: dict[str, dict[str, Any] | None]
    checks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    champion: int = 1
    more_aliases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def list_models(self, *, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return [{"model": name} for name in sorted(self.records)], None

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        if self.records.get(name) is None:
            return {}
        return {"champion": {"version": self.champion}, **self.more_aliases}

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        record = self.records.get(name)
        return ModelVersion.from_item(record) if record else None

    def put_performance_result(self, name: str, checked_at: str, summary: dict[str, Any]) -> bool:
        held = self.checks.setdefault(name, {})
        if checked_at in held:
            return False
        held[checked_at] = summary
        return True

    def performance_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return [self.checks.get(name, {})[at] for at in sorted(self.checks.get(name, {}), reverse=True)][:limit]


@dataclass
class FakeJoins:
    """The join's item on the registry table: its state and who holds the model."""

    states: dict[str, JoinState] = field(default_factory=dict)
    held_by: dict[str, str] = field(default_factory=dict)

    def claim_label_join(self, name: str, *, owner: str, now: datetime, lease: timedelta) -> JoinClaim:
        if self.held_by.get(name, owner) != owner:
            return JoinClaim(None, self.held_by[name])
        self.held_by[name] = owner
        return JoinClaim(self.states.get(name, JoinState()))

    def commit_label_join(self, name: str, *, owner: str, now: datetime, **state: Any) -> bool:
        self.held_by.pop(name, None)
        self.states[name] = JoinState(state["watermark"], tuple(state["open_hours"]), now, state["summary"])
        return True

    def release_label_join(self, name: str, *, owner: str, now: datetime) -> None:
        self.held_by.pop(name, None)


def _traffic(s3: FakeS3, canary_every: int = 0) -> list[tuple[str, str]]:
    """Twenty churn requests of one row each answered by v1, captured as the predict function
    captures them; their request ids and true outcomes."""
    registered = churn()
    served = load_version("churn", ModelVersion.from_item(registered.record), registered.artifacts.__getitem__)
    rows = registered.prepared.splits.rows_test[:20]
    records = registered.records(rows)
    truth = registered.arrays["outcome"][rows]
    artifacts = ArtifactsBucket(s3, BUCKET)
    capture = CaptureBuffer(
        write=lambda key, body: artifacts.put(key, body, "application/octet-stream"),
        default_sample_rate=1.0,
        now=lambda: ANSWERED,
    )
    policy = InputPolicy(out_of_range="warn", unseen_category="warn")
    labelled = []
    for n, (record, outcome) in enumerate(zip(records, truth, strict=True)):
        encoded = encode_request([record], served.signature, policy)
        answer = served.predict(encoded.matrix)
        request_id = new_request_id(now_ms=int(ANSWERED.timestamp() * 1000), random_bytes=n.to_bytes(10, "big"))
        canary = canary_every and n % canary_every == 0  # the same model as v2, answering a canary share
        capture.add(
            model="churn",
            version=2 if canary else 1,
            fields=served.signature.field_kinds,
            classes=served.signature.classes,
            values=encoded.values,
            predictions=answer.predictions,
            probabilities=answer.probabilities,
            variant="challenger" if canary else "champion",
            request_id=request_id,
        )
        labelled.append((request_id, str(outcome)))
    capture.flush()
    return labelled


@dataclass
class Monitor:
    module: Any
    s3: FakeS3
    registry: FakeRegistry
    joins: FakeJoins
    mails: list[tuple[str, str]]

    def call(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        joins: list[dict[str, Any]] = self.module.handler(event, Context())["joins"]
        return joins

    def label(self, items: list[tuple[str, str]], *, suffix: str = "api") -> None:
        ids, values = zip(*items, strict=True)
        batch = LabelBatch(
            "churn", HOUR, np.array(ids), np.zeros(len(ids), dtype=np.int64), np.array(values), RECEIVED, "api test"
        )
        self.s3.put_object(Bucket=BUCKET, Key=label_key(batch, suffix), Body=labels_npz(batch))


@pytest.fixture
def monitor(performance: Any) -> Iterator[Monitor]:
    s3 = FakeS3()
    performance_config = {"window_hours": 168, "min_labels": 10, "floor": {"accuracy": 0.99}}
    record = {**churn().record, "monitoring": {"every_hours": 24, "performance": performance_config}}
    watched_only_for_drift = {**churn().record, "monitoring": {"every_hours": 24, "performance": None}}
    registry = FakeRegistry({"churn": record, "legacy": watched_only_for_drift, "unpromoted": None})
    joins = FakeJoins()
    services = JoinServices(ArtifactsBucket(s3, BUCKET), cast(LabelJoins, joins), now=lambda: NOW)
    mails: list[tuple[str, str]] = []
    checks = PerformanceServices(
        cast(ModelRegistry, registry),
        services.artifacts,
        lambda subject, text: mails.append((subject, text)),
        now=lambda: NOW,
    )
    function = performance.PerformanceFunction(cast(ModelRegistry, registry), services, checks, "monitoring")
    with performance.services.replaced(function):
        yield Monitor(performance, s3, registry, joins, mails)


def test_the_schedule_joins_new_labels_of_monitored_champions_and_names_their_windows(
    monitor: Monitor, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = _traffic(monitor.s3)
    monitor.label(labelled[:12])

    joins = {j["model"]: j for j in monitor.call({})}

    churn_join = joins["churn"]
    assert (churn_join["status"], churn_join["hours"], churn_join["matched"]) == ("joined", [HOUR.isoformat()], 12)
    assert churn_join["window"] == ["joined/churn/date=2026-11-23/hour=14/joined.npz"] and churn_join["version"] == 1
    assert joins["legacy"]["status"] == "skipped" and "no monitoring.performance" in joins["legacy"]["detail"]
    assert joins["unpromoted"]["detail"] == "no champion to monitor"
    assert monitor.joins.states["churn"].watermark == RECEIVED
    assert "LabelJoins" not in emitted(capsys.readouterr().out)  # no alarm reads it: the answer says it

    [again] = monitor.call({"models": ["churn"], "force": True})
    assert (again["status"], again["hours"]) == ("up_to_date", [])  # nothing new: no hour touched
    [rebuilt] = monitor.call({"models": ["churn"], "rejoin": True})
    assert (rebuilt["hours"], rebuilt["written"], rebuilt["matched"]) == ([HOUR.isoformat()], 0, 12)


def test_an_hour_without_labels_emits_no_metric(monitor: Monitor, capsys: pytest.CaptureFixture[str]) -> None:
    """No labels, no bill: the hourly run finds nothing to join and nothing to judge, and emits no
    custom metric (each one emitted costs $0.30 for the month; issue #21)."""
    _traffic(monitor.s3)
    answer = monitor.module.handler({}, Context())
    assert {j["model"]: j["status"] for j in answer["joins"]}["churn"] == "up_to_date"
    assert [c["status"] for c in answer["checks"]] == ["insufficient_labels"]
    assert emitted(capsys.readouterr().out) == {}


def test_a_failed_join_fails_the_invocation_after_the_other_models(monitor: Monitor) -> None:
    _traffic(monitor.s3)
    broken = "labels/churn/date=2026-11-23/hour=15/20261126T090000000-file.npz"
    monitor.s3.put_object(Bucket=BUCKET, Key=broken, Body=b"PK not a label object")

    with pytest.raises(RuntimeError, match=r"failed: churn: join: .*hour=15.*is not a label object"):
        monitor.call({})
    assert HOUR + timedelta(hours=1) in monitor.joins.states["churn"].open_hours  # joined again next run


def test_a_model_another_join_holds_is_skipped(monitor: Monitor) -> None:
    monitor.joins.held_by["churn"] = "another-invocation"
    [join] = monitor.call({"models": ["churn"]})
    assert join["status"] == "skipped" and "another-invocation" in join["detail"] and join["window"] == []


def test_after_the_join_the_window_is_checked_and_a_version_past_its_floor_is_mailed_and_alarmed(
    monitor: Monitor, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = _traffic(monitor.s3)
    # The truth turns out otherwise for the first eight: live accuracy falls under the 0.99 floor.
    classes = sorted({label for _, label in labelled})
    flipped = [
        (rid, classes[1 - classes.index(label)]) if n < 8 else (rid, label) for n, (rid, label) in enumerate(labelled)
    ]
    monitor.label(flipped)

    answer = monitor.module.handler({}, Context())

    [check] = answer["checks"]
    assert (check["model"], check["status"], check["labelled"]) == ("churn", "below_floor", 20)
    assert check["below_floor"] == ["v1 champion"] and check["mailed"]
    [(subject, text)] = monitor.mails
    assert subject.startswith("Performance: churn v1 accuracy") and "20 labelled rows" in text
    [row] = monitor.registry.checks["churn"].values()
    assert row["status"] == "below_floor" and row["report_page"].startswith("reports/performance/churn/")
    assert monitor.s3.get_object(Bucket=BUCKET, Key=row["report_page"])["Body"].read().startswith(b"<!DOCTYPE html>")
    metrics = emitted(capsys.readouterr().out)
    assert [m["PerformanceBelowFloor"] for m in metrics["PerformanceBelowFloor"]] == [[1.0]]
    # Only the metric its alarm watches, $0.30 a month while labels flow (issue #21): the live
    # figures are in the report and the log entry.
    assert set(metrics) == {"PerformanceBelowFloor"}
    # The same check again (same second): the row exists, no second mail.
    monitor.module.handler({"models": ["churn"]}, Context())
    assert len(monitor.mails) == 1


def test_a_version_that_stays_past_its_floor_is_mailed_once_not_at_every_hourly_check(monitor: Monitor) -> None:
    labelled = _traffic(monitor.s3)
    classes = sorted({label for _, label in labelled})
    monitor.label([(rid, classes[1 - classes.index(label)]) for rid, label in labelled])  # every answer wrong
    monitor.module.handler({}, Context())
    checks = monitor.module.services().checks
    checks.now = lambda: NOW + timedelta(hours=1)  # the next firing of the schedule

    answer = monitor.module.handler({}, Context())

    assert answer["checks"][0]["status"] == "below_floor" and not answer["checks"][0]["mailed"]
    assert len(monitor.registry.checks["churn"]) == 2 and len(monitor.mails) == 1


def test_a_version_no_longer_answering_stays_in_the_figures_but_raises_no_alarm_and_no_mail(
    monitor: Monitor, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = _traffic(monitor.s3)  # answered by v1
    classes = sorted({label for _, label in labelled})
    monitor.label([(rid, classes[1 - classes.index(label)]) for rid, label in labelled])
    monitor.registry.champion = 2  # v1 was replaced since (its answers are in the window)

    answer = monitor.module.handler({}, Context())

    [check] = answer["checks"]
    assert check["below_floor"] == ["v1 champion"] and check["live_below_floor"] == [] and not check["mailed"]
    assert monitor.mails == []
    assert [m["PerformanceBelowFloor"] for m in emitted(capsys.readouterr().out)["PerformanceBelowFloor"]] == [[0.0]]


def test_a_canary_older_than_the_window_is_compared_on_every_labelled_row_since_it_started(monitor: Monitor) -> None:
    """The A/B test is on each side's first labelled rows since the canary started: with a one-hour
    window three days after the traffic, the window is empty but the canary's hours are read."""
    labelled = _traffic(monitor.s3, canary_every=2)
    monitor.label(labelled)
    started = (ANSWERED - timedelta(hours=1)).isoformat()
    monitor.registry.more_aliases = {
        "challenger": {"version": 2, "rollout": {"mode": "canary", "weight": 0.5}, "updated_at": started}
    }
    record = monitor.registry.records["churn"]
    assert record is not None
    performance = {**record["monitoring"]["performance"], "window_hours": 1, "ab_test": {"min_labels": 10}}
    monitor.registry.records["churn"] = {**record, "monitoring": {**record["monitoring"], "performance": performance}}

    [check] = monitor.module.handler({}, Context())["checks"]

    assert check["labelled"] == 0  # nothing in the one-hour window
    ab = next(iter(monitor.registry.checks["churn"].values()))["ab_test"]
    assert (ab["champion"]["labels"], ab["challenger"]["labels"]) == (10, 10), ab
