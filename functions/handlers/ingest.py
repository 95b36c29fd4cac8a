"""S3 ObjectCreated under raw/<dataset>/: validate the upload, then version it or quarantine it.

Two triggers: the raw bucket's S3 notification for `raw/`, and an EventBridge rule for every other
key (S3 refuses overlapping notification rules, and `batch/` already notifies batch scoring). An
upload outside `raw/<dataset>/<file>` gets a report and a mail instead of being ignored.

No `from __future__ import annotations`: Powertools reads annotations at run time.
"""

import json
import os
import re
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets.ingestion import (
    IngestionOutcome,
    IngestionServices,
    Upload,
    UploadKeyError,
    misplaced_upload,
    process_upload,
)
from mlops.datasets.records import DatasetRecords
from mlops.names import BATCH_PREFIX

logger = Logger()
metrics = Metrics()
tracer = Tracer()

_s3 = boto3.client("s3")
_sns = boto3.client("sns")
_sfn = boto3.client("stepfunctions")
_ALERTS_TOPIC = os.environ["ALERTS_TOPIC_ARN"]
# Batch scoring has its own trigger on this prefix of the raw bucket; the EventBridge rule sees it too.
_TRAINING_STATE_MACHINE = os.environ.get("TRAINING_STATE_MACHINE_ARN", "")


def _notify(subject: str, message: str) -> None:
    _sns.publish(TopicArn=_ALERTS_TOPIC, Subject=subject, Message=message)


def _start_training(dataset: str, version: str) -> str | None:
    """Execution names are unique per state machine: a retried ingestion finds the same execution."""
    if not _TRAINING_STATE_MACHINE:
        return None
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{dataset}-{version[:20]}-ingest")[:80]
    # No dataset_version: the run trains on what the config's `data` policy chooses (by default every
    # accepted version), not on the new upload alone, which may be a partial one.
    payload = json.dumps({"dataset": dataset, "reason": f"new dataset version {version[:12]}"})
    try:
        response = _sfn.start_execution(stateMachineArn=_TRAINING_STATE_MACHINE, name=name, input=payload)
    except _sfn.exceptions.ExecutionAlreadyExists:
        return f"{_TRAINING_STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    return str(response["executionArn"])


_services = IngestionServices(
    raw=RawBucket(_s3, os.environ["RAW_BUCKET"]),
    artifacts=ArtifactsBucket(_s3, os.environ["ARTIFACTS_BUCKET"]),
    curated=CuratedBucket(_s3, os.environ["CURATED_BUCKET"]),
    quarantine=QuarantineBucket(_s3, os.environ["QUARANTINE_BUCKET"]),
    registry=DatasetRecords(boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"])),
    notify=_notify,
    start_training=_start_training,
)


def _record_metrics(outcome: IngestionOutcome) -> None:
    metrics.add_dimension(name="dataset", value=outcome.dataset)
    counters = {"accepted": "FilesAccepted", "rejected": "FilesRejected", "duplicate": "FilesDuplicate"}
    if outcome.status in counters:
        metrics.add_metric(name=counters[outcome.status], unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="RowsChecked", unit=MetricUnit.Count, value=outcome.rows)
        metrics.add_metric(name="FailedExpectations", unit=MetricUnit.Count, value=outcome.failed_errors)


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
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcomes = []
    for upload in _uploads(event):
        if upload.key.startswith(BATCH_PREFIX):
            logger.debug("batch scoring input, not an upload to ingest", key=upload.key)
            continue
        try:
            outcome = process_upload(upload, _services)
        except UploadKeyError:
            report_key, message = misplaced_upload(upload, _services)
            logger.error("upload outside raw/<dataset>/", key=upload.key, report_key=report_key)
            _notify(
                "Upload not ingested: outside raw/<dataset>/",
                f"{message}\nReport: s3://{_services.artifacts.name}/{report_key}",
            )
            continue
        logger.info("upload processed", **outcome.as_record())
        _record_metrics(outcome)
        outcomes.append(outcome.as_record())
    return {"outcomes": outcomes}
