"""Retraining decisions: drift starts a run unless a recent automatic run is within the cooldown or
the daily cap is reached; a schedule starts one when the dataset has gone without; manual runs do
not count against either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops.monitoring.retraining import RetrainingDecision, RetrainingPolicy, decide_retraining

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _run(hours_ago: float, reason: str) -> dict[str, str]:
    return {"started_at": (NOW - timedelta(hours=hours_ago)).isoformat(), "reason": reason}


def _decide(policy: RetrainingPolicy | None, drift: bool, runs: list[dict[str, str]]) -> RetrainingDecision:
    return decide_retraining(
        model="churn", policy=policy, dataset_drift=drift, drifted_features=["age", "city"], runs=runs, now=NOW
    )


def test_drift_starts_a_named_run_that_records_why() -> None:
    decision = _decide(RetrainingPolicy(), True, [_run(72, "requested")])
    assert decision.start and decision.reason.startswith("drift: dataset drift in 2 features (age, city)")
    assert decision.execution_name == "retrain-churn-20261123T12"


def test_a_second_drift_within_the_cooldown_starts_nothing_and_says_why() -> None:
    decision = _decide(RetrainingPolicy(cooldown_hours=6), True, [_run(2, "drift: dataset drift in 3 features")])
    assert not decision.start and decision.reason.startswith("cooldown")
    assert _decide(RetrainingPolicy(cooldown_hours=1, max_runs_per_day=2), True, [_run(2, "drift: x")]).start


def test_the_daily_cap_counts_automatic_runs_only() -> None:
    runs = [_run(3, "drift: a"), _run(5, "schedule: b"), _run(1, "requested"), _run(0.5, "manual retrain")]
    capped = _decide(RetrainingPolicy(cooldown_hours=0, max_runs_per_day=2), True, runs)
    assert not capped.start and capped.reason == "daily cap: 2 automatic runs in the last 24 h"
    assert _decide(RetrainingPolicy(cooldown_hours=0, max_runs_per_day=3), True, runs).start


def test_no_policy_no_drift_or_drift_retraining_off_start_nothing() -> None:
    assert not _decide(None, True, []).start
    assert _decide(RetrainingPolicy(), False, []).reason == "no dataset drift"
    assert not _decide(RetrainingPolicy(on_drift=False), True, []).start


def test_a_schedule_starts_a_run_when_the_dataset_has_gone_without() -> None:
    policy = RetrainingPolicy(every_days=7)
    due = _decide(policy, False, [_run(24 * 8, "requested")])
    assert due.start and due.reason.startswith("schedule: no training run for 7 days")
    assert not _decide(policy, False, [_run(24 * 3, "requested")]).start
    assert _decide(policy, False, []).start


def test_the_policy_reads_the_version_record_section() -> None:
    assert RetrainingPolicy.from_record(None) is None
    policy = RetrainingPolicy.from_record(
        {"cooldown_hours": 2, "max_runs_per_day": 3, "every_days": 7, "on_drift": True}
    )
    assert policy == RetrainingPolicy(cooldown_hours=2.0, max_runs_per_day=3, on_drift=True, every_days=7.0)


def test_drift_with_no_new_data_since_the_champion_was_trained_starts_nothing_and_says_what_to_do() -> None:
    """Retraining on the data the champion was trained on reproduces the same model (same split seed,
    same candidates): it is not started, and the drift result says why."""
    reason = "no new data since v3 was trained (dataset version 0123456789ab is still the newest): upload …"
    decision = decide_retraining(
        model="churn",
        policy=RetrainingPolicy(),
        dataset_drift=True,
        drifted_features=["age"],
        runs=[],
        now=NOW,
        no_new_data=reason,
    )
    assert (decision.start, decision.reason, decision.execution_name) == (False, reason, None)
    no_drift = decide_retraining(
        model="churn",
        policy=RetrainingPolicy(),
        dataset_drift=False,
        drifted_features=[],
        runs=[],
        now=NOW,
        no_new_data=reason,
    )
    assert no_drift.reason == "no dataset drift", "without drift, drift is the reason nothing starts"


def test_no_new_data_is_when_the_champions_dataset_version_is_still_the_newest() -> None:
    from types import SimpleNamespace
    from typing import Any

    from mlops.datasets.records import DatasetVersion
    from mlops.monitoring.checks import _no_new_data
    from mlops.registry.versions import ModelVersion

    def services(latest: str | None) -> Any:
        newest = (
            DatasetVersion(dataset="churn", version=latest, created_at=NOW.isoformat(), manifest_key="m.json")
            if latest
            else None
        )
        return SimpleNamespace(datasets=SimpleNamespace(latest_dataset_version=lambda dataset: newest))

    def champion(**trained: Any) -> ModelVersion:
        return ModelVersion(model="churn", version=3, status="registered", **trained)

    record = champion(dataset_version="0123456789abcdef")
    reason = _no_new_data(services("0123456789abcdef"), "churn", 3, record)
    assert reason == (
        "no new data since v3 was trained (dataset version 0123456789ab is still the newest): "
        "upload labelled data to raw/churn/"
    )
    assert _no_new_data(services("fedcba9876543210"), "churn", 3, record) is None
    assert _no_new_data(services(None), "churn", 3, record) is None
    assert _no_new_data(services("0123456789abcdef"), "churn", 3, champion()) is None
    # A champion trained on several versions is compared by the newest of them (oldest first).
    combined = champion(
        dataset_version="0123456789abcdef",
        training_data={"versions": [{"version": "aaaa"}, {"version": "0123456789abcdef"}]},
    )
    assert _no_new_data(services("0123456789abcdef"), "churn", 3, combined) == reason
    assert _no_new_data(services("fedcba9876543210"), "churn", 3, combined) is None
