"""S3 ObjectCreated under batch/<model>/: score the file with the model's champion, parts beside it.

Invoked asynchronously by S3, so Lambda retries a raised error twice and then dead-letters the event;
a file that cannot be scored is not an error of the function: it gets a `_FAILED.json` and the
invocation succeeds. The function's own outputs land under the same prefix and notify it again; they
are recognized by name and skipped. Imports onnxruntime, numpy and Powertools only. No
`from __future__ import annotations`: Powertools reads annotations at run time.
"""

import json
import os
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.registry.models import ModelRegistry
from mlops.serving.batch import (
    DEFAULT_CHUNK_ROWS,
    BatchOutcome,
    BatchStore,
    BatchUpload,
    NotInputError,
    S3BatchStore,
    score_upload,
)
from mlops.serving.batch.parts import PartsRouting, PartsRun
from mlops.serving.models import LoadFailure, ServedModels, ServedVersion

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class BatchScoringSettings(FunctionSettings):
    raw_bucket: str
    artifacts_bucket: str
    registry_table: str
    alias_cache_seconds: float = 30.0
    scoring_chunk_rows: int = DEFAULT_CHUNK_ROWS
    powertools_service_name: str = "serving"  # the `service` dimension of the metrics below
    # A file past these sizes is scored in parts by the batch scoring state machine (none: never).
    parts_state_machine_arn: str = ""
    parts_above_bytes: int = 1 << 62
    gzip_parts_above_bytes: int = 1 << 62


@dataclass(frozen=True)
class BatchScoringServices:
    store: BatchStore
    models: ServedModels
    raw_bucket: str  # the only bucket whose events this function scores
    chunk_rows: int
    service: str
    parts: PartsRouting | None = None

    def champion(self, model: str) -> ServedVersion:
        """Batch files are always scored by the champion: canary and shadow splits are for live traffic."""
        return self.models.rollout(model).champion


def _build() -> BatchScoringServices:
    settings = BatchScoringSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    models = ServedModels(
        registry=ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
        read_artifact=ArtifactsBucket(s3, settings.artifacts_bucket).get,
        alias_ttl=settings.alias_cache_seconds,
        on_load_failure=_load_failed,
    )
    store = S3BatchStore(s3, settings.raw_bucket, on_delete_failure=_delete_failed)
    parts = None
    if settings.parts_state_machine_arn:
        start = partial(_start_parts, boto3.client("stepfunctions"), settings.parts_state_machine_arn)
        parts = PartsRouting(settings.parts_above_bytes, settings.gzip_parts_above_bytes, start)
    return BatchScoringServices(
        store, models, settings.raw_bucket, settings.scoring_chunk_rows, settings.powertools_service_name, parts
    )


def _start_parts(sfn: Any, state_machine_arn: str, run: PartsRun) -> str:
    """Start (or find, for a redelivered event) the run scoring one file in parts."""
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=run.run, input=json.dumps({"run": run.as_json()})
        )
        return str(started["executionArn"])
    except sfn.exceptions.ExecutionAlreadyExists:
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{run.run}"


services = PerContainer(_build)


def _load_failed(failure: LoadFailure) -> None:
    logger.error("model load failed", **asdict(failure))


def _delete_failed(key: str, error: Exception) -> None:
    logger.warning("could not delete a stale batch output", key=key, error=str(error))


def record_metrics(service: str, outcome: BatchOutcome) -> None:
    """BatchFilesFailed under the service dimension, the one metric an alarm watches (emitted only
    when a file failed: an idle month bills none); the file's figures are in its "batch file
    processed" log entry, which Logs Insights queries (issue #21: each metric is $0.30 a month,
    prorated by the hour). Also the batch scoring state machine's finish (handlers.batch_parts)."""
    if outcome.status in ("failed", "stopped"):
        with single_metric(
            name="BatchFilesFailed", unit=MetricUnit.Count, value=1, default_dimensions={"service": service}
        ):
            pass


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    current = services()
    outcomes = []
    for record in event.records:
        s3_object = record.s3.get_object
        upload = BatchUpload(
            bucket=record.s3.bucket.name,
            key=unquote_plus(s3_object.key),  # S3 form-encodes keys in events
            version_id=s3_object.version_id,
            etag=s3_object.etag or None,
        )
        if upload.bucket != current.raw_bucket:
            logger.error("event from a bucket this function does not score", bucket=upload.bucket, key=upload.key)
            continue
        try:
            outcome = score_upload(
                upload,
                current.store,
                current.champion,
                chunk_rows=current.chunk_rows,
                remaining_ms=context.get_remaining_time_in_millis,
                parts=current.parts,
            )
        except NotInputError as skipped:
            if skipped.own_output:
                logger.debug("own output", key=upload.key)
            else:
                logger.warning("not scored", key=upload.key, reason=str(skipped))
            continue
        tracer.put_annotation(key="model", value=outcome.model)
        log = logger.warning if outcome.status in ("failed", "stopped") else logger.info
        log("batch file processed", **outcome.as_record())
        record_metrics(current.service, outcome)
        outcomes.append(outcome.as_record())
    return {"outcomes": outcomes}
