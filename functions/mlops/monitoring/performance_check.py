"""One performance check per monitored model, after its labels were joined: score the window of
joined hours per version, variant and segment, keep the report and a registry row, mail when a
metric is past its floor.

AWS is reached only through `PerformanceServices`, so the whole flow runs in tests against moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.buckets import ArtifactsBucket
from mlops.monitoring.assessment import VersionBaseline, assess_performance, problem_type_of
from mlops.monitoring.joined import JoinedHour, combine, read_joined
from mlops.monitoring.performance_record import PerformanceAssessment, PerformanceSummary
from mlops.monitoring.performance_report import performance_notification, performance_report_html
from mlops.monitoring.scheduled_join import ModelJoin
from mlops.names import PERFORMANCE_REPORTS_PREFIX
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion
from mlops.training.metric_names import ProblemType

HISTORY_CHECKS = 100  # the checks a report's chart draws


@dataclass
class PerformanceServices:
    registry: ModelRegistry
    artifacts: ArtifactsBucket
    notify: Callable[[str, str], None]  # (subject, message)
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
            "report_page": self.report_page,
            "mailed": self.mailed,
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
    assessment = assess_performance(
        window,
        model=model,
        problem_type=problem_type_of_version(champion, window),
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
    summary = assessment.summary(report_key=report_key, report_page=report_page)
    history = [PerformanceSummary.from_item(row) for row in registry.performance_results(model, limit=HISTORY_CHECKS)]
    services.artifacts.put(report_key, assessment.model_dump_json(indent=1).encode(), "application/json")
    services.artifacts.put(
        report_page, performance_report_html(assessment, history).encode(), "text/html; charset=utf-8"
    )
    stored = registry.put_performance_result(model, assessment.checked_at, summary.attributes())
    mailed = False
    notification = performance_notification(assessment, report_page)
    if stored and notification is not None:
        services.notify(*notification)
        mailed = True
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
    )
