"""S3 ObjectCreated under feedback/<model>/: the labels in a CSV or Parquet file, checked against the
model's classes (or numbers) and stored, or refused with a report and a mail.

Invoked asynchronously by S3, so Lambda retries a raised error twice and then dead-letters the event;
a file whose labels cannot be stored is not an error of the function: it gets its report and the
invocation succeeds. Reads pandas through the data layer. No `from __future__ import annotations`:
Powertools reads annotations at run time.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket, RawBucket
from mlops.monitoring.feedback_files import FeedbackServices, FeedbackUpload, process_feedback_file
from mlops.registry.models import ModelRegistry
from mlops.serving.prediction_keys import PredictionKeys

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class FeedbackSettings(FunctionSettings):
    raw_bucket: str
    artifacts_bucket: str
    registry_table: str
    alerts_topic_arn: str
    prediction_keys_table: str = ""  # the keys predictions were made with, which labels may name them by


def _notify(sns: Any, topic_arn: str, subject: str, message: str) -> None:
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)


def _build() -> FeedbackServices:
    settings = FeedbackSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    keys = (
        PredictionKeys(boto3.client("dynamodb"), settings.prediction_keys_table)
        if settings.prediction_keys_table
        else None
    )
    return FeedbackServices(
        raw=RawBucket(s3, settings.raw_bucket),
        artifacts=ArtifactsBucket(s3, settings.artifacts_bucket),
        registry=ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
        notify=partial(_notify, boto3.client("sns"), settings.alerts_topic_arn),
        resolve_keys=keys.resolve if keys is not None else None,
    )


services = PerContainer(_build)


def _event_time(text: str) -> datetime:
    """S3's eventTime ("2026-11-23T12:00:00.000Z"); a retried event carries the same one."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    current = services()
    outcomes = []
    for record in event.records:
        s3_object = record.s3.get_object
        upload = FeedbackUpload(
            bucket=record.s3.bucket.name,
            key=unquote_plus(s3_object.key),  # S3 form-encodes keys in events
            event_time=_event_time(record.event_time),
            version_id=s3_object.version_id,
            etag=s3_object.etag or None,
        )
        if upload.bucket != current.raw.name:
            logger.error("event from a bucket this function does not read", bucket=upload.bucket, key=upload.key)
            continue
        if upload.key.endswith("/"):  # a folder marker (the console's "Create folder"), not a file
            continue
        outcome = process_feedback_file(upload, current)
        (logger.info if outcome.status == "stored" else logger.warning)(
            "feedback file processed", **outcome.as_record()
        )
        metrics.add_metric(
            name="FeedbackFilesStored" if outcome.status == "stored" else "FeedbackFilesRefused",
            unit=MetricUnit.Count,
            value=1,
        )
        metrics.add_metric(name="LabelsAccepted", unit=MetricUnit.Count, value=outcome.accepted)
        outcomes.append(outcome.as_record())
    return {"outcomes": outcomes}
