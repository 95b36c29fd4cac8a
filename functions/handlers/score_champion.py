"""The training pipeline's score-champion step: the serving champion's ONNX model answers the run's
test rows, through serving's own request encoding, so the quality gate compares challenger and
champion on the same rows (see mlops.onnx_checks.steps.score_champion_step). Inference layer: no
scikit-learn, no training package."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.buckets import ArtifactsBucket
from mlops.names import CHAMPION
from mlops.onnx_checks.steps import score_champion_step
from mlops.registry.models import ModelRegistry

logger = Logger()
tracer = Tracer()

_artifacts = ArtifactsBucket(boto3.client("s3"), os.environ["ARTIFACTS_BUCKET"])
_registry = ModelRegistry(boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = str(event["run"]["model"])
    alias = _registry.get_alias(model, CHAMPION)
    record = _registry.get_version(model, int(alias["version"])) if alias else None
    outcome = score_champion_step(event["run"], _artifacts, record)
    logger.info("champion scored", **outcome)
    return outcome
