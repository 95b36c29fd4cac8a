"""The performance function: on its EventBridge schedule (or `{"models": [...], "force": true}` on
demand), joins each monitored champion's new labels with the captured predictions they are about.

`rejoin: true` joins every labelled hour in the horizon again (after a fix to the join: a rerun
rewrites only hours whose content changed). `force: true` is for the performance check that follows
the join, which runs whether due or not; the join itself always does what is new.

No `from __future__ import annotations`: Powertools reads handler annotations at run time.
"""

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.monitoring.scheduled_join import JoinServices, ModelJoin, run_joins
from mlops.registry.label_joins import LabelJoins
from mlops.registry.models import ModelRegistry

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class PerformanceSettings(FunctionSettings):
    registry_table: str
    artifacts_bucket: str
    capture_lag_hours: float = 2.0
    label_settle_seconds: float = 300.0
    powertools_service_name: str = "monitoring"


@dataclass(frozen=True)
class PerformanceFunction:
    """The registry the models are found in, and the join's services."""

    registry: ModelRegistry
    joins: JoinServices


def _build() -> PerformanceFunction:
    settings = PerformanceSettings.from_environment(os.environ)
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    joins = JoinServices(
        artifacts=ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket),
        joins=LabelJoins(table),
        capture_lag=timedelta(hours=settings.capture_lag_hours),
        settle=timedelta(seconds=settings.label_settle_seconds),
    )
    return PerformanceFunction(ModelRegistry(table), joins)


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
    for result in results:
        logger.info("label join", **{k: v for k, v in result.as_dict().items() if k != "window"})
    # The performance check (issue #19, item 3) runs here for each result with a config: on the
    # joined hours of `result.window`, due by its schedule or `event["force"]`.
    joined = sum(r.outcome.status in ("joined", "up_to_date") for r in results)
    metrics.add_metric(name="LabelJoins", unit=MetricUnit.Count, value=joined)
    failed = [r.outcome for r in results if r.outcome.status == "failed"]
    if failed:  # after every other model was joined: Lambda retries, then the DLQ (alarmed)
        raise RuntimeError("label joins failed: " + "; ".join(f"{o.model}: {o.detail}" for o in failed))
    return {"joins": [r.as_dict() for r in results]}
