"""A performance drop retrains like drift (same cooldown and daily cap) and says why: the check, the
metric, the versions assessed and the feedback upload. When the drop writes feedback, the run starts
only once ingestion accepts that upload, so it trains on it, and a contract's auto_train does not
start a second one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlops.monitoring.drop_retraining import DropServices, PerformanceDrop, retrain_on_drop
from mlops.monitoring.retraining import RetrainingPolicy, decide_retraining
from mlops.registry.feedback_exports import FeedbackExports
from mlops.training.start import StartedRun, TrainingRequest
from tests.unit.monitoring.feedback_support import (
    DATASET,
    START,
    Platform,
    contract,
    feedback_services,
    feedback_source,
    labelled,
    table,
)

CHECKED = START + timedelta(hours=3)
DROP = PerformanceDrop(
    model=DATASET,
    dataset=DATASET,
    check=CHECKED.isoformat(),
    metric="accuracy",
    value=0.7125,
    floor=0.8,
    window_start=CHECKED - timedelta(hours=168),
    window_end=CHECKED,
    versions=(3, 4),
    labels=400,
)
STATED = (
    "accuracy 0.7125 past its floor 0.8 over 2026-11-24T12:00Z to 2026-12-01T12:00Z (400 labels; v3, v4; "
    "check 2026-12-01T12:00:00+00:00)"
)


def _run(hours_ago: float, reason: str) -> dict[str, str]:
    return {"started_at": (CHECKED - timedelta(hours=hours_ago)).isoformat(), "reason": reason}


def _services_for(platform: Platform, started: list[tuple[TrainingRequest, str]]) -> DropServices:
    def start(request: TrainingRequest, run: str) -> StartedRun:
        started.append((request, run))
        return StartedRun(run, f"arn:execution:{run}", already_started=False)

    return DropServices(feedback=feedback_services(platform), start_training=start, now=lambda: CHECKED)


def test_a_drop_writes_feedback_and_its_run_starts_when_ingestion_accepts_it(registry_table: Any) -> None:
    platform = Platform(contract(auto_train=True), registry_table)
    started: list[tuple[TrainingRequest, str]] = []
    source = feedback_source("int", labelled("int", range(400)))
    outcome = retrain_on_drop(
        _services_for(platform, started), DROP, policy=RetrainingPolicy(), runs=[], no_new_data="x", source=source
    )
    key = f"raw/{DATASET}/feedback-{DATASET}-20261201T110000000Z-20261201T110000399Z.csv"
    assert started == [], "not now: the run must see the feedback version, which does not exist yet"
    assert outcome.feedback is not None and outcome.feedback.key == key and outcome.feedback.rows == 400
    assert outcome.requested is not None and outcome.requested.run_id == "retrain-visits-20261201T12"
    assert outcome.decision.reason == f"performance: {STATED}; feedback {key} (400 rows)"
    assert outcome.summary == f"retraining retrain-visits-20261201T12 starts when {key} is accepted"
    record = FeedbackExports(registry_table).export(DATASET, key)
    assert record is not None and record.retraining == outcome.requested and record.versions == (3,)

    ingested = platform.ingest(key)
    assert ingested.status == "accepted" and ingested.training_execution == "arn:execution:retrain-visits-20261201T12"
    [(run, request)] = platform.runs.items()
    assert run == "retrain-visits-20261201T12", "that run only: no auto_train run beside it"
    version = str(ingested.version)
    assert request.reason == f"performance: {STATED}; feedback {key} (400 rows); dataset version {version[:12]}"
    assert request.cause == {
        "trigger": "performance",
        "check": "2026-12-01T12:00:00+00:00",
        "metric": "accuracy",
        "value": "0.7125",
        "floor": "0.8",
        "versions": "3,4",
        "feedback_key": key,
        "dataset_version": version,
    }
    assert request.dataset_version is None, "the run trains on what the config chooses, the feedback version included"


def test_without_enough_feedback_the_run_starts_now_if_there_is_newer_data(registry_table: Any) -> None:
    platform = Platform(contract(), registry_table)
    started: list[tuple[TrainingRequest, str]] = []
    services = _services_for(platform, started)
    few = feedback_source("int", labelled("int", range(10)))
    outcome = retrain_on_drop(services, DROP, policy=RetrainingPolicy(), runs=[], no_new_data=None, source=few)
    assert outcome.feedback is not None and outcome.feedback.status == "too_few_rows"
    [(request, run)] = started
    assert run == "retrain-visits-20261201T12" and request.reason == f"performance: {STATED}"
    assert request.dataset == DATASET and request.cause["check"] == DROP.check and "feedback_key" not in request.cause
    assert platform.raw.objects == {}

    stale = retrain_on_drop(
        services, DROP, policy=RetrainingPolicy(), runs=[], no_new_data="no new data since v3 was trained", source=None
    )
    assert not stale.decision.start and stale.summary == "no retraining: no new data since v3 was trained"
    assert stale.feedback is None and len(started) == 1


def test_the_cooldown_holds_across_drift_and_performance_and_feedback_is_written_anyway(registry_table: Any) -> None:
    platform = Platform(contract(auto_train=True), registry_table)
    started: list[tuple[TrainingRequest, str]] = []
    runs = [_run(2, "drift: dataset drift in 3 features (age, plan, seen)")]
    source = feedback_source("int", labelled("int", range(100)))
    outcome = retrain_on_drop(
        _services_for(platform, started), DROP, policy=RetrainingPolicy(), runs=runs, no_new_data=None, source=source
    )
    assert not outcome.decision.start and outcome.decision.reason.startswith("cooldown")
    assert outcome.feedback is not None and outcome.feedback.written and outcome.requested is None
    assert platform.ingest(str(outcome.feedback.key)).status == "accepted"
    assert started == [] and platform.runs == {}, "the feedback version waits for the next run, auto_train or not"
    # And a performance run holds back drift's next one, as drift's holds back this.
    after = decide_retraining(
        model=DATASET,
        policy=RetrainingPolicy(),
        dataset_drift=True,
        drifted_features=["age"],
        runs=[_run(1, f"performance: {STATED}")],
        now=CHECKED,
    )
    assert not after.start and after.reason.startswith("cooldown")


def test_a_policy_can_leave_performance_drops_to_people(registry_table: Any) -> None:
    platform = Platform(contract(), registry_table)
    started: list[tuple[TrainingRequest, str]] = []
    policy = RetrainingPolicy.from_record({"on_drift": True, "on_performance_drop": False})
    assert policy is not None and not policy.on_performance_drop
    outcome = retrain_on_drop(
        _services_for(platform, started), DROP, policy=policy, runs=[], no_new_data=None, source=None
    )
    assert outcome.decision.reason == "retraining on a performance drop is off" and started == []
    none = retrain_on_drop(_services_for(platform, started), DROP, policy=None, runs=[], no_new_data=None, source=None)
    assert none.decision.reason == "the model's config has no retraining section"


def test_a_file_merely_named_like_feedback_is_an_ordinary_upload(registry_table: Any) -> None:
    platform = Platform(contract(auto_train=True), registry_table)
    ingested = platform.upload("feedback-visits-by-hand.csv", table("int").csv)
    assert ingested.status == "accepted"
    assert [run.split("-")[0] for run in platform.runs] == ["ingest"], "its contract's auto_train applies"
