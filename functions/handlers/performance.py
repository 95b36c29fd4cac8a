"""The performance function: on its EventBridge schedule (or `{"models": [...], "force": true}` on
demand), joins each monitored champion's new labels with the captured predictions they are about,
then checks the model's performance over its window (`mlops.monitoring.performance_check`).

`rejoin: true` joins every labelled hour in the horizon again (after a fix to the join: a rerun
rewrites only hours whose content changed). `force: true` is for the performance check that follows
the join, which runs whether due or not; the join itself always does what is new.

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
from mlops.buckets import ArtifactsBucket, RawBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.performance_check import PerformanceOutcome, PerformanceServices, check_performance
from mlops.monitoring.scheduled_join import JoinServices, ModelJoin, run_joins
from mlops.registry.feedback_exports import FeedbackExports
from mlops.registry.label_joins import LabelJoins
from mlops.registry.models import ModelRegistry
from mlops.training.start import start_training

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class PerformanceSettings(FunctionSettings):
    registry_table: str
    artifacts_bucket: str
    alerts_topic_arn: str
    raw_bucket: str
    training_state_machine_arn: str
    capture_lag_hours: float = 2.0
    label_settle_seconds: float = 300.0
    powertools_service_name: str = "monitoring"


@dataclass(frozen=True)
class PerformanceFunction:
    """The registry the models are found in, and the join's services."""

    registry: ModelRegistry
    joins: JoinServices
    checks: PerformanceServices
    service: str


def _build() -> PerformanceFunction:
    settings = PerformanceSettings.from_environment(os.environ)
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    joins = JoinServices(
        artifacts=ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket),
        joins=LabelJoins(table),
        capture_lag=timedelta(hours=settings.capture_lag_hours),
        settle=timedelta(seconds=settings.label_settle_seconds),
    )
    registry = ModelRegistry(table)
    checks = PerformanceServices(
        registry=registry,
        artifacts=joins.artifacts,
        notify=partial(_notify, boto3.client("sns"), settings.alerts_topic_arn),
        raw=RawBucket(boto3.client("s3"), settings.raw_bucket),
        feedback_exports=FeedbackExports(table),
        datasets=DatasetRecords(table),
        # A run already started is one a concurrent check of the same hour started (StartedRun says so).
        start_training=partial(start_training, boto3.client("stepfunctions"), settings.training_state_machine_arn),
    )
    return PerformanceFunction(registry, joins, checks, settings.powertools_service_name)


def _notify(sns: Any, topic_arn: str, subject: str, message: str) -> None:
    sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)


def _emit(service: str, outcome: PerformanceOutcome) -> None:
    """The one metric an alarm watches, and only once labels enough came: a metric costs $0.30 for
    each month it is emitted (prorated by the hour), so a model without labels emits none.
    PerformanceBelowFloor carries `service` only, which is what its alarm watches (each model's own
    floor decided the 0 or 1, for the versions answering now). Each version's labelled rows and live
    metrics are in the performance report and the check's log entry (`_figures`): no alarm or
    dashboard reads them (issue #21)."""
    if not _judged(outcome):
        return
    with single_metric(
        name="PerformanceBelowFloor",
        unit=MetricUnit.Count,
        value=1 if outcome.live_below_floor else 0,
        default_dimensions={"service": service},
    ):
        pass


def _judged(outcome: PerformanceOutcome) -> list[Any]:
    assessment = outcome.assessment
    if assessment is None:
        return []
    return [variant for variant in assessment.variants() if variant.status != "insufficient_labels"]


def _figures(outcome: PerformanceOutcome) -> dict[str, Any]:
    """Each judged version's labelled rows and live metrics, for the check's log entry."""
    judged = _judged(outcome)
    if not judged:
        return {}
    return {
        "live": [
            {
                "version": variant.version,
                "variant": variant.variant,
                "labelled": variant.labelled,
                "metrics": {f.name: f.value for f in variant.metrics if f.value is not None},
            }
            for variant in judged
        ]
    }


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    requested = event.get("models")
    function = services()
    # A model's lease lasts as long as this invocation may: a join that dies frees it by itself.
    joins = replace(
        function.joins,
        owner=context.aws_request_id,
        lease=timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(minutes=1),
    )
    results: list[ModelJoin] = run_joins(
        function.registry,
        joins,
        models=[str(m) for m in requested] if isinstance(requested, list) else None,
        rejoin=bool(event.get("rejoin", False)),
    )
    checks: list[dict[str, Any]] = []
    failures: list[str] = []
    for result in results:
        logger.info("label join", **{k: v for k, v in result.as_dict().items() if k != "window"})
        if result.outcome.status == "failed":
            failures.append(f"{result.outcome.model}: join: {result.outcome.detail}")
        if result.config is None:
            continue
        try:
            outcome = check_performance(function.checks, result)
        except Exception as error:  # reported; the other models are still checked
            logger.exception("performance check failed", model=result.outcome.model)
            failures.append(f"{result.outcome.model}: check: {type(error).__name__}: {error}")
            continue
        logger.info("performance check", **outcome.as_dict(), **_figures(outcome))
        _emit(function.service, outcome)
        checks.append(outcome.as_dict())
    if failures:  # after every other model was done: Lambda retries, then the DLQ (alarmed)
        raise RuntimeError("performance function failed: " + "; ".join(failures))
    return {"joins": [r.as_dict() for r in results], "checks": checks}
