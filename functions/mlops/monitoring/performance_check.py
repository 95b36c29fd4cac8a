"""One performance check per monitored model, after its labels were joined: score the window of
joined hours per version, variant and segment, keep the report and a registry row, mail when a
metric is past its floor; while a challenger answers a canary share, compare it with the champion
on outcomes (`mlops.monitoring.ab_test`) and, where the config asks, end the canary
(`mlops.monitoring.canary_decision`); a champion past its floor writes its labelled traffic back as a dataset
version (`monitoring.performance.feedback`) and may retrain (`retraining`), and the feedback loop's
`every_days` writes it on a schedule too.

AWS is reached only through `PerformanceServices`, so the whole flow runs in tests against moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.buckets import ArtifactsBucket, RawBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.ab_test import ABComparison, compare_canary
from mlops.monitoring.assessment import VersionBaseline, assess_performance, problem_type_of
from mlops.monitoring.canary_decision import CanaryDecision, end_canary
from mlops.monitoring.drop_retraining import DropRetraining, DropServices, PerformanceDrop, retrain_on_drop
from mlops.monitoring.feedback_dataset import (
    FeedbackOutcome,
    FeedbackSchema,
    FeedbackServices,
    FeedbackSource,
    export_feedback,
    feedback_due,
)
from mlops.monitoring.joined import JoinedHour, combine, read_joined
from mlops.monitoring.performance_record import PerformanceAssessment, PerformanceSummary
from mlops.monitoring.performance_report import performance_notification, performance_report_html
from mlops.monitoring.retraining import RetrainingPolicy, no_new_data
from mlops.monitoring.scheduled_join import ModelJoin, joined_window
from mlops.names import CHALLENGER, CHAMPION, PERFORMANCE_REPORTS_PREFIX
from mlops.registry.feedback_exports import FeedbackExports
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion
from mlops.serving.prediction_keys import key_policy
from mlops.serving.signature import ServedSignature
from mlops.training.metric_names import ProblemType
from mlops.training.start import StartedRun, TrainingRequest

HISTORY_CHECKS = 100  # the checks a report's chart draws


@dataclass
class PerformanceServices:
    registry: ModelRegistry
    artifacts: ArtifactsBucket
    notify: Callable[[str, str], None]  # (subject, message)
    # The feedback loop's and retraining's; None: this deployment writes no feedback and trains nothing.
    raw: RawBucket | None = None
    feedback_exports: FeedbackExports | None = None
    datasets: DatasetRecords | None = None
    # mlops.training.start.start_training on the stack's pipeline.
    start_training: Callable[[TrainingRequest, str], StartedRun | None] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class PerformanceOutcome:
    model: str
    status: str  # ok | below_floor | insufficient_labels | skipped
    detail: str
    version: int | None = None
    assessment: PerformanceAssessment | None = None
    window: JoinedHour | None = None  # the combined joined hours (the A/B test and feedback read it)
    report_key: str | None = None
    report_page: str | None = None
    mailed: bool = False
    retraining: DropRetraining | None = None
    feedback: FeedbackOutcome | None = None
    ab_test: ABComparison | None = None
    canary: CanaryDecision | None = None
    live_below_floor: tuple[str, ...] = ()  # "v<n> <variant>" of versions answering now, past a floor

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "detail": self.detail,
            "version": self.version,
            "labelled": self.assessment.labelled if self.assessment else 0,
            "below_floor": [f"v{v.version} {v.variant}" for v in self.assessment.below_floor()]
            if self.assessment
            else [],
            "live_below_floor": list(self.live_below_floor),
            "report_page": self.report_page,
            "mailed": self.mailed,
            "retraining": self.retraining.summary if self.retraining is not None else None,
            "feedback": self.feedback.detail if self.feedback is not None else None,
            "ab_test": self.ab_test.text() if self.ab_test is not None else None,
            "canary": self.canary.action if self.canary is not None else None,
        }


def problem_type_of_version(record: ModelVersion | None, window: JoinedHour | None) -> ProblemType:
    """From the window's classes when it has rows; else from the champion's test-split metrics
    (a regression model has rmse, a binary one the Brier score)."""
    if window is not None and window.size:
        return problem_type_of(window.classes)
    metrics = record.metrics if record is not None else {}
    if "rmse" in metrics:
        return "regression"
    return "binary" if "brier" in metrics or not metrics else "multiclass"


def check_performance(services: PerformanceServices, join: ModelJoin) -> PerformanceOutcome:
    """The check of one model's window; a rerun in the same second changes nothing stored."""
    model = join.outcome.model
    if join.config is None or join.version is None:
        return PerformanceOutcome(model, "skipped", join.outcome.detail, join.version)
    config = join.config
    now = services.now()
    start = now - timedelta(hours=config.window_hours)
    window = combine([read_joined(services.artifacts.get(key)) for key in join.window])
    registry = services.registry
    champion = registry.model_version(model, join.version)
    answering = set(window.predicted) | {int(v) for v in window.versions.tolist()} if window is not None else set()
    baselines: dict[int, VersionBaseline] = {}
    for version in sorted(answering | {join.version}):
        record = champion if version == join.version else registry.model_version(model, version)
        if record is not None:
            baselines[version] = VersionBaseline.from_version(record)
    problem_type = problem_type_of_version(champion, window)
    assessment = assess_performance(
        window,
        model=model,
        problem_type=problem_type,
        config=config,
        versions=baselines,
        window_start=start,
        window_end=now,
        now=now,
        # Seeded by the check's hour: a rerun reports the same intervals.
        seed=int(now.timestamp()) // 3600,
    )
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    report_key = f"{PERFORMANCE_REPORTS_PREFIX}{model}/{stamp}.json"
    report_page = f"{PERFORMANCE_REPORTS_PREFIX}{model}/{stamp}.html"
    comparison, canary = _ab_test(services, join, window, problem_type, now)
    retraining, feedback = _feedback_and_retraining(services, join, champion, assessment, window)
    summary = assessment.summary(report_key=report_key, report_page=report_page)
    written = feedback if feedback is not None else retraining.feedback if retraining is not None else None
    summary = summary.model_copy(
        update={
            "retraining": retraining.as_dict() if retraining is not None else None,
            "feedback": written.as_dict() if written is not None else None,
            "ab_test": {**comparison.as_dict(), "text": comparison.text()} if comparison is not None else None,
            "canary": canary.as_dict() if canary is not None else None,
        }
    )
    history = [PerformanceSummary.from_item(row) for row in registry.performance_results(model, limit=HISTORY_CHECKS)]
    services.artifacts.put(report_key, assessment.model_dump_json(indent=1).encode(), "application/json")
    services.artifacts.put(
        report_page, performance_report_html(assessment, history).encode(), "text/html; charset=utf-8"
    )
    stored = registry.put_performance_result(model, assessment.checked_at, summary.attributes())
    mailed = False
    # Alarmed and mailed for the versions that answer now (a champion since replaced, or a canary
    # rolled back, stays in the window's figures but is no one's problem any more), when one falls
    # past its floor: not at every hourly check while it stays there. Newly fallen ones come first.
    serving = _serving_versions(registry.aliases(model))
    live = [v for v in assessment.below_floor() if v.version in serving]
    fallen = {(v.version, v.variant) for v in live} - (_below(history[0]) if history else set())
    shown = assessment.model_copy(
        update={
            "versions": sorted(
                (v for v in assessment.versions if v.version in serving),
                key=lambda v: not any((v.version, p.variant) in fallen for p in v.variants),
            )
        }
    )
    notification = performance_notification(shown, report_page)
    already = not fallen
    if stored and notification is not None and not already:
        subject, text = notification
        if retraining is not None:
            text += f"\n\nRetraining: {retraining.summary}"
        services.notify(subject, text)
        mailed = True
    if canary is not None and canary.changed and comparison is not None:
        services.notify(
            f"A/B: {model} canary v{comparison.challenger.version} {canary.action.replace('_', ' ')}"[:100],
            f"{canary.detail}\n\nReport: {report_page}",
        )
    return PerformanceOutcome(
        model,
        assessment.status,
        assessment.message,
        join.version,
        assessment,
        window,
        report_key,
        report_page,
        mailed,
        retraining,
        written,
        comparison,
        canary,
        tuple(f"v{v.version} {v.variant}" for v in live),
    )


