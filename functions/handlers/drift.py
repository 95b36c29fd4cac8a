"""The drift function: on its EventBridge schedule (or `{"models": [...], "force": true}` from
`mlops drift --run`), checks every due champion against its reference profile.

No `from __future__ import annotations`: Powertools reads handler annotations at run time.
"""

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.checks import CheckOutcome, DriftServices, run_checks
from mlops.monitoring.drift_score import drift_score
from mlops.registry.models import ModelRegistry
from mlops.training.start import StartedRun, TrainingRequest, start_training

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class DriftSettings(FunctionSettings):
    registry_table: str
    artifacts_bucket: str
    training_state_machine_arn: str
    alerts_topic_arn: str
    drift_window_hours: float = 24.0
    capture_settle_seconds: float = 30.0
    powertools_service_name: str = "monitoring"  # the `service` dimension of the metrics below


@dataclass(frozen=True)
class DriftFunction:
    """The checks' services and how far back a check looks."""

    checks: DriftServices
    window_hours: float
    settle_seconds: float
    service: str


def _start(sfn: Any, state_machine_arn: str, request: TrainingRequest, run: str) -> StartedRun:
    """A run already started is one a concurrent check of the same hour started: it reports it."""
    started = start_training(sfn, state_machine_arn, request, run)
    if started.already_started:
        logger.info("retraining already started by a concurrent check", execution=run)
    return started


def _notify(sns: Any, topic_arn: str, subject: str, message: str) -> None:
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)


def _build() -> DriftFunction:
    settings = DriftSettings.from_environment(os.environ)
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    checks = DriftServices(
        registry=ModelRegistry(table),
        datasets=DatasetRecords(table),
        artifacts=ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket),
        start_training=partial(_start, boto3.client("stepfunctions"), settings.training_state_machine_arn),
        notify=partial(_notify, boto3.client("sns"), settings.alerts_topic_arn),
    )
    return DriftFunction(
        checks, settings.drift_window_hours, settings.capture_settle_seconds, settings.powertools_service_name
    )


services = PerContainer(_build)


def _emit(service: str, outcome: CheckOutcome) -> None:
    """The two metrics an alarm watches, and only from a check that judged traffic: a metric costs
    $0.30 for each month it is emitted (prorated by the hour), so an idle model (too few captured rows)
    emits none. DatasetDrift and RefusedShareExceeded carry `service` only, which is what their alarms
    watch (each model's own threshold decided the 0 or 1). The figures behind them (drift share, rows,
    refused share, each feature's score) are in the report and the check's log entry (`_figures`),
    not metrics: no alarm or dashboard reads them (issue #21)."""
    report = outcome.report
    if report is None or report.status == "insufficient_data":
        return
    for name, flagged in (("DatasetDrift", report.dataset_drift), ("RefusedShareExceeded", report.refused.exceeded)):
        with single_metric(
            name=name, unit=MetricUnit.Count, value=1 if flagged else 0, default_dimensions={"service": service}
        ):
            pass


def _figures(outcome: CheckOutcome) -> dict[str, Any]:
    """What a check judged, for its log entry (Logs Insights queries it where a metric once was)."""
    report = outcome.report
    if report is None or report.status == "insufficient_data":
        return {}
    return {
        "dataset_drift": report.dataset_drift,
        "drift_share": report.drift_share,
        "rows": report.rows,
        "refused_share": report.refused.share,
        "feature_scores": _feature_scores(outcome),
    }


def _feature_scores(outcome: CheckOutcome) -> dict[str, float]:
    """Each feature's drift score (1 is the drift line), most drifted first: what Logs Insights
    queries in place of a metric per feature."""
    report = outcome.report
    if report is None or report.status == "insufficient_data":
        return {}
    scores = ((feature.name, round(drift_score(feature), 4)) for feature in report.features)
    return dict(sorted(scores, key=lambda item: -item[1]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    requested = event.get("models")
    function = services()
    # A model's lease lasts as long as this invocation may: a check that dies frees it by itself.
    checks = replace(
        function.checks,
        checker=context.aws_request_id,
        lease=timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(minutes=1),
    )
    outcomes = run_checks(
        checks,
        models=[str(m) for m in requested] if isinstance(requested, list) else None,
        force=bool(event.get("force", False)),
        window_hours=function.window_hours,
        settle_seconds=function.settle_seconds,
    )
    for outcome in outcomes:
        logger.info("drift check", **outcome.as_dict(), **_figures(outcome))
        _emit(function.service, outcome)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:  # after every other model was checked: Lambda retries, then the DLQ (alarmed)
        raise RuntimeError("drift checks failed: " + "; ".join(f"{o.model}: {o.detail}" for o in failed))
    return {"checks": [o.as_dict() for o in outcomes]}
