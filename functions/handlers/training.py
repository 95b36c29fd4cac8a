"""The training pipeline's steps, one Lambda each (see mlops.training.run)."""

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket, CuratedBucket
from mlops.datasets.records import DatasetRecords
from mlops.registry.models import ModelRegistry
from mlops.training import run as training_run

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class TrainingSettings(FunctionSettings):
    artifacts_bucket: str
    curated_bucket: str
    registry_table: str
    code_asset_hash: str = ""  # CDK's hash of this code asset (infra PlatformFunction.code_asset_hash)


def _build() -> training_run.TrainingServices:
    settings = TrainingSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    return training_run.TrainingServices(
        artifacts=ArtifactsBucket(s3, settings.artifacts_bucket),
        curated=CuratedBucket(s3, settings.curated_bucket),
        datasets=DatasetRecords(table),
        models=ModelRegistry(table),
        code_asset_hash=settings.code_asset_hash or None,
    )


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def prepare(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.prepare_step(event["request"], event["execution_name"], event["execution_arn"], services())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def fit_candidate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One candidate's fit; its time and outcome are logged and kept in the run record, not metrics
    (no alarm or dashboard reads them; a failed run alarms through the state machine; issue #21)."""
    result = {**training_run.fit_step(event["run"], event["candidate"], services().artifacts), "runs_on": "lambda"}
    if result["status"] != "succeeded":
        logger.warning("candidate failed", candidate=result["name"], reason=result["reason"])
    else:
        logger.info(
            "candidate fitted", model=event["run"]["model"], candidate=result["name"], fit_seconds=result["fit_seconds"]
        )
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def evaluate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.evaluate_step(
        event["run"], event["candidates"], services(), attempt=int(event.get("attempt") or 0)
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def export(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.export_step(event["run"], services())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def gate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return training_run.gate_step(event["run"], services())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def register(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = training_run.register_step(event["run"], services())
    logger.info("model registered", model=event["run"]["model"], status=outcome["status"])
    return outcome
