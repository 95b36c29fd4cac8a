"""The pre-#21 predict handler, frozen as it was before issue #21 changed it, kept as the baseline
that `bench_inference` measures the new `handlers.predict` against (cold start and hot path, in the
same run) and that `tests/unit/handlers/predict_golden.py` recorded the golden answers from.

Do not edit it: it is a measurement baseline, not served code. Below, the module's own docstring:

The predict API: POST /v1/models/{name}/predict, GET /v1/models/{name}/signature and
POST /v1/models/{name}/feedback (API key).

Parses the request, answers it with `mlops.serving.predict` and turns what happened into metrics.
Labels sent back for earlier predictions are checked with `mlops.monitoring.label_intake` against
the classes of the versions answering now, and stored under labels/ in the artifacts bucket.
Imports onnxruntime, numpy and Powertools, never scikit-learn, pandas or pydantic (the resolver runs
without pydantic validation: the serving core checks requests itself, by row and field). No
`from __future__ import annotations`: the event handler reads route annotations at run time.
"""

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.monitoring.label_intake import (
    NotMonitored,
    SubmissionError,
    api_answer,
    api_problems,
    check_labels,
    label_target,
    store_labels,
    submission_from_body,
)
from mlops.names import NAME_PATTERN
from mlops.registry.models import ModelRegistry
from mlops.serving.capture import CaptureBuffer
from mlops.serving.inputs import RequestError
from mlops.serving.models import LoadFailure, ServedModels, ServedVersion
from mlops.serving.policy import DEFAULT_CONFIG_CACHE_SECONDS, DeployedPolicies
from mlops.serving.predict import Answer, Serving, answer, describe
from mlops.serving.prediction_keys import PredictionKeys
from mlops.serving.request_ids import new_request_id
from mlops.serving.rollout import SHADOW_VARIANT

REQUEST_KEY_HEADER = "x-request-key"

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayRestResolver()


@dataclass(frozen=True)
class PredictSettings(FunctionSettings):
    artifacts_bucket: str
    registry_table: str
    alias_cache_seconds: float = 30.0
    # Each model's deployed serving policy (a registry item) is re-read at most this often, so
    # `mlops config deploy` changes the live serving policy within that time.
    config_cache_seconds: float = DEFAULT_CONFIG_CACHE_SECONDS
    capture_sample_rate: float = 0.1
    capture_max_rows: int = 1000
    capture_max_age_seconds: float = 60.0
    # The table of keys predictions were made with (labels may name a prediction by them).
    prediction_keys_table: str = ""
    powertools_service_name: str = "serving"  # the `service` dimension of the metrics below


@dataclass(frozen=True)
class PredictServices:
    serving: Serving
    service: str
    # Writes a label object to the artifacts bucket (labels/<model>/...); None: this container takes none.
    write_labels: Callable[[str, bytes], None] | None = None
    # Resolves the request keys and ids labels name; None: labels must name request ids.
    prediction_keys: PredictionKeys | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def _build() -> PredictServices:
    settings = PredictSettings.from_environment(os.environ)
    service = settings.powertools_service_name
    artifacts = ArtifactsBucket(boto3.client("s3"), settings.artifacts_bucket)
    registry = ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table))
    models = ServedModels(
        registry=registry,
        read_artifact=artifacts.get,
        alias_ttl=settings.alias_cache_seconds,
        on_load_failure=partial(_load_failed, service),
    )
    keys = (
        PredictionKeys(boto3.client("dynamodb"), settings.prediction_keys_table)
        if settings.prediction_keys_table
        else None
    )
    capture = CaptureBuffer(
        write=lambda key, body: artifacts.put(key, body, "application/octet-stream"),
        default_sample_rate=settings.capture_sample_rate,
        record_keys=keys.record if keys is not None else None,
        max_rows=settings.capture_max_rows,
        max_age_seconds=settings.capture_max_age_seconds,
    )
    policies = DeployedPolicies(
        read=registry.serving_policy, ttl=settings.config_cache_seconds, on_change=_policy_changed
    )
    return PredictServices(
        Serving(models, policies, capture),
        service,
        write_labels=lambda key, body: artifacts.put(key, body, "application/octet-stream"),
        prediction_keys=keys,
    )


services = PerContainer(_build)


def _load_failed(service: str, failure: LoadFailure) -> None:
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
        name="ModelLoadFailures", unit=MetricUnit.Count, value=1, default_dimensions={"service": service}
    ):
        pass


def _policy_changed(model: str, state: str, detail: str) -> None:
    """Logged when what a model's serving policy resolves to changes, not on every re-read."""
    (logger.warning if state == "unreadable" else logger.info)(
        "serving policy", model=model, state=state, detail=detail
    )


