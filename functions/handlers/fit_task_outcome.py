"""After a candidate's Fargate task: its outcome as the fit Lambda would have returned it, or its
failure with the task's last log lines (mlops.training.fargate_fit). Powertools layer only."""

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.training.fargate_fit import task_outcome

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class FitTaskOutcomeSettings(FunctionSettings):
    artifacts_bucket: str
    fit_task_log_group: str


@dataclass(frozen=True)
class FitTaskOutcomeServices:
    artifacts: ArtifactsBucket
    logs: Any
    log_group: str

    def log_tail(self, stream: str, lines: int) -> list[str]:
        """The stream's last `lines` messages, oldest first; none when the task never wrote one."""
        try:
            answer = self.logs.get_log_events(
                logGroupName=self.log_group, logStreamName=stream, limit=lines, startFromHead=False
            )
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return [str(event["message"]).rstrip("\n") for event in answer.get("events", [])]


def _build() -> FitTaskOutcomeServices:
    settings = FitTaskOutcomeSettings.from_environment(os.environ)
    return FitTaskOutcomeServices(
        ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket),
        boto3.client("logs"),
        settings.fit_task_log_group,
    )


services = PerContainer(_build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = services()
    outcome = task_outcome(
        event["run"], event["candidate"], event.get("task"), event.get("error"), current.artifacts, current.log_tail
    )
    if outcome["status"] != "succeeded":
        logger.warning("candidate failed on Fargate", candidate=outcome["name"], reason=outcome["reason"])
    return outcome
