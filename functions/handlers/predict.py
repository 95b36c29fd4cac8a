"""The predict API: POST /v1/models/{name}/predict, GET /v1/models/{name}/signature and
POST /v1/models/{name}/feedback, behind API Gateway's REST API (API key) or a Lambda function URL
(IAM).

Parses the request, answers it with `mlops.serving.predict` and turns what happened into metrics.
Labels sent back for earlier predictions are checked with `mlops.monitoring.label_intake` against
the classes of the versions answering now, and stored under labels/ in the artifacts bucket.

Lean on purpose (issue #21: a cold start under 0.5 s, a 1-row answer under 250 µs): the module
imports the serving core and the standard library only. botocore (not boto3, whose import pulls in
s3transfer) is imported when the container builds its clients on its first invocation; Powertools'
event handler and tracer are not used: the routes are three regular expressions, the metrics are
EMF lines written by `mlops.serving.metric_lines` in Powertools' shape (same names, units,
dimensions and namespace), and Powertools' Logger is imported on the first warning or error, which
a healthy predict path never writes. The label intake is imported by the feedback route alone.
`app`, Powertools' resolver with the same three routes, is built only when asked for, by the OpenAPI
generator (infra/openapi.py).

Both event shapes answer alike: API Gateway's REST proxy event (`httpMethod`, `path`, headers as
sent) and a function URL's payload format 2.0 (`rawPath`, `requestContext.http.method`, lower-case
headers); the feedback route names its source by the API key id under the REST API and by the
IAM caller under a function URL.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any

import msgspec

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.names import NAME_PATTERN
from mlops.serving.capture import CaptureBuffer
from mlops.serving.inputs import QUOTED_CHARACTERS, RequestError, quoted
from mlops.serving.metric_lines import COUNT, MILLISECONDS, Measure, MetricLines
from mlops.serving.models import LoadFailure, ServedModels
from mlops.serving.policy import DEFAULT_CONFIG_CACHE_SECONDS, DeployedPolicies
from mlops.serving.predict import Answer, Serving, answer, describe
from mlops.serving.prediction_keys import PredictionKeys
from mlops.serving.registry_reads import ServingRegistry
from mlops.serving.request_ids import new_request_id
from mlops.serving.rollout import SHADOW_VARIANT

REQUEST_KEY_HEADER = "x-request-key"
JSON_TYPE = "application/json"
# Powertools' path parameter pattern (event_handler.api_gateway: _SAFE_URI, _UNSAFE_URI, \w), so the
# same paths reach a route (and the same ones are a 404) as under its resolver.
_NAME = r"(?P<name>[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+)"
ROUTES = {
    ("POST", re.compile(rf"^/v1/models/{_NAME}/predict$")): "predict",
    ("GET", re.compile(rf"^/v1/models/{_NAME}/signature$")): "signature",
    ("POST", re.compile(rf"^/v1/models/{_NAME}/feedback$")): "feedback",
}
_MODEL_NAME = re.compile(NAME_PATTERN)


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
    powertools_metrics_namespace: str = "ServerlessMlops"


def _namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ServerlessMlops")


@dataclass(frozen=True)
class PredictServices:
    serving: Serving
    service: str
    # Writes a label object to the artifacts bucket (labels/<model>/...); None: this container takes none.
    write_labels: Callable[[str, bytes], None] | None = None
    # Resolves the request keys and ids labels name; None: labels must name request ids.
    prediction_keys: PredictionKeys | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    namespace: str = field(default_factory=_namespace)

    @cached_property
    def metrics(self) -> MetricLines:
        return MetricLines(self.namespace, self.service)


def _build() -> PredictServices:
    settings = PredictSettings.from_environment(os.environ)
    service = settings.powertools_service_name
    # botocore's session, not boto3's: the same clients (and AWS_ENDPOINT_URL, the local cloud's
    # credentials) without boto3's import (~0.2 s of s3transfer). Made here, on the first invocation.
    from botocore.session import get_session

    session = get_session()
    dynamodb = session.create_client("dynamodb")
    artifacts = ArtifactsBucket(session.create_client("s3"), settings.artifacts_bucket)
    registry = ServingRegistry(dynamodb, settings.registry_table)
    models = ServedModels(
        registry=registry,
        read_artifact=artifacts.get,
        alias_ttl=settings.alias_cache_seconds,
        on_load_failure=partial(_load_failed, MetricLines(settings.powertools_metrics_namespace, service)),
    )
    keys = PredictionKeys(dynamodb, settings.prediction_keys_table) if settings.prediction_keys_table else None
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
        namespace=settings.powertools_metrics_namespace,
    )


services = PerContainer(_build)


# ----------------------------------------------------------------------------------- the requests


@dataclass(slots=True)
class HttpRequest:
    """What the routes read of an event, whichever front door sent it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    query: Mapping[str, str]
    body: str | None
    base64: bool
    gateway_request_id: str  # API Gateway's or the function URL's id for this call (logs, label objects)
    caller: str  # who sent it, as a label's `source` names it
    function_url: bool


