"""One drift check per due model: read the champion's captured window, compare it with the
version's reference profile, store the report and a summary row, and maybe start retraining.

AWS is reached only through `DriftServices`, so the whole flow runs in tests against moto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.buckets import ArtifactsBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.config import DriftConfig, PerformanceConfig
from mlops.monitoring.drift import check_drift
from mlops.monitoring.profile import ReferenceProfile
from mlops.monitoring.report import DriftReport, drift_report_html, drift_summary_text, refused_text
from mlops.monitoring.retraining import RetrainingDecision, RetrainingPolicy, decide_retraining, no_new_data
from mlops.monitoring.window import CapturedWindow
from mlops.names import CAPTURE_PREFIX, CHALLENGER, CHAMPION, DRIFT_REPORTS_PREFIX
from mlops.registry.models import ModelRegistry
from mlops.registry.numbers import to_dynamo
from mlops.registry.versions import ModelVersion
from mlops.serving.capture import read_capture, written_at
from mlops.training.start import StartedRun, TrainingRequest

# A check is due a little before `every_hours` have passed: a schedule fires a few seconds early or
# late, and a check whose previous window ended a moment late would otherwise wait a whole period
# (hourly checks of an `every_hours: 1` model ran every two hours a third of the time).
SCHEDULE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class MonitoringPolicy:
    """The model config's `monitoring` section, as stored with the version."""

    every_hours: float = 24.0
    drift: DriftConfig = field(default_factory=DriftConfig)
    performance: PerformanceConfig | None = None  # None: no labels are joined, no performance check

    @classmethod
    def from_record(cls, section: Mapping[str, Any] | None) -> MonitoringPolicy:
        section = section or {}
        performance = section.get("performance")
        return cls(
            every_hours=float(section.get("every_hours", 24.0)),
            drift=DriftConfig.model_validate(section.get("drift") or {}),
            performance=PerformanceConfig.model_validate(performance) if performance is not None else None,
        )


@dataclass
class DriftServices:
    registry: ModelRegistry
    datasets: DatasetRecords
    artifacts: ArtifactsBucket
    # mlops.training.start.start_training on the stack's pipeline; None back: this stack trains nothing.
    start_training: Callable[[TrainingRequest, str], StartedRun | None]
    notify: Callable[[str, str], None]  # (subject, message)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Who is checking (the invocation's request id) and how long a check may hold a model: the
    # drift function's timeout, so a check that died frees the model by the next schedule.
    checker: str = "drift-check"
    lease: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class CheckOutcome:
    model: str
    status: str  # ok | drift | insufficient_data | skipped
    detail: str
    version: int | None = None
    report: DriftReport | None = None
    retraining: RetrainingDecision | None = None
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "detail": self.detail,
            "version": self.version,
            "retraining": self.retraining.reason if self.retraining else None,
            "execution_arn": self.execution_arn,
        }


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def captured_window(
    artifacts: ArtifactsBucket, model: str, versions: list[int], start: datetime, end: datetime
) -> tuple[CapturedWindow | None, int]:
    """The rows of every batch the given versions' containers wrote with start < write time <= end
    (None when there are none), and the number of capture objects read.

    By write time, not request time: a batch lands after its rows were answered, so a window on
    request times would miss rows answered before a check and written after it, in that check and
    in every later one. Consecutive checks' windows meet end to start, so each batch is read once."""
    keys: list[str] = []
    for version in versions:
        for hour in _hours(start, end):
            listed = artifacts.keys(f"{CAPTURE_PREFIX}{model}/version={version}/date={hour:%Y-%m-%d}/hour={hour:%H}/")
            keys += [key for key in listed if (at := written_at(key)) is not None and start < at <= end]
    batches = [read_capture(artifacts.get(key)) for key in keys]
    if not batches:
        return None, 0
    return CapturedWindow.from_batches(batches), len(keys)


def check_model(
    services: DriftServices, model: str, *, force: bool, window_hours: float, settle_seconds: float = 0.0
) -> CheckOutcome:
    aliases = services.registry.aliases(model)
    if CHAMPION not in aliases:
        return CheckOutcome(model, "skipped", "no champion to monitor")
    now = services.now()
    held_by = services.registry.claim_drift_check(model, owner=services.checker, now=now, lease=services.lease)
    if held_by is not None:
        return CheckOutcome(model, "skipped", f"another drift check holds this model ({held_by})")
    try:  # whether it is due is read under the lease, so a check that just ended is seen
        return _check_claimed(services, model, aliases, now, force, window_hours, settle_seconds)
    finally:
        services.registry.release_drift_check(model, owner=services.checker, now=services.now())


