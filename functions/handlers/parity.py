"""The training pipeline's parity step: runs the exported ONNX model in onnxruntime (the inference
layer) against the export step's scikit-learn answers. Imports no scikit-learn and no training
package: their layer has no onnxruntime, and this one has neither."""

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.onnx_checks.steps import parity_step

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class ParitySettings(FunctionSettings):
    artifacts_bucket: str


def _build() -> ArtifactsBucket:
    settings = ParitySettings.from_environment(os.environ)
    return ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket)


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return parity_step(event["run"], event["evaluation"], services(), event.get("export"))
