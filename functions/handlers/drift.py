"""The drift function: on its EventBridge schedule (or `{"models": [...], "force": true}` from
`mlops drift --run`), checks every due champion against its reference profile.

No `from __future__ import annotations`: Powertools reads handler annotations at run time.
"""

import json
import math
import os
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.buckets import ArtifactsBucket
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.checks import CheckOutcome, DriftServices, run_checks
from mlops.monitoring.report import FeatureDrift
from mlops.registry.models import ModelRegistry

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "monitoring")

logger = Logger()
metrics = Metrics()
tracer = Tracer()
_table = boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"])
_sfn = boto3.client("stepfunctions")
_sns = boto3.client("sns")


def _start_training(dataset: str, name: str, reason: str) -> str | None:
    try:
        return str(
            _sfn.start_execution(
                stateMachineArn=os.environ["TRAINING_STATE_MACHINE_ARN"],
                name=name,
                input=json.dumps({"dataset": dataset, "reason": reason}),
            )["executionArn"]
        )
    except _sfn.exceptions.ExecutionAlreadyExists:
        logger.info("retraining already started by a concurrent check", execution=name)
        return None


def _notify(subject: str, message: str) -> None:
    _sns.publish(TopicArn=os.environ["ALERTS_TOPIC_ARN"], Subject=subject, Message=message)


_services = DriftServices(
    registry=ModelRegistry(_table),
    datasets=DatasetRecords(_table),
    artifacts=ArtifactsBucket(boto3.client("s3"), os.environ["ARTIFACTS_BUCKET"]),
    start_training=_start_training,
    notify=_notify,
)


def _emit(outcome: CheckOutcome) -> None:
    """Per-model figures; DatasetDrift and RefusedShareExceeded with `service` only, which is what
    their alarms watch (each model's own threshold decided the 0 or 1)."""
    report = outcome.report
    if report is None:
        return
    for name, flagged in (("DatasetDrift", report.dataset_drift), ("RefusedShareExceeded", report.refused.exceeded)):
        with single_metric(
            name=name, unit=MetricUnit.Count, value=1 if flagged else 0, default_dimensions={"service": SERVICE}
        ):
            pass
    model = {"service": SERVICE, "model": outcome.model}
    for name, value, unit in (
        ("DriftShare", report.drift_share, MetricUnit.NoUnit),
        ("RowsChecked", report.rows, MetricUnit.Count),
        ("RefusedShare", report.refused.share, MetricUnit.NoUnit),
    ):
        with single_metric(name=name, unit=unit, value=float(value), default_dimensions=model):
            pass
    for feature in report.features:
        with single_metric(
            name="FeatureDriftScore",
            unit=MetricUnit.NoUnit,
            value=drift_score(feature),
            default_dimensions={**model, "feature": feature.name},
        ):
            pass


def drift_score(feature: FeatureDrift) -> float:
    """One scale for every test, so features read side by side on a graph: 1 is the drift line.

    Distances: distance / threshold. Tests: log(p) / log(level), which is 1 when p equals the level
    and grows as p shrinks (a chi-square value is not comparable across features; its p-value is)."""
    if feature.test is None:
        return 0.0
    if feature.p_value is not None:
        p = max(feature.p_value, 1e-300)
        return math.log(p) / math.log(feature.threshold) if 0 < feature.threshold < 1 else 0.0
    return feature.statistic / feature.threshold if feature.threshold > 0 else 0.0


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    requested = event.get("models")
    # A model's lease lasts as long as this invocation may: a check that dies frees it by itself.
    services = replace(
        _services,
        checker=context.aws_request_id,
        lease=timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(minutes=1),
    )
    outcomes = run_checks(
        services,
        models=[str(m) for m in requested] if isinstance(requested, list) else None,
        force=bool(event.get("force", False)),
        window_hours=float(os.environ.get("DRIFT_WINDOW_HOURS", "24")),
        settle_seconds=float(os.environ.get("CAPTURE_SETTLE_SECONDS", "30")),
    )
    for outcome in outcomes:
        logger.info("drift check", **outcome.as_dict())
        _emit(outcome)
    metrics.add_metric(name="DriftChecks", unit=MetricUnit.Count, value=sum(o.report is not None for o in outcomes))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:  # after every other model was checked: Lambda retries, then the DLQ (alarmed)
        raise RuntimeError("drift checks failed: " + "; ".join(f"{o.model}: {o.detail}" for o in failed))
    return {"checks": [o.as_dict() for o in outcomes]}