def _json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
def _rejected(error: RequestError) -> Response[Any]:
    metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
    body = error.body()
    body["request_id"] = app.context.get("request_id") or app.current_event.request_context.request_id
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
    # Our own id, not API Gateway's: a UUIDv7 says when it was answered, so a label sent back with
    # it days later finds its hour of captured predictions (API Gateway's id is the log correlation id).
    request_id = new_request_id()
    app.context["request_id"] = request_id
    logger.append_keys(prediction_request_id=request_id)
    model = _model_name(name)
    body = _body()
    event = app.current_event
    current = services()
    try:
        answered = answer(
            current.serving,
            model,
            body,
            request_id=request_id,
            key_header=(event.headers or {}).get(REQUEST_KEY_HEADER),
            started=started,
        )
    except RequestError as error:
        if error.refused is not None:  # its rows may have been captured
            _capture_metrics(current)
        raise
    _count(answered)
    if answered.shadow is not None:
        _shadow_metrics(current.service, answered)
    _capture_metrics(current)
    return _json_response(200, answered.body)


def _count(answered: Answer) -> None:
    """Per-version figures, so a canary's numbers read off CloudWatch beside the champion's. No
    `Requests` metric: ModelLatency's SampleCount is the number of requests, and each metric costs
    $0.30 a month per model version and variant (issue #21)."""
    metrics.add_dimension(name="model", value=answered.served.model)
    metrics.add_dimension(name="version", value=str(answered.served.version))
    metrics.add_dimension(name="variant", value=answered.variant)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=answered.rows)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=answered.latency_ms)
    if answered.warnings:
        metrics.add_metric(name="InputWarnings", unit=MetricUnit.Count, value=answered.warnings)


def _shadow_metrics(service: str, answered: Answer) -> None:
    shadow = answered.shadow
    assert shadow is not None
    if shadow.error is not None:
        logger.warning(
            "shadow scoring failed", model=shadow.served.model, version=shadow.served.version, error=shadow.error
        )
        _version_metric(service, shadow.served, "ShadowFailures", 1, MetricUnit.Count)
        return
    _version_metric(service, shadow.served, "Predictions", shadow.rows, MetricUnit.Count)
    _version_metric(service, shadow.served, "ModelLatency", shadow.latency_ms, MetricUnit.Milliseconds)


def _version_metric(service: str, served: ServedVersion, name: str, value: float, unit: MetricUnit) -> None:
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        default_dimensions={
            "service": service,
            "model": served.model,
            "version": str(served.version),
            "variant": SHADOW_VARIANT,
        },
    ):
        pass


def _capture_metrics(current: PredictServices) -> None:
    written, failed = current.serving.capture.take_counts()
    keys_failed = current.serving.capture.take_key_failures()
    for name, value in (("CapturedRows", written), ("CaptureFailures", failed), ("PredictionKeyFailures", keys_failed)):
        if value:
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": current.service}
            ):
                pass


@app.get("/v1/models/<name>/signature")
def signature(name: str) -> Response[Any]:
    model = _model_name(name)
    event = app.current_event
    request_key = (event.headers or {}).get(REQUEST_KEY_HEADER) or (event.query_string_parameters or {}).get(
        "request_key"
    )
    return _json_response(200, describe(services().serving, model, str(request_key) if request_key else None))


@app.post("/v1/models/<name>/feedback")
def feedback(name: str) -> Response[Any]:
    """Labels for earlier predictions: stored by the hour of the predictions they are about."""
    logger.remove_keys(["prediction_request_id"])  # a predict call's, earlier in this container
    model = _model_name(name)
    try:
        submission = submission_from_body(_body(), model=model)
    except SubmissionError as error:
        raise RequestError(error.status, error.code, error.message) from None
    current = services()
    rollout = current.serving.models.rollout(model)  # 404 for an unknown model
    champion = rollout.champion
    answering = [champion.signature] + ([rollout.challenger.signature] if rollout.challenger else [])
    try:
        target = label_target(model, answering, champion.monitoring, champion.version)
    except NotMonitored as error:
        raise RequestError(409, "not_monitored", str(error)) from None
    event = app.current_event
    now = current.clock()
    identity = event.request_context.identity
    keys = current.prediction_keys
    intake = check_labels(
        submission,
        target,
        now=now,
        received_at=now,
        source=f"api key {identity.api_key_id or 'unknown'}",
        resolve=partial(keys.resolve, model) if keys is not None else None,
    )
    metrics.add_dimension(name="model", value=model)
    if intake.problem_count:
        metrics.add_metric(name="LabelSubmissionsRefused", unit=MetricUnit.Count, value=1)
        body = api_problems(intake)
        body["request_id"] = event.request_context.request_id
        return _json_response(400, body)
    if current.write_labels is None:
        raise RuntimeError("this predict container was built without a label store")
    stored = store_labels(intake, _suffix(event.request_context.request_id), current.write_labels)
    metrics.add_metric(name="LabelsAccepted", unit=MetricUnit.Count, value=intake.accepted)
    metrics.add_metric(name="LabelsRefused", unit=MetricUnit.Count, value=intake.refused_total)
    logger.info(
        "labels received",
        model=model,
        accepted=intake.accepted,
        refused=dict(intake.refused),
        duplicates=intake.duplicates,
        stored=stored,
    )
    return _json_response(200, api_answer(intake, stored))


def _suffix(gateway_request_id: str) -> str:
    """A label object's name after its arrival time: API Gateway's id for this call (one intake),
    kept to the characters a key reads well with."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "", gateway_request_id or "")[:64]
    return cleaned or new_request_id()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services().serving.capture.flush_aged()  # rows buffered since an earlier invocation, before they age further
    return app.resolve(event, context)