def http_request(event: Mapping[str, Any]) -> HttpRequest:
    """A REST API proxy event or a function URL event (payload format 2.0) as one record."""
    context = event.get("requestContext") or {}
    # A function URL sends header names in lower case; API Gateway's REST API as the client wrote them.
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    function_url = "rawPath" in event  # https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
    if function_url:
        iam = (context.get("authorizer") or {}).get("iam") or {}
        method, path = str((context.get("http") or {}).get("method", "")), str(event["rawPath"])
        caller = f"iam {iam.get('userArn') or iam.get('callerId') or 'unknown'}"
    else:
        method, path = str(event["httpMethod"]), str(event["path"])
        caller = f"api key {(context.get('identity') or {}).get('apiKeyId') or 'unknown'}"
    return HttpRequest(
        method=method,
        path=path,
        headers=headers,
        query=event.get("queryStringParameters") or {},
        body=event.get("body"),
        base64=bool(event.get("isBase64Encoded")),
        gateway_request_id=str(context.get("requestId") or ""),
        caller=caller,
        function_url=function_url,
    )


def _response(request: HttpRequest, status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """The answer in the shape the front door takes (API Gateway's REST proxy or a function URL)."""
    text = json.dumps(body)
    if request.function_url:
        return {"statusCode": status, "headers": {"Content-Type": JSON_TYPE}, "body": text, "isBase64Encoded": False}
    return {
        "statusCode": status,
        "body": text,
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": [JSON_TYPE]},
    }


def _model_name(name: str) -> str:
    if not _MODEL_NAME.match(name):
        message = f"{quoted(name)} is not a model name (lowercase letters, digits, - and _)"
        raise RequestError(400, "invalid_name", message)
    return name


_decode_json = msgspec.json.Decoder().decode


def _read_json(text: str) -> Any:
    """The body as `json.loads` reads it, 5x faster on a 100-row body (msgspec parses floats and
    integers of any size exactly as `json.loads` does; orjson, the other fast reader, turns integers
    past 64 bits into floats). What msgspec refuses (NaN, Infinity, 1e400, lone surrogates, too deep)
    is read again by `json.loads`, which accepts some of it and otherwise says why in today's words."""
    try:
        return _decode_json(text)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return json.loads(text)


def _body(request: HttpRequest) -> Any:
    content_type = request.headers.get("content-type") or ""
    if content_type.split(";")[0].strip().lower() != JSON_TYPE:
        raise RequestError(415, "unsupported_media_type", "send the body as application/json")
    try:
        text = request.body
        if request.base64 and text:
            text = base64.b64decode(text.encode()).decode()
        return _read_json(text or "")
    except RecursionError:
        raise RequestError(400, "invalid_json", "the body is not JSON this API reads: nested too deeply") from None
    except ValueError as error:  # not JSON, not UTF-8, bad base64, an integer past Python's digit limit
        if "integer string conversion" in str(error):  # Python's advice (set_int_max_str_digits) is not the client's
            raise RequestError(400, "invalid_json", "the body holds a number with more than 4,300 digits") from None
        raise RequestError(400, "invalid_json", f"the body is not JSON: {error}") from None


# ------------------------------------------------------------------------------------- the routes


@dataclass
class Invocation:
    """This invocation's ids, for the log lines written while it runs (a container runs one at a time)."""

    request: HttpRequest
    aws_request_id: str
    request_id: str | None = None  # the UUIDv7 a prediction's answer carries


def predict(current: PredictServices, call: Invocation, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    # Our own id, not API Gateway's: a UUIDv7 says when it was answered, so a label sent back with
    # it days later finds its hour of captured predictions (API Gateway's id is the log correlation id).
    request_id = call.request_id = new_request_id()
    model = _model_name(name)
    body = _body(call.request)
    try:
        answered = answer(
            current.serving,
            model,
            body,
            request_id=request_id,
            key_header=call.request.headers.get(REQUEST_KEY_HEADER),
            started=started,
        )
    except RequestError as error:
        if error.refused is not None:  # its rows may have been captured
            _capture_metrics(current)
        raise
    _count(current, answered)
    _capture_metrics(current)
    return _response(call.request, 200, answered.body)


def _count(current: PredictServices, answered: Answer) -> None:
    """Per-version figures, so a canary's numbers read off CloudWatch beside the champion's. No
    `Requests` metric: ModelLatency's SampleCount is the number of requests, and each metric costs
    $0.30 a month per model version and variant (issue #21). The shadow's come first, as they did
    under Powertools' single_metric."""
    metrics = current.metrics
    shadow = answered.shadow
    if shadow is not None:
        served = shadow.served
        dimensions = {"service": current.service, "model": served.model, "version": str(served.version)}
        dimensions["variant"] = SHADOW_VARIANT
        if shadow.error is not None:
            _log("warning", "shadow scoring failed", model=served.model, version=served.version, error=shadow.error)
            metrics.emit(dimensions, Measure("ShadowFailures", COUNT, 1))
        else:
            metrics.emit(dimensions, Measure("Predictions", COUNT, shadow.rows))
            metrics.emit(dimensions, Measure("ModelLatency", MILLISECONDS, shadow.latency_ms))
    measures = [
        Measure("Predictions", COUNT, answered.rows),
        Measure("ModelLatency", MILLISECONDS, answered.latency_ms),
    ]
    if answered.warnings:
        measures.append(Measure("InputWarnings", COUNT, answered.warnings))
    served = answered.served
    metrics.by_version(served.model, served.version, answered.variant, *measures)


def _capture_metrics(current: PredictServices) -> None:
    capture = current.serving.capture
    written, failed = capture.take_counts()
    keys_failed = capture.take_key_failures()
    counts = (("CapturedRows", written), ("CaptureFailures", failed), ("PredictionKeyFailures", keys_failed))
    current.metrics.by_service(*(Measure(name, COUNT, value) for name, value in counts if value))


def signature(current: PredictServices, call: Invocation, name: str) -> dict[str, Any]:
    model = _model_name(name)
    request = call.request
    request_key = request.headers.get(REQUEST_KEY_HEADER) or request.query.get("request_key")
    return _response(request, 200, describe(current.serving, model, str(request_key) if request_key else None))


def feedback(current: PredictServices, call: Invocation, name: str) -> dict[str, Any]:
    """Labels for earlier predictions: stored by the hour of the predictions they are about."""
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

    model = _model_name(name)
    request = call.request
    try:
        submission = submission_from_body(_body(request), model=model)
    except SubmissionError as error:
        raise RequestError(error.status, error.code, error.message) from None
    rollout = current.serving.models.rollout(model)  # 404 for an unknown model
    champion = rollout.champion
    answering = [champion.signature] + ([rollout.challenger.signature] if rollout.challenger else [])
    try:
        target = label_target(model, answering, champion.monitoring, champion.version)
    except NotMonitored as error:
        raise RequestError(409, "not_monitored", str(error)) from None
    now = current.clock()
    keys = current.prediction_keys
    intake = check_labels(
        submission,
        target,
        now=now,
        received_at=now,
        source=request.caller,
        resolve=partial(keys.resolve, model) if keys is not None else None,
    )
    dimensions = {"model": model, "service": current.service}
    if intake.problem_count:
        current.metrics.emit(dimensions, Measure("LabelSubmissionsRefused", COUNT, 1))
        body = api_problems(intake)
        body["request_id"] = request.gateway_request_id
        return _response(request, 400, body)
    if current.write_labels is None:
        raise RuntimeError("this predict container was built without a label store")
    stored = store_labels(intake, _suffix(request.gateway_request_id), current.write_labels)
    current.metrics.emit(
        dimensions,
        Measure("LabelsAccepted", COUNT, intake.accepted),
        Measure("LabelsRefused", COUNT, intake.refused_total),
    )
    _log(
        "info",
        "labels received",
        model=model,
        accepted=intake.accepted,
        refused=dict(intake.refused),
        duplicates=intake.duplicates,
        stored=stored,
    )
    return _response(request, 200, api_answer(intake, stored))


def _suffix(gateway_request_id: str) -> str:
    """A label object's name after its arrival time: API Gateway's id for this call (one intake),
    kept to the characters a key reads well with."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "", gateway_request_id or "")[:64]
    return cleaned or new_request_id()


_ROUTE_FUNCTIONS: dict[str, Callable[[PredictServices, Invocation, str], dict[str, Any]]] = {
    "predict": predict,
    "signature": signature,
    "feedback": feedback,
}


def _route(call: Invocation) -> dict[str, Any]:
    request = call.request
    method = request.method.upper()
    for (route_method, pattern), route in ROUTES.items():
        if route_method != method:
            continue
        matched = pattern.match(request.path)
        if matched is not None:
            return _ROUTE_FUNCTIONS[route](services(), call, matched["name"])
    path = request.path if len(request.path) <= QUOTED_CHARACTERS else quoted(request.path)  # the client's text
    message = f"no route {request.method} {path}"
    return _response(request, 404, {"error": {"code": "not_found", "message": message}})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services().serving.capture.flush_aged()  # rows buffered since an earlier invocation, before they age further
    call = Invocation(http_request(event), str(getattr(context, "aws_request_id", "")))
    global _current
    _current = call
    try:
        return _route(call)
    except RequestError as error:
        # No metric of its own (issue #21: a custom metric costs $0.30 a month while emitted, and
        # refusals come steadily): Lambda's `Url4xxCount` and API Gateway's `4XXError` count them free.
        body = error.body()
        body["request_id"] = call.request_id or call.request.gateway_request_id
        return _response(call.request, error.status, body)
    finally:
        _current = None


# ------------------------------------------------------------------------- logs, rare by design

_current: Invocation | None = None
_logger: list[Any] = []  # Powertools' Logger, made on the first line written


def _log(level: str, message: str, **keys: Any) -> None:
    """A structured JSON log line (Powertools' Logger, imported on first use) with this invocation's ids."""
    if not _logger:
        from aws_lambda_powertools import Logger

        _logger.append(Logger())
    call = _current
    if call is not None:
        keys = {"function_request_id": call.aws_request_id, "correlation_id": call.request.gateway_request_id, **keys}
        if call.request_id is not None:
            keys["prediction_request_id"] = call.request_id
    getattr(_logger[0], level)(message, **keys)


def _load_failed(metrics: MetricLines, failure: LoadFailure) -> None:
    """An alias names a version that cannot be loaded: alarm, and say what still answers."""
    _log("error", "model load failed", **asdict(failure))
    metrics.by_service(Measure("ModelLoadFailures", COUNT, 1))


def _policy_changed(model: str, state: str, detail: str) -> None:
    """Logged when what a model's serving policy resolves to changes, not on every re-read."""
    _log("warning" if state == "unreadable" else "info", "serving policy", model=model, state=state, detail=detail)


def __getattr__(name: str) -> Any:
    """`app`: Powertools' resolver declaring the three routes, for the OpenAPI document alone."""
    if name != "app":
        raise AttributeError(name)
    from handlers.predict_routes import documented_routes

    return documented_routes()


def _reseed_after_restore() -> None:
    """Environments resumed from one snapshot would otherwise draw the same canary splits and
    capture samples (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html)."""
    built = services.built()
    if built is not None:
        built.serving.rng.seed()
        built.serving.capture.rng.seed()


if os.environ.get("PRELOAD_CLIENTS") == "true":
    # Under SnapStart (`serving.snap_start`) the init runs once, before the snapshot: building the
    # settings and clients there puts botocore's import and the two clients (about 0.23 s of a cold
    # start here) in the snapshot. A failure is left to the first invocation, which builds again.
    # Credentials: under SnapStart Lambda gives container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)
    # rather than key variables, which botocore's default chain reads and refreshes after a restore
    # (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html#snapstart-credentials).
    try:
        services()
    except Exception as error:
        _log("warning", "clients not built at init; the first request builds them", error=repr(error))
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:  # Lambda's Python runtimes include it; elsewhere there is no snapshot
        pass
    else:
        register_after_restore(_reseed_after_restore)
