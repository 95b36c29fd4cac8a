"""S3 ObjectCreated under batch/<model>/: score the file with the model's champion, parts beside it.

Invoked asynchronously by S3, so Lambda retries a raised error twice and then dead-letters the event;
a file that cannot be scored is not an error of the function: it gets a `_FAILED.json` and the
invocation succeeds. The function's own outputs land under the same prefix and notify it again; they
are recognized by name and skipped. Imports onnxruntime, numpy and Powertools only. No
`from __future__ import annotations`: Powertools reads annotations at run time.
"""

import json
import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from mlops.buckets import ArtifactsBucket
from mlops.registry.models import ModelRegistry
from mlops.serving.batch import (
    DEFAULT_CHUNK_ROWS,
    BatchOutcome,
    BatchUpload,
    NotInputError,
    OpenedObject,
    score_upload,
)
from mlops.serving.models import LoadFailure, ServedModels, ServedVersion

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "serving")
# Without s3:ListBucket, S3 answers a read of a missing key with 403 rather than 404.
_ABSENT_CODES = ("NoSuchKey", "404", "NotFound", "AccessDenied", "403")

logger = Logger()
metrics = Metrics()
tracer = Tracer()

_s3 = boto3.client("s3")
_RAW_BUCKET = os.environ["RAW_BUCKET"]
_CHUNK_ROWS = int(os.environ.get("SCORING_CHUNK_ROWS", str(DEFAULT_CHUNK_ROWS)))


class S3BatchStore:
    """The raw bucket as batch scoring uses it: stream an input, read and write the outputs."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def open(self, key: str) -> OpenedObject:
        """The current version, streamed: reading by VersionId would need s3:GetObjectVersion, and the
        version returned is compared with the event's instead (a replaced file is scored by its own event)."""
        response = self.s3.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        return OpenedObject(
            body=body,
            version_id=response.get("VersionId"),
            etag=str(response.get("ETag", "")).strip('"') or None,
            size=int(response.get("ContentLength", 0)),
            close=body.close,
        )

    def get_json(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _ABSENT_CODES:
                return None
            raise
        try:
            document = json.loads(body)
        except ValueError:
            return None  # not ours, or damaged: treated as absent, and replaced
        return document if isinstance(document, dict) else None

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def delete(self, key: str) -> None:
        """Best effort: a stale marker or part left behind is named in the logs, never fails the file."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            logger.warning("could not delete a stale batch output", key=key, error=str(error))


def _load_failed(failure: LoadFailure) -> None:
    logger.error(
        "model load failed",
        model=failure.model,
        alias=failure.alias,
        version=failure.version,
        reason=failure.reason,
        serving_version=failure.serving_version,
    )


_store = S3BatchStore(_s3, _RAW_BUCKET)
_models = ServedModels(
    registry=ModelRegistry(boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"])),
    read_artifact=ArtifactsBucket(_s3, os.environ["ARTIFACTS_BUCKET"]).get,
    alias_ttl=float(os.environ.get("ALIAS_CACHE_SECONDS", "30")),
    on_load_failure=_load_failed,
)


def _champion(model: str) -> ServedVersion:
    """Batch files are always scored by the champion: canary and shadow splits are for live traffic."""
    return _models.rollout(model).champion


def _record_metrics(outcome: BatchOutcome) -> None:
    """Totals under the service dimension (what alarms match) and rows per model and version."""
    if outcome.status == "scored":
        metrics.add_metric(name="BatchFilesScored", unit=MetricUnit.Count, value=1)
    elif outcome.status in ("failed", "stopped"):
        metrics.add_metric(name="BatchFilesFailed", unit=MetricUnit.Count, value=1)
    else:  # already scored, or replaced by a newer upload
        metrics.add_metric(name="BatchObjectsSkipped", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="BatchRowsScored", unit=MetricUnit.Count, value=outcome.rows_scored)
    metrics.add_metric(name="BatchRowsWithErrors", unit=MetricUnit.Count, value=outcome.rows_with_errors)
    if outcome.version is None:
        return
    dimensions = {"service": SERVICE, "model": outcome.model, "version": str(outcome.version)}
    for name, value in (("BatchRowsScored", outcome.rows_scored), ("BatchRowsWithErrors", outcome.rows_with_errors)):
        with single_metric(name=name, unit=MetricUnit.Count, value=value, default_dimensions=dimensions):
            pass


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    outcomes = []
    for record in event.records:
        s3_object = record.s3.get_object
        upload = BatchUpload(
            bucket=record.s3.bucket.name,
            key=unquote_plus(s3_object.key),  # S3 form-encodes keys in events
            version_id=s3_object.version_id,
            etag=s3_object.etag or None,
        )
        if upload.bucket != _RAW_BUCKET:
            logger.error("event from a bucket this function does not score", bucket=upload.bucket, key=upload.key)
            continue
        try:
            outcome = score_upload(
                upload,
                _store,
                _champion,
                chunk_rows=_CHUNK_ROWS,
                remaining_ms=context.get_remaining_time_in_millis,
            )
        except NotInputError as skipped:
            # Counted, so the notifications its own outputs cause are visible (and the flush never empty).
            metrics.add_metric(name="BatchObjectsSkipped", unit=MetricUnit.Count, value=1)
            if skipped.own_output:
                logger.debug("own output", key=upload.key)
            else:
                logger.warning("not scored", key=upload.key, reason=str(skipped))
            continue
        tracer.put_annotation(key="model", value=outcome.model)
        log = logger.warning if outcome.status in ("failed", "stopped") else logger.info
        log("batch file processed", **outcome.as_record())
        _record_metrics(outcome)
        outcomes.append(outcome.as_record())
    return {"outcomes": outcomes}