def _serving_versions(aliases: dict[str, dict[str, Any]]) -> set[int]:
    return {int(item["version"]) for name, item in aliases.items() if name in (CHAMPION, CHALLENGER)}


def _below(check: PerformanceSummary) -> set[tuple[int, str]]:
    return {(v.version, v.variant) for v in check.variants if v.status == "below_floor"}


def _ab_test(
    services: PerformanceServices,
    join: ModelJoin,
    window: JoinedHour | None,
    problem_type: ProblemType,
    now: datetime,
) -> tuple[ABComparison | None, CanaryDecision | None]:
    """While a challenger answers a canary share: its labelled answers against the champion's, since
    the canary started (the alias's last change), and the canary ended where the config asks."""
    config = join.config
    if config is None:
        return None, None
    model = join.outcome.model
    aliases = services.registry.aliases(model)
    champion, challenger = aliases.get(CHAMPION), aliases.get(CHALLENGER)
    if champion is None or challenger is None or (challenger.get("rollout") or {}).get("mode") != "canary":
        return None, None
    started = challenger.get("updated_at")
    since = datetime.fromisoformat(str(started)) if started else None
    # The test is on each side's first labelled rows since the canary started: a canary older than
    # the check's rolling window needs the hours before it too, or its first rows drop out and the
    # tested rows move (a new test at every check: the repeated looks the planned size prevents).
    window_start = now - timedelta(hours=config.window_hours)
    if since is not None and since < window_start:
        keys = joined_window(services.artifacts, model, since, now)
        window = combine([read_joined(services.artifacts.get(key)) for key in keys]) or window
    if window is None or window.size == 0:
        return None, None
    comparison = compare_canary(
        window,
        champion=int(champion["version"]),
        challenger=int(challenger["version"]),
        problem_type=problem_type,
        classes=window.classes,
        config=config.ab_test,
        since_ms=int(since.timestamp() * 1000) if since is not None else None,
    )
    decision = end_canary(services.registry, comparison, auto_decide=config.ab_test.auto_decide, at=now.isoformat())
    return comparison, decision


