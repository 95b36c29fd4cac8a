"""The predict API: POST /v1/models/{name}/predict and GET /v1/models/{name}/signature (API key).

Imports onnxruntime, numpy and Powertools, never scikit-learn, pandas or pydantic (the resolver runs
without pydantic validation: the serving core checks requests itself, by row and field). No
`from __future__ import annotations`: the event handler reads route annotations at run time.
"""

import json
import os
import random
import re
import time
from typing import Any

import boto3
import numpy as np
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from numpy.typing import NDArray

from mlops.buckets import ArtifactsBucket
from mlops.names import NAME_PATTERN
from mlops.registry.models import ModelRegistry
from mlops.serving.capture import CaptureBuffer
from mlops.serving.inputs import MAX_ROWS, RequestError, encode_request, request_rows
from mlops.serving.models import LoadFailure, Rollout, ServedModels, ServedVersion
from mlops.serving.policy import DEFAULT_CONFIG_CACHE_SECONDS, DeployedPolicies, ServingPolicy, effective_policy
from mlops.serving.rollout import SHADOW_VARIANT, assign

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "serving")
REQUEST_KEY_HEADER = "x-request-key"

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayRestResolver()
_artifacts = ArtifactsBucket(boto3.client("s3"), os.environ["ARTIFACTS_BUCKET"])
_rng = random.Random()


def _load_failed(failure: LoadFailure) -> None:
    """An alias names a version that cannot be loaded: alarm, and say what still answers."""
    logger.error(
        "model load failed",
        model=failure.model,
        alias=failure.alias,
        version=failure.version,
        reason=failure.reason,
        serving_version=failure.serving_version,
    )
    with single_metric(
        name="ModelLoadFailures", unit=MetricUnit.Count, value=1, default_dimensions={"service": SERVICE}
    ):
        pass


_registry = ModelRegistry(boto3.resource("dynamodb").Table(os.environ["REGISTRY_TABLE"]))
_models = ServedModels(
    registry=_registry,
    read_artifact=_artifacts.get,
    alias_ttl=float(os.environ.get("ALIAS_CACHE_SECONDS", "30")),
    on_load_failure=_load_failed,
)
_capture = CaptureBuffer(
    write=lambda key, body: _artifacts.put(key, body, "application/octet-stream"),
    default_sample_rate=float(os.environ.get("CAPTURE_SAMPLE_RATE", "0.1")),
    max_rows=int(os.environ.get("CAPTURE_MAX_ROWS", "1000")),
    max_age_seconds=float(os.environ.get("CAPTURE_MAX_AGE_SECONDS", "60")),
)


def _policy_changed(model: str, state: str, detail: str) -> None:
    """Logged when what a model's serving policy resolves to changes, not on every re-read."""
    (logger.warning if state == "unreadable" else logger.info)(
        "serving policy", model=model, state=state, detail=detail
    )


# Each model's deployed serving policy (a registry item) is re-read at most every CONFIG_CACHE_SECONDS,
# so `mlops config deploy` changes the live serving policy within that time.
_policies = DeployedPolicies(
    read=_registry.serving_policy,
    ttl=float(os.environ.get("CONFIG_CACHE_SECONDS", str(DEFAULT_CONFIG_CACHE_SECONDS))),
    on_change=_policy_changed,
)


def _policy(served: ServedVersion) -> ServingPolicy:
    deployed = _policies.for_model(served.model)
    return effective_policy(deployed, served.version, served.policy, served.capture_sample_rate)


def _json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
def _rejected(error: RequestError) -> Response[Any]:
    metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
    body = error.body()
    body["request_id"] = app.current_event.request_context.request_id
    return _json_response(error.status, body)


@app.not_found
def _no_route(error: NotFoundError) -> Response[Any]:
    event = app.current_event
    return _json_response(
        404, {"error": {"code": "not_found", "message": f"no route {event.http_method} {event.path}"}}
    )


