"""The validation state machine's steps for a partitioned upload, one Lambda each
(see mlops.datasets.partitioned_ingestion): plan, read a slice, cut, check a part, a hash bucket's
repeats, reduce; and the failure of the reduce itself recorded. Each event carries the run
(`ValidationRun`) and its step's own fields.

No `from __future__ import annotations`: Powertools reads annotations at run time.
"""

import os
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.ingest import publish_alert, start_run_once
from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets import partitioned_ingestion as steps
from mlops.datasets.ingestion import IngestionServices
from mlops.datasets.records import DatasetRecords
from mlops.datasets.upload_plan import Slice

logger = Logger()
tracer = Tracer()


@dataclass(frozen=True)
class ValidationSettings(FunctionSettings):
    raw_bucket: str
    artifacts_bucket: str
    curated_bucket: str
    quarantine_bucket: str
    registry_table: str
    alerts_topic_arn: str
    training_state_machine_arn: str = ""
    part_bytes: int = steps.PartitioningSettings().part_bytes
    slice_bytes: int = steps.PartitioningSettings().slice_bytes
    buckets: int = steps.PartitioningSettings().buckets


def _build() -> steps.PartitionedServices:
    settings = ValidationSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(settings.registry_table)
    ingestion = IngestionServices(
        raw=RawBucket(s3, settings.raw_bucket),
        artifacts=ArtifactsBucket(s3, settings.artifacts_bucket),
        curated=CuratedBucket(s3, settings.curated_bucket),
        quarantine=QuarantineBucket(s3, settings.quarantine_bucket),
        registry=DatasetRecords(table),
        notify=partial(publish_alert, boto3.client("sns"), settings.alerts_topic_arn),
        start_training=partial(start_run_once, boto3.client("stepfunctions"), settings.training_state_machine_arn),
    )
    partitioning = steps.PartitioningSettings(
        part_bytes=settings.part_bytes, slice_bytes=settings.slice_bytes, buckets=settings.buckets
    )
    return steps.PartitionedServices(ingestion, partitioning)


services = PerContainer(_build)


def _run(event: dict[str, Any]) -> steps.ValidationRun:
    return steps.ValidationRun.model_validate(event["run"])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return steps.plan(_run(event), services()).model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_read_slice(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    record = steps.read_slice(_run(event), Slice.model_validate(event["slice"]), services())
    return {"index": record.index, "rows": record.rows, "failed": record.failure is not None}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_cut(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return steps.cut(_run(event), int(event["slices"]), services()).model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_check_part(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return steps.check_one_part(_run(event), steps.PartItem.model_validate(event["part"]), services())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_bucket_repeats(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return steps.bucket_repeats(_run(event), int(event["bucket"]), int(event["parts"]), services())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_reduce(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event["state"]  # the whole state: what the earlier steps returned, or the error that stopped them
    plan_result, cut_result = state.get("plan") or {}, state.get("cut") or {}
    given = steps.ReduceInput(
        slices=int(plan_result.get("slices", 0)),
        parts=int(cut_result.get("parts", 0)),
        rows_per_part=int(cut_result.get("rows_per_part", 0)),
        problem=plan_result.get("problem"),
        error=state.get("error"),
    )
    outcome = steps.reduce(_run(event), given, services())
    logger.info("partitioned upload processed", **outcome.as_record())
    return outcome.as_record()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validation_record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The reduce failed: the upload is reported as not validated, mailed and recorded as failed."""
    outcome = steps.record_failure(_run(event), dict(event["error"]), services())
    logger.error("partitioned upload not validated", **outcome.as_record())
    return outcome.as_record()
