"""The batch scoring state machine's steps, one Lambda each (see mlops.serving.batch.parts): plan,
split a gzip input, count a slice's rows, number the parts, score an item's parts, finish. Each
event carries the run (`PartsRun`) and its step's own fields. Imports onnxruntime, numpy and
Powertools only, as the batch function does.

No `from __future__ import annotations`: Powertools reads annotations at run time.
"""

import os
import threading
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.batch_scoring import record_metrics
from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.registry.models import ModelRegistry
from mlops.serving.batch import S3BatchStore
from mlops.serving.batch import parts as steps
from mlops.serving.batch.store import S3Objects
from mlops.serving.models import ArtifactError, ServedVersion, load_version

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class BatchPartsSettings(FunctionSettings):
    raw_bucket: str
    artifacts_bucket: str
    registry_table: str
    slice_bytes: int = steps.DEFAULT_SLICE_BYTES
    powertools_service_name: str = "serving"


@dataclass
class PinnedVersions:
    """Versions loaded by number, once per container: what a run pinned, never what an alias says now."""

    registry: ModelRegistry
    read_artifact: Any
    _loaded: dict[tuple[str, int], ServedVersion]
    _lock: threading.Lock

    def __call__(self, model: str, version: int) -> ServedVersion:
        with self._lock:
            loaded = self._loaded.get((model, version))
            if loaded is None:
                record = self.registry.model_version(model, version)
                if record is None:
                    raise ArtifactError(f"{model} v{version}: the registry has no such version")
                loaded = self._loaded[(model, version)] = load_version(model, record, self.read_artifact)
            return loaded


def _build() -> steps.PartsServices:
    settings = BatchPartsSettings.from_environment(os.environ)
    s3 = boto3.client("s3")
    pinned = PinnedVersions(
        ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
        ArtifactsBucket(s3, settings.artifacts_bucket).get,
        {},
        threading.Lock(),
    )
    return steps.PartsServices(
        outputs=S3BatchStore(s3, settings.raw_bucket),
        inputs=S3Objects(s3, settings.raw_bucket),
        work=S3Objects(s3, settings.artifacts_bucket),
        version=pinned,
        slice_bytes=settings.slice_bytes,
    )


services = PerContainer(_build)
settings = PerContainer(lambda: BatchPartsSettings.from_environment(os.environ))


def _run(event: dict[str, Any]) -> steps.PartsRun:
    return steps.PartsRun.from_json(event["run"])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def batch_parts_plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asdict(steps.plan(_run(event), services()))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def batch_parts_split(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asdict(steps.split(_run(event), services()))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def batch_parts_count(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    piece = steps.InputSlice(**event["slice"])
    return {"index": piece.index, "rows": steps.count(_run(event), piece, services())}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def batch_parts_number(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asdict(steps.number(_run(event), int(event["slices"]), services()))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def batch_parts_score(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    record = steps.score(_run(event), steps.ScoreItem.from_json(event["item"]), services())
    return {"index": record.index, "parts": len(record.parts), "rows": record.rows}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def batch_parts_finish(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event["state"]  # the whole state: what the earlier steps returned, or the error that stopped them
    planned, numbered = state.get("plan") or {}, state.get("number") or {}
    given = steps.FinishInput(
        slices=int(planned.get("slices", 0)),
        items=int(numbered.get("items", 0)),
        problem=planned.get("problem"),
        error=state.get("error"),
    )
    outcome = steps.finish(_run(event), given, services())
    log = logger.warning if outcome.status == "failed" else logger.info
    log("batch file processed in parts", **outcome.as_record())
    record_metrics(settings().powertools_service_name, outcome)  # the batch function's figures, as it counts them
    return {**outcome.as_record(), "failed": outcome.status == "failed"}
