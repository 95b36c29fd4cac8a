"""Any failure of the training pipeline: record the failed run with its reason and tell people.

Kept apart from the other steps: it needs neither scikit-learn nor the training layer.
"""

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.registry.models import ModelRegistry
from mlops.training.failures import record_failure_step

logger = Logger()
metrics = Metrics()
tracer = Tracer()
_sns = boto3.client("sns")
_models = ModelRegistry(boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"]))
_TOPIC = os.environ["ALERTS_TOPIC_ARN"]


def _notify(subject: str, message: str) -> None:
    _sns.publish(TopicArn=_TOPIC, Subject=subject, Message=message)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = record_failure_step(event["state"], event["execution_name"], _models, _notify, datetime.now(UTC))
    logger.error("training run failed", **outcome)
    metrics.add_metric(name="TrainingRunsFailed", unit=MetricUnit.Count, value=1)
    return outcome
