"""S3 ObjectCreated under raw/<dataset>/: validate the upload, then version it or quarantine it.

Two triggers: the raw bucket's S3 notification for `raw/`, and an EventBridge rule for every other
key (S3 refuses overlapping notification rules, and `batch/` and `feedback/` already notify batch
scoring and the feedback function). An upload outside `raw/<dataset>/<file>`, `batch/` and
`feedback/` gets a report and a mail instead of being ignored.

No `from __future__ import annotations`: Powertools reads annotations at run time.
"""

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets.ingestion import (
    IngestionServices,
    Upload,
    UploadKeyError,
    misplaced_upload,
    process_upload,
)
from mlops.datasets.partitioned_ingestion import PartitioningSettings, ValidationRun, route, run_name, upload_for
from mlops.datasets.records import DatasetRecords
from mlops.datasets.uncommitted import note_commit, note_folder_file, report_uncommitted
from mlops.names import BATCH_PREFIX, FEEDBACK_PREFIX
from mlops.registry.feedback_exports import FeedbackExports
from mlops.training.start import StartedRun, TrainingRequest, start_training

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class IngestSettings(FunctionSettings):
    raw_bucket: str
    artifacts_bucket: str
    curated_bucket: str
    quarantine_bucket: str
    registry_table: str
    alerts_topic_arn: str
    training_state_machine_arn: str = ""  # none: a contract's auto_train starts nothing


@dataclass(frozen=True)
class RoutingSettings(FunctionSettings):
    """Which uploads go to the validation state machine: a file past `single_file_max_bytes`, and a
    multi-file upload's commit marker. Every field has a default: without them, today's path."""

    validation_state_machine_arn: str = ""
    single_file_max_bytes: int = PartitioningSettings().single_file_max_bytes
    commit_timeout_seconds: int = 3600


def start_run_once(sfn: Any, state_machine_arn: str, request: TrainingRequest, run: str) -> StartedRun | None:
    """A retried ingestion finds the run its first attempt started (`already_started`, same ARN)."""
    return start_training(sfn, state_machine_arn, request, run) if state_machine_arn else None


def publish_alert(sns: Any, topic_arn: str, subject: str, message: str) -> None:
    """A rejection's mail, through the alerts topic (the validation steps send theirs the same way)."""
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)


def _build() -> IngestionServices:
    settings = IngestSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    return IngestionServices(
        raw=RawBucket(s3, settings.raw_bucket),
        artifacts=ArtifactsBucket(s3, settings.artifacts_bucket),
        curated=CuratedBucket(s3, settings.curated_bucket),
        quarantine=QuarantineBucket(s3, settings.quarantine_bucket),
        registry=DatasetRecords(table),
        notify=partial(publish_alert, boto3.client("sns"), settings.alerts_topic_arn),
        start_training=partial(start_run_once, boto3.client("stepfunctions"), settings.training_state_machine_arn),
        feedback=FeedbackExports(table),
    )


services = PerContainer(_build)
settings = PerContainer(lambda: RoutingSettings.from_environment(os.environ))


def _start_validation(upload: Upload) -> str:
    """Start (or find, for a redelivered event) the validation run of a big file or a committed folder."""
    current = settings()
    if not current.validation_state_machine_arn:
        raise RuntimeError("this stack has no validation state machine (VALIDATION_STATE_MACHINE_ARN)")
    ref = upload_for(upload.key, upload.bucket, upload.version_id or upload.upload_id, upload.size)
    run = ValidationRun(dataset=upload.dataset, run=run_name(ref), upload=ref)
    sfn = boto3.client("stepfunctions")
    arn = current.validation_state_machine_arn
    try:
        started = sfn.start_execution(stateMachineArn=arn, name=run.run, input=json.dumps({"run": run.model_dump()}))
        return str(started["executionArn"])
    except sfn.exceptions.ExecutionAlreadyExists:
        return f"{arn.replace(':stateMachine:', ':execution:')}:{run.run}"


def _uploads(event: dict[str, Any]) -> list[Upload]:
    """The uploads an event names: S3 notification records, or one EventBridge "Object Created"."""
    if event.get("source") == "aws.s3" and "detail" in event:
        detail = S3EventBridgeNotificationEvent(event).detail
        return [
            Upload(
                bucket=detail.bucket.name,
                key=detail.object.key,  # Powertools URL-decodes it
                version_id=detail.object.get("version-id"),
                size=detail.object.size or 0,
                sequencer=detail.object.get("sequencer"),
            )
        ]
    return [
        Upload(
            bucket=record.s3.bucket.name,
            key=unquote_plus(record.s3.get_object.key),  # S3 form-encodes keys in events
            version_id=record.s3.get_object.version_id,
            size=record.s3.get_object.size or 0,
            sequencer=record.s3.get_object.get("sequencer"),
        )
        for record in S3Event(event).records
    ]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        timeout = timedelta(seconds=settings().commit_timeout_seconds)
        reported = report_uncommitted(services(), timeout)
        logger.info("uploads without their commit marker", reported=reported)
        return {"uncommitted": reported}
    outcomes = []
    for upload in _uploads(event):
        if upload.key.startswith((BATCH_PREFIX, FEEDBACK_PREFIX)):
            logger.debug("batch scoring input or a feedback file, not an upload to ingest", key=upload.key)
            continue
        limits = PartitioningSettings(single_file_max_bytes=settings().single_file_max_bytes)
        path = route(upload.key, upload.size, limits)
        if path == "upload_file":
            folder_file = note_folder_file(upload, services())
            logger.info("a file of a multi-file upload", **folder_file.as_record())
            outcomes.append(folder_file.as_record())
            continue
        if path == "commit":
            note_commit(upload, services())  # before the run starts: a file written after it is refused
        if path in ("partitioned", "commit"):
            execution = _start_validation(upload)
            logger.info("validation state machine started", key=upload.key, execution=execution)
            outcomes.append({"key": upload.key, "status": "validating", "execution": execution})
            continue
        current = services()
        try:
            outcome = process_upload(upload, current)
        except UploadKeyError:
            report_key, message = misplaced_upload(upload, current)
            logger.error("upload outside raw/<dataset>/", key=upload.key, report_key=report_key)
            current.notify(
                "Upload not ingested: outside raw/<dataset>/",
                f"{message}\nReport: s3://{current.artifacts.name}/{report_key}",
            )
            continue
        logger.info("upload processed", **outcome.as_record())
        outcomes.append(outcome.as_record())
    return {"outcomes": outcomes}
