"""The training pipeline's score-champion step: the serving champion's ONNX model answers the run's
test rows, through serving's own request encoding, so the quality gate compares challenger and
champion on the same rows (see mlops.onnx_checks.steps.score_champion_step). Inference layer: no
scikit-learn, no training package."""

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.onnx_checks.steps import score_champion_step
from mlops.registry.models import ModelRegistry

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class ScoreChampionSettings(FunctionSettings):
    artifacts_bucket: str
    registry_table: str


@dataclass(frozen=True)
class ScoreChampionServices:
    artifacts: ArtifactsBucket
    registry: ModelRegistry


def _build() -> ScoreChampionServices:
    settings = ScoreChampionSettings.from_environment(os.environ)
    return ScoreChampionServices(
        ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket),
        ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
    )


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = services()
    outcome = score_champion_step(event["run"], current.artifacts, current.registry)
    logger.info("champion scored", **outcome)
    return outcome
