"""The training pipeline's steps, one Lambda each (see mlops.training.run)."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.buckets import ArtifactsBucket, CuratedBucket
from mlops.datasets.records import DatasetRecords
from mlops.registry.models import ModelRegistry
from mlops.training import run as training_run

logger = Logger()
metrics = Metrics()
tracer = Tracer()

_s3 = boto3.client("s3")
_table = boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"])
_services = training_run.TrainingServices(
    artifacts=ArtifactsBucket(_s3, os.environ["ARTIFACTS_BUCKET"]),
    curated=CuratedBucket(_s3, os.environ["CURATED_BUCKET"]),
    datasets=DatasetRecords(_table),
    models=ModelRegistry(_table),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def prepare(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.prepare_step(event["request"], event["execution_name"], event["execution_arn"], _services)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def fit_candidate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = training_run.fit_step(event["run"], event["candidate"], _services)
    metrics.add_dimension(name="model", value=event["run"]["model"])
    metrics.add_metric(name="CandidateFitSeconds", unit=MetricUnit.Seconds, value=result["fit_seconds"])
    if result["status"] != "succeeded":
        logger.warning("candidate failed", candidate=result["name"], reason=result["reason"])
        metrics.add_metric(name="CandidatesFailed", unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def evaluate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.evaluate_step(
        event["run"], event["candidates"], _services, attempt=int(event.get("attempt") or 0)
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def export(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.export_step(event["run"], _services)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def gate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.gate_step(event["run"], _services)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def register(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = training_run.register_step(event["run"], _services)
    metrics.add_dimension(name="model", value=event["run"]["model"])
    metrics.add_metric(name=f"Models{outcome['status'].title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    return outcome