def _check_claimed(
    services: DriftServices,
    model: str,
    aliases: dict[str, dict[str, Any]],
    now: datetime,
    force: bool,
    window_hours: float,
    settle_seconds: float,
) -> CheckOutcome:
    champion = aliases[CHAMPION]
    version = int(champion["version"])
    record = services.registry.model_version(model, version)
    policy = MonitoringPolicy.from_record(record.monitoring if record else None)
    previous = services.registry.drift_results(model, limit=1)
    last_end = datetime.fromisoformat(str(previous[0]["window_end"])) if previous else None
    if not force and last_end is not None and now - last_end < timedelta(hours=policy.every_hours) - SCHEDULE_SLACK:
        return CheckOutcome(model, "skipped", f"checked at {last_end.isoformat()}; due every {policy.every_hours:g} h")
    # The window ends a little before now: a batch whose upload began just before the check may not
    # be listed yet, and its key's time would fall before the next window's start.
    end = now - timedelta(seconds=settle_seconds)
    start = max(last_end, end - timedelta(hours=window_hours)) if last_end else end - timedelta(hours=window_hours)
    if record is None or record.profile_key is None:  # run_checks reports the model's check as failed
        raise KeyError("profile_key")
    profile = ReferenceProfile.model_validate_json(services.artifacts.get(record.profile_key))
    # Traffic is traffic whichever version answered it: right after a promotion, containers answer
    # with the previous champion for up to the alias cache time, and a challenger takes a share.
    answering = [version, *(int(v) for v in champion.get("history", [])[-3:])]
    if CHALLENGER in aliases:
        answering.append(int(aliases[CHALLENGER]["version"]))
    window, objects = captured_window(services.artifacts, model, sorted(set(answering)), start, end)
    if window is None:
        window = CapturedWindow.empty(profile)
    checked_at = now.isoformat()
    report = check_drift(
        profile,
        window,
        policy.drift,
        model=model,
        version=version,
        checked_at=checked_at,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
    )
    base = f"{DRIFT_REPORTS_PREFIX}{model}/{now:%Y%m%dT%H%M%S}"
    services.artifacts.put(f"{base}.json", report.model_dump_json(indent=2).encode(), "application/json")
    services.artifacts.put(f"{base}.html", drift_report_html(report).encode(), "text/html; charset=utf-8")
    decision = None
    execution_arn = None
    dataset = record.dataset or model
    if report.status != "insufficient_data":
        decision = decide_retraining(
            model=model,
            policy=RetrainingPolicy.from_record(record.retraining),
            dataset_drift=report.dataset_drift,
            drifted_features=report.drifted_features,
            runs=services.registry.runs_for_dataset(dataset),
            now=now,
            no_new_data=_no_new_data(services, dataset, version, record),
        )
        if decision.start and decision.execution_name:
            started = services.start_training(TrainingRequest(dataset, decision.reason), decision.execution_name)
            # Already started: a concurrent check of the same hour started it, and reports it.
            execution_arn = started.execution_arn if started is not None and not started.already_started else None
    summary = {
        "status": report.status,
        "message": report.message,  # insufficient_data: rows captured and rows needed
        "rows": report.rows,
        "rows_needed": report.config.min_rows,
        "capture_objects": objects,
        "drift_share": _number(report.drift_share),
        "dataset_drift": report.dataset_drift,
        "drifted_features": report.drifted_features,
        "refused_rows": report.refused.rows,
        "refused_share": _number(report.refused.share),
        "refused_share_exceeded": report.refused.exceeded,
        "refused_by_reason": report.refused.by_reason,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "report_key": f"{base}.json",
        "report_page": f"{base}.html",
        "retraining": {"started": execution_arn is not None, "reason": decision.reason if decision else None},
        "execution_arn": execution_arn,
    }
    services.registry.put_drift_result(model, version, checked_at, summary)
    retraining = (
        f"Retraining started: {execution_arn}"
        if execution_arn
        else f"No retraining: {decision.reason if decision else '-'}"
    )
    mail = check_notification(report, model, version, f"s3://{services.artifacts.name}/{base}.html", retraining)
    if mail is not None:
        services.notify(*mail)
    detail = (
        report.message
        if report.status == "insufficient_data"
        else f"{report.rows} rows, drift share {report.drift_share:.2f}, refused share {report.refused.share:.2f}"
    )
    return CheckOutcome(
        model,
        report.status,
        detail,
        version,
        report,
        decision,
        execution_arn,
    )


def check_notification(
    report: DriftReport, model: str, version: int, page: str, retraining: str
) -> tuple[str, str] | None:
    """The mail a check sends, (subject, text), or None: on dataset drift, or on a refused share past
    its threshold (the RefusedShare alarm is one for the stack; this names the model and fields)."""
    if report.dataset_drift:
        return f"Drift: {model} v{version}: dataset drift"[:100], "\n".join(
            [drift_summary_text(report), "", f"Report: {page}", retraining]
        )
    if report.refused.exceeded:
        return f"Refused traffic: {model} v{version}"[:100], "\n".join(
            [
                f"The serving policy of {model} v{version} {refused_text(report.refused)}.",
                "Clients send values the data contract does not allow: fix the clients, widen the contract "
                "and retrain, or set serving.out_of_range / serving.unseen_category to warn "
                "(mlops config deploy).",
                "",
                f"Report: {page}",
            ]
        )
    return None


def _no_new_data(services: DriftServices, dataset: str, version: int, record: ModelVersion) -> str | None:
    return no_new_data(services.datasets, dataset, version, record)


def _number(value: float) -> Any:
    """A figure of the summary row to a millionth (None when not finite), as DynamoDB takes it."""
    return to_dynamo(round(float(value), 6))


def run_checks(
    services: DriftServices, *, models: list[str] | None, force: bool, window_hours: float, settle_seconds: float = 0.0
) -> list[CheckOutcome]:
    """Check every model with a champion (or the named ones); one model's failure does not stop the others."""
    if models is None:
        models = []
        token = None
        while True:
            page, token = services.registry.list_models(limit=100, next_token=token)
            models += [str(m["model"]) for m in page]
            if not token:
                break
    outcomes: list[CheckOutcome] = []
    for model in models:
        try:
            outcomes.append(
                check_model(services, model, force=force, window_hours=window_hours, settle_seconds=settle_seconds)
            )
        except Exception as error:  # reported, and the handler fails the invocation after the others ran
            outcomes.append(CheckOutcome(model, "failed", f"{type(error).__name__}: {error}"))
    return outcomes