def _model_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise RequestError(400, "invalid_name", f"{name!r} is not a model name (lowercase letters, digits, - and _)")
    return name


def _body() -> Any:
    event = app.current_event
    content_type = (event.headers or {}).get("content-type") or (event.headers or {}).get("Content-Type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return json.loads(event.decoded_body or "")
    except RecursionError:
        raise RequestError(400, "invalid_json", "the body is not JSON this API reads: nested too deeply") from None
    except ValueError as error:  # not JSON, not UTF-8, bad base64, an integer past Python's digit limit
        if "integer string conversion" in str(error):  # Python's advice (set_int_max_str_digits) is not the client's
            raise RequestError(400, "invalid_json", "the body holds a number with more than 4,300 digits") from None
        raise RequestError(400, "invalid_json", f"the body is not JSON: {error}") from None


@app.post("/v1/models/<name>/predict")
def predict(name: str) -> Response[Any]:
    started = time.perf_counter()
    model = _model_name(name)
    body = _body()
    rows = request_rows(body, model=model)
    rollout = _models.rollout(model)
    event = app.current_event
    request_key = (event.headers or {}).get(REQUEST_KEY_HEADER) or body.get("request_key")
    assignment = assign(rollout, str(request_key) if request_key is not None else None, _rng)
    served = assignment.answering
    policy = _policy(served)
    request_id = event.request_context.request_id
    try:
        encoded = encode_request(rows, served.signature, policy.inputs)
    except RequestError as error:
        if error.refused is not None and _capture.sampled(policy.capture_sample_rate):
            _capture.add_refused(
                model=model,
                version=served.version,
                fields=served.signature.field_kinds,
                classes=served.signature.classes,
                values=error.refused.values,
                refusals=error.refused.refusals,
                variant=assignment.variant,
                request_id=request_id,
            )
            _capture_metrics()
        raise
    prediction = served.predict(encoded.matrix)
    answer: dict[str, Any] = {
        "model": model,
        "version": served.version,
        "variant": assignment.variant,
        "predictions": prediction.predictions,
    }
    if prediction.probabilities is not None:
        answer["classes"] = list(served.signature.classes or ())
        answer["probabilities"] = _probabilities(prediction.probabilities)
    if encoded.warnings:
        answer["warnings"] = [w.as_dict() for w in encoded.warnings[:100]]
    answer["request_id"] = request_id
    elapsed_ms = (time.perf_counter() - started) * 1000
    _count(served, assignment.variant, encoded.rows, elapsed_ms, len(encoded.warnings))
    if _capture.sampled(policy.capture_sample_rate):
        _capture.add(
            model=model,
            version=served.version,
            fields=served.signature.field_kinds,
            classes=served.signature.classes,
            values=encoded.values,
            predictions=prediction.predictions,
            probabilities=prediction.probabilities,
            variant=assignment.variant,
            request_id=request_id,
        )
        if assignment.shadow is not None:
            _shadow(assignment.shadow, rows, request_id)
    elif assignment.shadow is not None:
        _shadow(assignment.shadow, rows, None)
    _capture_metrics()
    return _json_response(200, answer)


def _probabilities(probabilities: NDArray[np.float32]) -> list[list[float]]:
    """onnxruntime's float32 as short decimals: 6.1e-05, not the float64 expansion 6.0999998822808266e-05.

    Rounded in float64 to 7 places, below float32's spacing near 1 (6e-8), so no value a client compares
    with a threshold changes; vectorized (0.1 ms for 1,000 rows x 3 classes, where a shortest float32
    repr per value costs 4 ms). Probabilities under 5e-8 read as 0.
    """
    return probabilities.astype(np.float64).round(7).tolist()  # type: ignore[no-any-return]


def _shadow(shadow: ServedVersion, rows: list[Any], request_id: str | None) -> None:
    """Score the shadow on the same rows; its failures are counted, never the caller's problem."""
    started = time.perf_counter()
    try:
        encoded = encode_request(rows, shadow.signature, _policy(shadow).inputs)
        prediction = shadow.predict(encoded.matrix)
    except Exception as error:
        logger.warning("shadow scoring failed", model=shadow.model, version=shadow.version, error=str(error))
        _version_metric(shadow, SHADOW_VARIANT, "ShadowFailures", 1, MetricUnit.Count)
        return
    _version_metric(shadow, SHADOW_VARIANT, "Predictions", encoded.rows, MetricUnit.Count)
    _version_metric(
        shadow, SHADOW_VARIANT, "ModelLatency", (time.perf_counter() - started) * 1000, MetricUnit.Milliseconds
    )
    if request_id is not None:
        _capture.add(
            model=shadow.model,
            version=shadow.version,
            fields=shadow.signature.field_kinds,
            classes=shadow.signature.classes,
            values=encoded.values,
            predictions=prediction.predictions,
            probabilities=prediction.probabilities,
            variant=SHADOW_VARIANT,
            request_id=request_id,
        )


def _count(served: ServedVersion, variant: str, rows: int, elapsed_ms: float, warnings: int) -> None:
    """Per-version figures, so a canary's numbers read off CloudWatch beside the champion's."""
    metrics.add_dimension(name="model", value=served.model)
    metrics.add_dimension(name="version", value=str(served.version))
    metrics.add_dimension(name="variant", value=variant)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=rows)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    if warnings:
        metrics.add_metric(name="InputWarnings", unit=MetricUnit.Count, value=warnings)


