"""The training pipeline's parity step: runs the exported ONNX model in onnxruntime (the inference
layer) against the export step's scikit-learn answers. Imports no scikit-learn and no training
package: their layer has no onnxruntime, and this one has neither."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.buckets import ArtifactsBucket
from mlops.onnx_checks.steps import parity_step

logger = Logger()
tracer = Tracer()

_artifacts = ArtifactsBucket(boto3.client("s3"), os.environ["ARTIFACTS_BUCKET"])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return parity_step(event["run"], event["evaluation"], _artifacts, event.get("export"))