def _feedback_and_retraining(
    services: PerformanceServices,
    join: ModelJoin,
    champion: ModelVersion | None,
    assessment: PerformanceAssessment,
    window: JoinedHour | None,
) -> tuple[DropRetraining | None, FeedbackOutcome | None]:
    """Answers given as the champion past their floor: feedback on the drop and retraining; otherwise
    the feedback loop's schedule. Only answers given as the champion count as a drop: a canary past
    its floor is the A/B check's to end."""
    config = join.config
    if (
        config is None
        or champion is None
        or services.raw is None
        or services.feedback_exports is None
        or services.datasets is None
        or services.start_training is None
    ):
        return None, None
    model, version = assessment.model, champion.version
    now = services.now()
    feedback_services = FeedbackServices(services.raw, services.feedback_exports, services.now)
    source = (
        FeedbackSource(window, _schema(services, champion), config.feedback, join.outcome.watermark or now)
        if config.feedback is not None
        else None
    )
    # The answers clients got as the champion's, whichever version gave them (a champion promoted
    # since has no labelled answers yet): the current champion's first.
    answered = [v for v in assessment.below_floor() if v.variant == CHAMPION]
    dropped = next((v for v in answered if v.version == version), answered[0] if answered else None)
    if dropped is None:
        if source is not None and feedback_due(source.config, services.feedback_exports.watermark(model), now):
            return None, export_feedback(feedback_services, source)
        return None, None
    figure = next(m for m in dropped.metrics if m.past_floor)
    dataset = champion.dataset or model
    drop = PerformanceDrop(
        model=model,
        dataset=dataset,
        check=assessment.checked_at,
        metric=figure.name,
        value=float(figure.value if figure.value is not None else float("nan")),
        floor=float(figure.floor if figure.floor is not None else float("nan")),
        window_start=datetime.fromisoformat(assessment.window_start),
        window_end=datetime.fromisoformat(assessment.window_end),
        versions=tuple(sorted({v.version for v in assessment.versions})),
        labels=dropped.labelled,
    )
    retraining = retrain_on_drop(
        DropServices(feedback_services, services.start_training, services.now),
        drop,
        policy=RetrainingPolicy.from_record(champion.retraining),
        runs=services.registry.runs_for_dataset(dataset),
        no_new_data=no_new_data(services.datasets, dataset, version, champion),
        source=source,
    )
    return retraining, None


def _schema(services: PerformanceServices, champion: ModelVersion) -> FeedbackSchema:
    """The feedback file's columns: the champion's inputs as the dataset names them (its signature)."""
    if champion.signature_key is None:
        raise ValueError(f"{champion.model} v{champion.version} has no signature to write feedback with")
    signature = ServedSignature.from_json(json.loads(services.artifacts.get(champion.signature_key)))
    keys = key_policy(champion.monitoring)
    return FeedbackSchema.from_signature(
        signature, model=champion.model, dataset=champion.dataset, id_field=keys.id_field if keys else None
    )