def _version_metric(served: ServedVersion, variant: str, name: str, value: float, unit: MetricUnit) -> None:
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        default_dimensions={
            "service": SERVICE,
            "model": served.model,
            "version": str(served.version),
            "variant": variant,
        },
    ):
        pass


def _capture_metrics() -> None:
    written, failed = _capture.take_counts()
    for name, value in (("CapturedRows", written), ("CaptureFailures", failed)):
        if value:
            with single_metric(name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": SERVICE}):
                pass


@app.get("/v1/models/<name>/signature")
def signature(name: str) -> Response[Any]:
    model = _model_name(name)
    rollout: Rollout = _models.rollout(model)
    champion = rollout.champion
    answer: dict[str, Any] = {"model": model, "version": champion.version, **champion.signature.describe()}
    # Every version that answers requests now, with its own inputs: during a canary a client may
    # reach either (the registry refuses a rollout between versions that differ, unless told).
    canary = rollout.challenger is not None and rollout.mode == "canary"
    champion_share = 1.0 - rollout.weight if canary else 1.0
    answer["versions"] = [
        {"version": champion.version, "alias": "champion", "share": champion_share, **champion.signature.describe()}
    ]
    if rollout.challenger is not None:
        answer["challenger"] = {"version": rollout.challenger.version, "mode": rollout.mode, "weight": rollout.weight}
        answer["versions"].append(
            {
                "version": rollout.challenger.version,
                "alias": "challenger",
                "mode": rollout.mode,
                "share": rollout.weight if canary else 0.0,  # a shadow scores every request, answers none
                **rollout.challenger.signature.describe(),
            }
        )
    event = app.current_event
    request_key = (event.headers or {}).get(REQUEST_KEY_HEADER) or (event.query_string_parameters or {}).get(
        "request_key"
    )
    if request_key:  # canary assignment is sticky by key: this is the version that key's requests reach
        answer["request_key"] = {"key": request_key, "answered_by": assign(rollout, str(request_key)).answering.version}
    answer["limits"] = {"max_rows": MAX_ROWS}
    policy = _policy(champion)
    answer["policy"] = {
        "out_of_range": policy.inputs.out_of_range,
        "unseen_category": policy.inputs.unseen_category,
        "source": policy.source,
    }
    return _json_response(200, answer)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _capture.flush_aged()  # rows buffered since an earlier invocation, before they age further
    return app.resolve(event, context)
