"""Any failure of the training pipeline: record the failed run with its reason and tell people.

Kept apart from the other steps: it needs neither scikit-learn nor the training layer.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.registry.models import ModelRegistry
from mlops.training.failures import record_failure_step

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class TrainingFailureSettings(FunctionSettings):
    registry_table: str
    alerts_topic_arn: str


@dataclass(frozen=True)
class TrainingFailureServices:
    models: ModelRegistry
    sns: Any
    alerts_topic_arn: str

    def notify(self, subject: str, message: str) -> None:
        self.sns.publish(TopicArn=self.alerts_topic_arn, Subject=subject, Message=message)


def _build() -> TrainingFailureServices:
    settings = TrainingFailureSettings.from_environment(os.environ)
    return TrainingFailureServices(
        ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
        boto3.client("sns"),
        settings.alerts_topic_arn,
    )


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = services()
    outcome = record_failure_step(
        event["state"], event["execution_name"], current.models, current.notify, datetime.now(UTC)
    )
    logger.error("training run failed", **outcome)
    return outcome
