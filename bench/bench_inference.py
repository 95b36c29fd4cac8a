"""Online inference: the predict handler, its cold start and the local HTTP gateway, against scikit-learn.

The models are the training benchmark's (`bench_training`): the platform's default binary config on
`make_classification(50,000 x 20)`, of which only two candidates are fitted here, the random forest
(200 trees; its grid searches max_depth and min_samples_leaf, as it ships) and the logistic
regression. Each is published as a training run publishes it: model.onnx and signature.json in the
artifacts bucket, a version registered through `ModelRegistry` and `champion` pointed at it.

1. Handler latency, in-process. The bucket and table live in moto (`mock_aws`); `handlers.predict`
   and the pre-#21 handler (`bench/predict_before.py`, a frozen copy of the module as it was before
   issue #21, over today's serving core) are imported with the environment the CDK construct gives
   the function and called with API Gateway REST proxy events built by the local gateway's own
   `build_proxy_event` (one event per call, distinct test rows each, JSON body), capture on at the
   deployment's default rate (0.1). Timed against each other, against scikit-learn `predict_proba`
   on the same rows already as float32 arrays, and against onnxruntime alone ("model time":
   `session.run` on the prepared array, the serving session's options), all taking turns in blocks
   (`interleaved`). The forest registered again with capture off shows what capture adds. Issue
   #21's targets: the 1-row handler p50 <= 250 µs and never slower than scikit-learn for any
   estimator; a 100-row request <= 2x a 1-row one (with json.loads of the 100-row bodies alone
   measured beside it, the part no handler skips). X-Ray is off (no daemon), as the local cloud runs
   it; the EMF lines go to /dev/null. The alias cache keeps its deployed 30 s, so the occasional
   re-resolve (a DynamoDB query, here to moto) falls among the timed calls, as in a warm Lambda.
2. Cold start, each in a fresh process, medians of several runs after one unmeasured run of each
   (so every kind reads its files from a warm page cache, and its bytecode from a cache the warm-up
   wrote, as a function's layers ship precompiled .pyc): (a) the serving core: import numpy,
   onnxruntime and `mlops.serving`, `load_version` from local files (sha256 check, signature,
   session), one row encoded from its JSON and answered; (b) the whole predict handler, today's and
   the pre-#21 one taking turns (issue #21: <= 500 ms), import plus its first request, which builds
   the clients and reads the alias and the artifacts from a moto server over HTTP; (c)
   scikit-learn: import, unpickle the pipeline the platform stores, `predict_proba` on one row from
   its JSON. Time runs from the first line of the child's script (interpreter start-up is not
   included, and is the same for all; the data column gives whole-process wall time). Memory is the
   child's peak RSS, VmHWM from /proc/self/status: `ru_maxrss` would report at least the parent's
   peak, which Linux carries across fork and exec.
3. Through the local HTTP gateway: the platform deployed as `make up` deploys it (`python -m
   localcloud up`: `LocalCloud.server`, deploy, `serve_api`) with the REST front door
   (`serving.front_door: rest`: the gateway and usage plan are what this part measures), in its own
   process, so the 16 client threads here do not share its interpreter. The RF model is registered
   there, and 16 keep-alive clients POST single-row predictions with the prediction key, taking
   turns in blocks with the same load on GET /v1/health (the gateway plus the smallest Powertools
   handler: the baseline). The usage plan's throttle is raised through the platform's settings
   (`prediction_throttle`) for this deployment, since the default (50 requests/s, burst 100) would
   answer most requests 429. The local cloud runs one Lambda invocation at a time, like a single
   warm container.

    python -m bench inference            # full run (~5 min: fits, timings, a synth and a deploy)
    python -m bench inference --quick    # 2,000 rows, 20 trees, few calls, no gateway: checks the harness
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench import bench_training as training
from bench.figures import Figure, speedup
from mlops.datasets.versioning import ColumnSchema
from mlops.registry.keys import table_definition
from mlops.serving.inputs import InputPolicy, encode_request
from mlops.serving.session import inference_session
from mlops.serving.signature import ServedSignature
from mlops.training.config import TrainingConfig
from mlops.training.features import INPUT_NAME
from mlops.training.prepare import Prepared, prepare
from mlops.training.search_space import Candidate
from mlops.training.signature import signature, signature_json

BENCHMARK = "inference"
SKLEARN = training.SKLEARN
ORT = "onnxruntime session.run"
HANDLER_P50_TARGET_US = 250.0  # issue #21: the 1-row handler p50 <= 250 µs, and never slower than scikit-learn
BATCH_TO_ROW_TARGET = 2.0  # issue #21: a 100-row request <= 2x the 1-row time
HANDLER_COLD_START_TARGET_MS = 500.0  # issue #21: the whole predict handler's cold start <= 500 ms
BEFORE = "pre-#21 handler (bench/predict_before.py), same run"
MODEL_SPEEDUP_TARGET = 300.0  # the issue: RF200 model time >= 300x faster than scikit-learn
COLD_START_TARGET_MS = 400.0  # the issue: import + load + first prediction <= 400 ms
COLD_START_RSS_TARGET_MB = 160.0  # the issue: peak RSS <= 160 MB
CLIENTS = 16
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "artifacts"
TABLE = "registry"
REGISTERED_AT = "2026-11-23T12:00:00+00:00"
METRICS_NAMESPACE = "ServerlessMlops"  # infra.constructs.platform_function.METRICS_NAMESPACE (no CDK import here)
DEPLOYED_CAPTURE_RATE = "0.1"  # infra.settings.ServingSettings.capture_sample_rate's default
ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = ROOT / "functions"
PREDICT_PATH = "/v1/models/{name}/predict"


@dataclass(frozen=True)
class Scale:
    fit: training.Scale  # rows and trees: the training benchmark's scale
    single_calls: int  # timed single-row handler calls per model
    batch_calls: int  # timed 100-row handler calls per model
    batch_rows: int
    warmup: int
    blocks: int  # the callables take turns this many times
    cold_runs: int  # fresh processes per kind, measured
    cold_warmup: int  # rounds run first and not counted (they warm the page cache)
    gateway_seconds: float | None  # load per route through the gateway (None: skipped)
    gateway_blocks: int


FULL = Scale(
    fit=training.FULL,
    single_calls=2_000,
    batch_calls=300,
    batch_rows=100,
    warmup=100,
    blocks=10,
    cold_runs=5,
    cold_warmup=1,
    gateway_seconds=15.0,
    gateway_blocks=3,
)
QUICK = Scale(
    fit=training.QUICK,
    single_calls=100,
    batch_calls=10,
    batch_rows=100,
    warmup=5,
    blocks=2,
    cold_runs=1,
    cold_warmup=0,
    gateway_seconds=None,
    gateway_blocks=1,
)


# ------------------------------------------------------------------------------------ the models


@dataclass(frozen=True)
class Published:
    """One fitted candidate as a training run leaves it: artifacts by key and the version record."""

    name: str  # the model's name in the registry
    label: str  # what the figures call it
    fitted: training.Fitted
    artifacts: dict[str, bytes]
    record: dict[str, Any]
    pickle_bytes: bytes  # the scikit-learn pipeline, as the platform stores it beside the ONNX


def publishable(
    name: str,
    fitted: training.Fitted,
    prepared: Prepared,
    config: TrainingConfig,
    columns: Sequence[ColumnSchema],
    serving: Mapping[str, Any] | None = None,
) -> Published:
    """The artifacts and registry record `training_run` writes for a selected candidate (the parts
    serving reads: model.onnx with its sha256, signature.json, the serving policy)."""
    splits = prepared.splits
    sig = signature(config, prepared.meta.feature_spec, splits.X_train, prepared.meta.classes, list(columns))
    prefix = f"models/{name}/runs/bench-{name}/"
    onnx_key, signature_key = f"{prefix}model.onnx", f"{prefix}signature.json"
    digest = hashlib.sha256(fitted.onnx_bytes).hexdigest()
    record = {
        "status": "registered",
        "estimator": fitted.candidate.estimator,
        "artifacts": {"model.onnx": {"key": onnx_key, "sha256": digest}, "signature.json": {"key": signature_key}},
        "onnx_sha256": digest,
        "signature_key": signature_key,
        "serving": {**config.serving.model_dump(mode="json"), **(serving or {})},
        "dataset": config.dataset,
    }
    return Published(
        name=name,
        label=training.label(fitted.candidate),
        fitted=fitted,
        artifacts={onnx_key: fitted.onnx_bytes, signature_key: json.dumps(signature_json(sig)).encode()},
        record=record,
        pickle_bytes=fitted.result.model_bytes or b"",
    )


def publish(model: Published, table: Any, s3: Any, bucket: str) -> int:
    """Upload the artifacts, register the version through the registry's own write path and make it
    champion; the version number."""
    from mlops.registry.models import ModelRegistry

    for key, body in model.artifacts.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    registry = ModelRegistry(table)
    run_id = f"bench-{model.name}-{uuid.uuid4().hex[:8]}"
    registry.start_run(run_id, {"dataset": model.record["dataset"], "started_at": REGISTERED_AT})
    dynamo_record = json.loads(json.dumps(model.record), parse_float=Decimal)  # DynamoDB takes no floats
    version = registry.register_version(model.name, dynamo_record, run_id=run_id, at=REGISTERED_AT)
    registry.set_alias(model.name, "champion", version, reason="benchmark", actor="bench", at=REGISTERED_AT)
    return version


# ------------------------------------------------------------------------------------ the requests


@dataclass(frozen=True)
class Rows:
    """The same test rows twice: as JSON records (what a client sends) and as the float32 arrays the
    models take (what scikit-learn and onnxruntime are timed on)."""

    records: list[list[dict[str, Any]]]  # per call
    arrays: list[NDArray[np.float32]]  # per call, C-contiguous


def sample_rows(prepared: Prepared, arrays: Mapping[str, NDArray[Any]], rows: int, calls: int) -> Rows:
    """`calls` requests of `rows` consecutive test rows each (wrapping round the test split): the
    rows bench_training's row_inputs / batch_inputs give, as records."""
    splits = prepared.splits
    columns = prepared.meta.feature_spec.columns
    n_test = splits.X_test.shape[0]
    records = [
        [{c: float(arrays[c][int(splits.rows_test[(i * rows + j) % n_test])]) for c in columns} for j in range(rows)]
        for i in range(calls)
    ]
    matrices = (
        training.row_inputs(splits.X_test, calls) if rows == 1 else training.batch_inputs(splits.X_test, rows, calls)
    )
    return Rows(records, matrices)


def check_same_rows(model: Published, rows: Rows) -> None:
    """The records encode (as serving encodes them) to exactly the arrays scikit-learn is given."""
    served = ServedSignature.from_json(json.loads(model.artifacts[model.record["signature_key"]]))
    for records, matrix in zip(rows.records, rows.arrays, strict=True):
        encoded = encode_request(records, served, InputPolicy()).matrix
        if not np.array_equal(encoded, matrix):
            raise AssertionError(f"{model.name}: the JSON records do not encode to the rows scikit-learn gets")


def proxy_event(name: str, body: str, request_id: str, api_key: str = "bench-key") -> dict[str, Any]:
    """The REST API proxy event the local gateway builds for POST /v1/models/{name}/predict
    (`build_proxy_event`, field for field), with the headers a client and API Gateway add."""
    from localcloud.apigateway import GatewayRequest, build_proxy_event

    api_id = "a1b2c3d4e5"
    host = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    request = GatewayRequest(
        method="POST",
        raw_path=f"/prod/v1/models/{name}/predict",
        headers=[
            ("Host", host),
            ("User-Agent", "python-requests/2.32.3"),
            ("Accept", "*/*"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body.encode()))),
            ("x-api-key", api_key),
        ],
        body=body.encode(),
        source_ip="203.0.113.7",
    )
    now = time.time()
    return build_proxy_event(
        request=request,
        path=f"/v1/models/{name}/predict",
        resource_path=PREDICT_PATH,
        resource_id="abc123",
        path_parameters={"name": name},
        query={},
        stage="prod",
        stage_variables={},
        api_id=api_id,
        account_id=ACCOUNT,
        request_id=request_id,
        request_time_epoch_ms=int(now * 1000),
        request_time=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        identity={"sourceIp": "203.0.113.7", "userAgent": "python-requests/2.32.3", "apiKey": api_key},
        domain_name=host,
        binary_media_types=[],
        extra_headers=[
            ("X-Amzn-Trace-Id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Port", "443"),
            ("X-Forwarded-Proto", "https"),
        ],
    )


def request_body(records: list[dict[str, Any]]) -> str:
    return json.dumps({"instances": records})


@dataclass
class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "ServerlessMlops-ServingPredict"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ServerlessMlops-ServingPredict"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/ServerlessMlops-ServingPredict"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def handler_environment(bucket: str, table: str) -> dict[str, str]:
    """What the Predict construct and PlatformFunction put in the function's environment, capture at
    the deployment's default rate (a model's own `serving.capture_sample_rate` still applies), no
    X-Ray daemon."""
    return {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "REGISTRY_TABLE": table,
        "ARTIFACTS_BUCKET": bucket,
        "ALIAS_CACHE_SECONDS": "30",
        "CAPTURE_SAMPLE_RATE": DEPLOYED_CAPTURE_RATE,
        "CAPTURE_MAX_ROWS": "1000",
        "CAPTURE_MAX_AGE_SECONDS": "60",
        "POWERTOOLS_SERVICE_NAME": "serving",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PLATFORM_STACK_NAME": "ServerlessMlops",
    }


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (the handler module reads its settings on its first
    invocation), then what was there before."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class InProcess:
    """The predict handler module, imported against moto, and the bucket it captures into."""

    module: Any
    before: Any  # the pre-#21 handler module, over the same bucket and table
    s3: Any
    context: LambdaContext = field(default_factory=LambdaContext)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.module.handler(event, self.context)
        return response

    def handle_before(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.before.handler(event, self.context)
        return response

    def captured_objects(self) -> int:
        """Capture batches written so far (after flushing what is buffered)."""
        self.module.services().serving.capture.flush()
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="capture/")
        return int(listed.get("KeyCount", 0))


@contextlib.contextmanager
def handler_in_moto(models: Sequence[Published]) -> Iterator[InProcess]:
    """Bucket and table in moto, the models published, `handlers.predict` and the pre-#21 handler
    imported with the function's environment; their stdout (EMF metric lines) goes to /dev/null.
    The modules are forgotten afterwards: their clients belong to this moto."""
    import boto3
    from moto import mock_aws

    from localcloud.dynamodb import atomicity as dynamodb_atomicity

    dynamodb_atomicity.install()
    with (
        environment(handler_environment(BUCKET, TABLE)),
        mock_aws(),
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        table = boto3.resource("dynamodb", region_name=REGION).create_table(**table_definition(TABLE))
        for model in models:
            publish(model, table, s3, BUCKET)
        names = ("handlers.predict", "bench.predict_before")
        for name in names:
            sys.modules.pop(name, None)
        module, before = (importlib.import_module(name) for name in names)
        try:
            yield InProcess(module, before, s3)
        finally:
            for handler in (module, before):
                with contextlib.suppress(Exception):
                    handler.services().serving.capture.flush()
            for name in names:
                sys.modules.pop(name, None)


# ------------------------------------------------------------------------------ 1. handler latency


def _answer_matches(response: dict[str, Any], expected: NDArray[Any], what: str) -> None:
    if response.get("statusCode") != 200:
        raise AssertionError(f"{what}: the handler answered {response.get('statusCode')}: {response.get('body')}")
    probabilities = np.asarray(json.loads(response["body"])["probabilities"], dtype=np.float64)
    if np.abs(probabilities - expected).max() > 1e-4:
        raise AssertionError(f"{what}: the handler's probabilities differ from scikit-learn's")


@dataclass(frozen=True)
class Medians:
    """A model's handler p50s at one request size, for the 100-rows-against-1-row figure."""

    handler: float
    before: float
    model: float


def handler_figures(
    app: InProcess,
    model: Published,
    uncaptured: Published | None,
    rows: Rows,
    scale: Scale,
    *,
    single: bool,
) -> tuple[list[Figure], Medians]:
    """The handler, the pre-#21 handler, onnxruntime alone and scikit-learn on the same rows, taking
    turns; for the forest also the handler on a model registered with capture off."""
    n = len(rows.records)
    session = inference_session(model.fitted.onnx_bytes)
    sk_model = model.fitted.model
    events = [proxy_event(model.name, request_body(r), str(uuid.uuid4())) for r in rows.records]
    uncaptured_events = (
        [proxy_event(uncaptured.name, request_body(r), str(uuid.uuid4())) for r in rows.records] if uncaptured else []
    )
    expected = sk_model.predict_proba(rows.arrays[0])
    _answer_matches(app.handle(events[0]), expected, model.name)
    _answer_matches(app.handle_before(events[0]), expected, f"{model.name} (pre-#21 handler)")
    if uncaptured is not None:
        _answer_matches(app.handle(uncaptured_events[0]), expected, uncaptured.name)
    statuses: Counter[int] = Counter()

    def handler_call(i: int) -> object:
        response = app.handle(events[i])
        statuses[response["statusCode"]] += 1
        return response

    def before_call(i: int) -> object:
        response = app.handle_before(events[i])
        statuses[response["statusCode"]] += 1
        return response

    def uncaptured_call(i: int) -> object:
        response = app.handle(uncaptured_events[i])
        statuses[response["statusCode"]] += 1
        return response

    def model_call(i: int) -> object:
        return session.run(None, {INPUT_NAME: rows.arrays[i]})

    def sklearn_call(i: int) -> object:
        return sk_model.predict_proba(rows.arrays[i])

    calls: dict[str, Callable[[int], object]] = {
        "handler": handler_call,
        "before": before_call,
        "model": model_call,
        "sklearn": sklearn_call,
    }
    counts = {"handler": n, "before": n, "model": n, "sklearn": n}
    is_rf = model.fitted.candidate.estimator == "random_forest"
    if is_rf and single:
        counts["sklearn"] = max(n // 4, scale.blocks)  # a 200-tree forest takes ms per call in scikit-learn
    if uncaptured is not None:
        calls["uncaptured"] = uncaptured_call
        counts["uncaptured"] = n
    before = training.load()
    timings = training.interleaved(calls, counts, warmup=scale.warmup, blocks=scale.blocks)
    window = f"load {before}->{training.load()} on {os.cpu_count()} CPUs"
    unit, divisor = ("µs", 1e3) if single else ("ms", 1e6)
    what = "1 row" if single else f"{scale.batch_rows} rows"
    h50, h99 = training.percentiles(timings["handler"], divisor)
    b50, b99 = training.percentiles(timings["before"], divisor)
    m50, m99 = training.percentiles(timings["model"], divisor)
    s50, s99 = training.percentiles(timings["sklearn"], divisor)
    answered = ", ".join(f"{count:,} x {status}" for status, count in sorted(statuses.items()))
    data = (
        f"{counts['handler']:,} handler calls (distinct test rows, JSON body, capture {DEPLOYED_CAPTURE_RATE}) / "
        f"{counts['sklearn']:,} scikit-learn calls, 1 thread, GC off while timed; handler answers, warm-up "
        f"included: {answered}; handler p50 minus session.run p50: {h50 - m50:.4g} {unit}; pre-#21 handler "
        f"p50 {b50:.4g} {unit}, p99 {b99:.4g} {unit}; {window}"
    )
    name = model.label
    figures: list[Figure] = []
    if single:
        met = h50 <= HANDLER_P50_TARGET_US and h50 <= s50
        figures.append(
            Figure(
                BENCHMARK,
                f"{name}: handler, {what}, p50",
                h50,
                unit,
                baseline=SKLEARN,
                baseline_value=s50,
                ratio=s50 / h50,
                target=f"<= {HANDLER_P50_TARGET_US:g} µs and <= {SKLEARN}",
                met=met,
                data=data,
            )
        )
    else:
        figures.append(
            speedup(
                BENCHMARK, f"{name}: handler, {what}, p50", h50, unit, baseline=SKLEARN, baseline_value=s50, data=data
            )
        )
    figures += [
        speedup(BENCHMARK, f"{name}: handler, {what}, p99", h99, unit, baseline=SKLEARN, baseline_value=s99, data=data),
        speedup(
            BENCHMARK,
            f"{name}: handler against the pre-#21 one, {what}, p50",
            h50,
            unit,
            baseline=BEFORE,
            baseline_value=b50,
            data=f"the same events, taking turns; pre-#21 p99 {b99:.4g} {unit}, now {h99:.4g} {unit}; both over "
            f"today's serving core (the request encoding's speed-up shows in both); {window}",
        ),
        speedup(
            BENCHMARK,
            f"{name}: model time ({ORT}), {what}, p50",
            m50,
            unit,
            baseline=SKLEARN,
            baseline_value=s50,
            target_ratio=MODEL_SPEEDUP_TARGET if is_rf and single else None,
            data=f"the serving session on the prepared float32 array; p99 {m99:.4g} {unit}; "
            f"ONNX {len(model.fitted.onnx_bytes) / 1e6:.2f} MB; {window}",
        ),
    ]
    if uncaptured is not None:
        u50, u99 = training.percentiles(timings["uncaptured"], divisor)
        capture_data = (
            f"the same model registered again with serving.capture_sample_rate=0; {counts['uncaptured']:,} calls "
            f"in the same turns; {app.captured_objects()} capture batches written to the bucket so far; {window}"
        )
        for pct, value, baseline_value in (("p50", u50, h50), ("p99", u99, h99)):
            figures.append(
                speedup(
                    BENCHMARK,
                    f"{name}: handler with capture off, {what}, {pct}",
                    value,
                    unit,
                    baseline=f"handler, capture {DEPLOYED_CAPTURE_RATE}",
                    baseline_value=baseline_value,
                    data=capture_data,
                )
            )
    scale_to_ms = 1e-3 if single else 1.0
    return figures, Medians(h50 * scale_to_ms, b50 * scale_to_ms, m50 * scale_to_ms)


def batch_to_row_figure(model: Published, single: Medians, batch: Medians, rows: int, reading: BodyReading) -> Figure:
    """Issue #21: a 100-row request takes at most twice a 1-row one."""
    ratio = batch.handler / single.handler
    return Figure(
        BENCHMARK,
        f"{model.label}: handler, {rows} rows p50 / 1 row p50",
        ratio,
        "x",
        baseline=BEFORE,
        baseline_value=batch.before / single.before,
        ratio=(batch.before / single.before) / ratio,
        target=f"<= {BATCH_TO_ROW_TARGET:g}",
        met=ratio <= BATCH_TO_ROW_TARGET,
        data=f"{rows} rows {batch.handler:.3f} ms against 1 row {single.handler:.3f} ms (pre-#21: {batch.before:.3f} "
        f"against {single.before:.3f} ms); model time alone {batch.model:.3f} ms against {single.model:.3f} ms; "
        f"reading these {rows}-row bodies alone (17-digit floats, as json.dumps writes a float64), p50: the "
        f"handler's reader (msgspec) {reading.handler:.3f} ms ({reading.handler / single.handler:.1f}x the 1-row "
        f"request), json.loads {reading.json_loads:.3f} ms",
    )


@dataclass(frozen=True)
class BodyReading:
    """p50 ms to read the 100-row request bodies: json.loads, and the predict handler's own reader."""

    json_loads: float
    handler: float


def body_reading(rows: Rows, read: Callable[[str], object]) -> BodyReading:
    """The part of a request no handler can skip, with the standard library's reader and the handler's
    (`handlers.predict._read_json`, msgspec), taking turns on the same bodies."""
    bodies = [request_body(r) for r in rows.records]
    times: dict[str, list[int]] = {"json": [], "handler": []}
    for body in bodies:
        for name, reader in (("json", json.loads), ("handler", read)):
            started = time.perf_counter_ns()
            reader(body)
            times[name].append(time.perf_counter_ns() - started)
    return BodyReading(float(np.median(times["json"])) / 1e6, float(np.median(times["handler"])) / 1e6)


# ------------------------------------------------------------------------------------ 2. cold start

_PRELUDE = """\
import json, resource, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
root = Path(args["root"])
started = time.perf_counter()
"""
_SUFFIX = """\
answered = time.perf_counter()
result["import_ms"] = (imported - started) * 1000
result["load_ms"] = (loaded - imported) * 1000
result["first_ms"] = (answered - loaded) * 1000
result["total_ms"] = (answered - started) * 1000
try:  # this process's own high-water mark; ru_maxrss would carry over the parent's across fork + exec
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result["peak_rss_mb"] = peak_kb / 1024
"""
_WRITE = """\
(root / args["out"]).write_text(json.dumps(result))
"""
PLATFORM_CHILD = """\
import numpy, onnxruntime
from mlops.serving.inputs import encode_request, request_rows
from mlops.registry.versions import ModelVersion
from mlops.serving.models import load_version
imported = time.perf_counter()
served = load_version(args["model"], ModelVersion.from_item(args["record"]), lambda key: (root / key).read_bytes())
loaded = time.perf_counter()
encoded = encode_request(request_rows(json.loads(args["body"])), served.signature, served.policy)
answer = served.predict(encoded.matrix)
result = {"probabilities": answer.probabilities.tolist()}
"""
SKLEARN_CHILD = """\
import pickle
import numpy, sklearn
imported = time.perf_counter()
model = pickle.loads((root / args["pickle"]).read_bytes())
loaded = time.perf_counter()
instances = json.loads(args["body"])["instances"]
x = numpy.array([[row[c] for c in args["columns"]] for row in instances], dtype=numpy.float32)
result = {"probabilities": model.predict_proba(x).tolist()}
"""
HANDLER_CHILD = """\
import importlib
handler_module = importlib.import_module(args["module"])
imported = loaded = time.perf_counter()  # the handler loads its model on the first request
class Context:
    function_name = "ServerlessMlops-ServingPredict"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ServerlessMlops-ServingPredict"
    memory_limit_in_mb = 1769
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    def get_remaining_time_in_millis(self):
        return 10000
response = handler_module.handler(args["event"], Context())
result = {"status": response["statusCode"], "probabilities": json.loads(response["body"]).get("probabilities")}
"""
# The whole handler, today's and the pre-#21 one (copied beside the child), with bytecode cached as a
# function's layers ship it, and compiled from source on every import ("-source": no .pyc written or
# read, as PYTHONDONTWRITEBYTECODE=1 leaves this machine's own runs).
HANDLER_MODULES = {
    "handler": "handlers.predict",
    "before": "predict_before",
    "handler-source": "handlers.predict",
    "before-source": "predict_before",
}
COLD_KINDS = {"platform": PLATFORM_CHILD, "sklearn": SKLEARN_CHILD, **dict.fromkeys(HANDLER_MODULES, HANDLER_CHILD)}


def _child_env(extra: Mapping[str, str] | None = None, pycache: Path | None = None) -> dict[str, str]:
    """The parent's environment with functions/ importable (the Lambda code root) and one thread for
    the numeric libraries, as the serving session and the platform's scikit-learn settings use. With
    `pycache`, compiled bytecode is kept there (and PYTHONDONTWRITEBYTECODE dropped), so the measured
    runs after the warm-up import .pyc files, as a function does from its layers, which ship them
    precompiled (DESIGN.md: a cold import about threefold faster)."""
    path = os.pathsep.join([str(FUNCTIONS_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **(extra or {})}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_child(kind: str, args: dict[str, Any], env: Mapping[str, str], script: str | None = None) -> dict[str, Any]:
    """One fresh process running `kind`'s cold-start script (or `script`: the parts between the
    prelude and the result's write, for a benchmark that does more in the same process); its result."""
    root = Path(args["root"])
    out = f"result-{kind}-{uuid.uuid4().hex[:8]}.json"
    code = _PRELUDE + (script if script is not None else COLD_KINDS[kind] + _SUFFIX) + _WRITE
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps({**args, "out": out})],
        cwd=root,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"cold start ({kind}) failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads((root / out).read_text())
    (root / out).unlink()
    result["wall_ms"] = wall_ms
    return result


@contextlib.contextmanager
def moto_server(models: Sequence[Published]) -> Iterator[dict[str, str]]:
    """A moto server on loopback holding the bucket, the table and the published models; the
    environment a handler needs to reach it (as a function reaches DynamoDB and S3)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from localcloud.dynamodb import atomicity as dynamodb_atomicity

    dynamodb_atomicity.install()
    requests_log = logging.getLogger("werkzeug")  # one line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        table = session.resource("dynamodb", endpoint_url=endpoint).create_table(**table_definition(TABLE))
        for model in models:
            publish(model, table, s3, BUCKET)
        yield {
            **handler_environment(BUCKET, TABLE),
            **credentials,
            "AWS_ENDPOINT_URL": endpoint,
            "CAPTURE_SAMPLE_RATE": DEPLOYED_CAPTURE_RATE,
        }
    finally:
        with contextlib.suppress(Exception):
            import requests

            requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
        requests_log.setLevel(level)


def median_of(results: Sequence[Mapping[str, Any]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in results))


def cold_start_figures(models: Sequence[Published], prepared: Prepared, rows: Rows, scale: Scale) -> list[Figure]:
    """Per model: the serving core and scikit-learn, each in fresh processes taking turns; for the
    first model also the whole handler and the pre-#21 one against a moto server."""
    columns = prepared.meta.feature_spec.columns
    body = request_body(rows.records[0])
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp, moto_server(models) as handler_env:
        root = Path(tmp)
        for model in models:
            for key, data in model.artifacts.items():
                (root / key).parent.mkdir(parents=True, exist_ok=True)
                (root / key).write_bytes(data)
            (root / f"{model.name}.pkl").write_bytes(model.pickle_bytes)
        (root / "predict_before.py").write_bytes((ROOT / "bench" / "predict_before.py").read_bytes())
        plain_env = _child_env(pycache=root / "pycache")
        full_env = _child_env(handler_env, pycache=root / "pycache")
        # An empty cache tree that is never written: Python then reads no .pyc at all (with a prefix
        # set it looks there alone, not in __pycache__), as on a machine that never wrote any.
        never_cached = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(root / "no-pycache")}
        source_env = {**_child_env(handler_env), **never_cached}
        kinds: list[tuple[Published, str]] = [(m, k) for m in models for k in ("platform", "sklearn")]
        kinds += [(models[0], kind) for kind in HANDLER_MODULES]
        results: dict[tuple[str, str], list[dict[str, Any]]] = {(m.name, k): [] for m, k in kinds}
        before = training.load()
        for attempt in range(scale.cold_warmup + scale.cold_runs):
            for model, kind in kinds:
                args = {
                    "root": str(root),
                    "model": model.name,
                    "record": {**model.record, "model": model.name, "version": 1},
                    "pickle": f"{model.name}.pkl",
                    "body": body,
                    "columns": list(columns),
                    "event": proxy_event(model.name, body, str(uuid.uuid4())),
                    "module": HANDLER_MODULES.get(kind, ""),
                }
                whole = kind in HANDLER_MODULES
                env = (source_env if kind.endswith("-source") else full_env) if whole else plain_env
                result = run_child(kind, args, env)
                if whole and result["status"] != 200:
                    raise RuntimeError(f"the {kind}'s first request answered {result['status']}")
                expected = model.fitted.model.predict_proba(rows.arrays[0])
                if np.abs(np.asarray(result["probabilities"]) - expected).max() > 1e-4:
                    raise AssertionError(f"cold start ({kind}, {model.name}): a wrong answer")
                if attempt >= scale.cold_warmup:
                    results[(model.name, kind)].append(result)
        window = f"load {before}->{training.load()} on {os.cpu_count()} CPUs"

    def breakdown(runs: Sequence[Mapping[str, Any]], load_word: str) -> str:
        return (
            f"import {median_of(runs, 'import_ms'):.0f} + {load_word} {median_of(runs, 'load_ms'):.0f} + "
            f"first answer {median_of(runs, 'first_ms'):.0f} ms; whole process {median_of(runs, 'wall_ms'):.0f} ms"
        )

    n = scale.cold_runs
    for model in models:
        core, sk = results[(model.name, "platform")], results[(model.name, "sklearn")]
        core_ms, sk_ms = median_of(core, "total_ms"), median_of(sk, "total_ms")
        core_mb, sk_mb = median_of(core, "peak_rss_mb"), median_of(sk, "peak_rss_mb")
        figures += [
            Figure(
                BENCHMARK,
                f"{model.label}: cold start, serving core (import + load + first prediction)",
                core_ms,
                "ms",
                baseline="scikit-learn: import + unpickle + predict_proba",
                baseline_value=sk_ms,
                ratio=sk_ms / core_ms,
                target=f"<= {COLD_START_TARGET_MS:g} ms",
                met=core_ms <= COLD_START_TARGET_MS,
                data=f"median of {n} fresh processes; {breakdown(core, 'load_version')}; scikit-learn "
                f"{breakdown(sk, 'unpickle')}; {window}",
            ),
            Figure(
                BENCHMARK,
                f"{model.label}: cold start peak RSS, serving core",
                core_mb,
                "MB",
                baseline="scikit-learn: import + unpickle + predict_proba",
                baseline_value=sk_mb,
                ratio=sk_mb / core_mb,
                target=f"<= {COLD_START_RSS_TARGET_MB:g} MB",
                met=core_mb <= COLD_START_RSS_TARGET_MB,
                data=f"the child's VmHWM (MiB), median of {n}; ONNX {len(model.fitted.onnx_bytes) / 1e6:.2f} MB, "
                f"pickle {len(model.pickle_bytes) / 1e6:.2f} MB",
            ),
        ]
    first = models[0]
    handler, pre = results[(first.name, "handler")], results[(first.name, "before")]
    core = results[(first.name, "platform")]
    handler_ms, handler_mb = median_of(handler, "total_ms"), median_of(handler, "peak_rss_mb")
    before_ms, before_mb = median_of(pre, "total_ms"), median_of(pre, "peak_rss_mb")
    core_ms = median_of(core, "total_ms")
    source_ms = median_of(results[(first.name, "handler-source")], "total_ms")
    before_source_ms = median_of(results[(first.name, "before-source")], "total_ms")
    context = (
        f"median of {n} fresh processes each, taking turns, bytecode cached; now: import "
        f"{median_of(handler, 'import_ms'):.0f} ms + first request {median_of(handler, 'first_ms'):.0f} ms (settings, "
        f"botocore clients, alias query, version read and two S3 GETs from a moto server on loopback, load, answer); "
        f"pre-#21: import {median_of(pre, 'import_ms'):.0f} ms (boto3, Powertools) + first request "
        f"{median_of(pre, 'first_ms'):.0f} ms; the serving core alone {core_ms:.0f} ms; {window}"
    )
    figures += [
        Figure(
            BENCHMARK,
            f"{first.label}: cold start, whole predict handler (import + first request)",
            handler_ms,
            "ms",
            baseline=BEFORE,
            baseline_value=before_ms,
            ratio=before_ms / handler_ms,
            target=f"<= {HANDLER_COLD_START_TARGET_MS:g} ms",
            met=handler_ms <= HANDLER_COLD_START_TARGET_MS,
            data=context,
        ),
        Figure(
            BENCHMARK,
            f"{first.label}: cold start, whole predict handler, compiling its Python at import (no .pyc)",
            source_ms,
            "ms",
            baseline=BEFORE,
            baseline_value=before_source_ms,
            ratio=before_source_ms / source_ms,
            data=f"median of {n} each; every module compiled from source as it is imported (no .pyc read or written, "
            "as this machine's environment runs Python with PYTHONDONTWRITEBYTECODE=1): the pre-#21 figure is the one "
            "issue #21 quotes (1.1-1.4 s); a function whose code and layers shipped without .pyc would pay this",
        ),
        Figure(
            BENCHMARK,
            f"{first.label}: cold start peak RSS, whole predict handler",
            handler_mb,
            "MB",
            baseline=BEFORE,
            baseline_value=before_mb,
            ratio=before_mb / handler_mb,
            data=f"the child's VmHWM (MiB), median of {n}",
        ),
    ]
    return figures


# ------------------------------------------------------------------------------- 3. local gateway


@dataclass
class Load:
    """What one stretch of closed-loop load saw: per-request latencies, answers by status, time."""

    latencies_ns: list[int]
    statuses: Counter[str]
    seconds: float

    def __iadd__(self, other: Load) -> Load:
        self.latencies_ns += other.latencies_ns
        self.statuses += other.statuses
        self.seconds += other.seconds
        return self

    @property
    def requests(self) -> int:
        return len(self.latencies_ns)

    @property
    def failed(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))


def connections(port: int, clients: int) -> list[http.client.HTTPConnection]:
    """One keep-alive connection per client, opened one after another before any load (the
    gateway's listen backlog is small: 16 simultaneous connects can be refused)."""
    opened = []
    for _ in range(clients):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        opened.append(connection)
    return opened


def drive(
    pool: list[http.client.HTTPConnection],
    method: str,
    path: str,
    headers: Mapping[str, str],
    bodies: Sequence[bytes] | None,
    seconds: float,
) -> Load:
    """One thread per connection in `pool`, each sending one request after another for `seconds`
    (a closed loop: as many requests in flight as there are clients). A connection that fails is
    counted by its error and replaced."""
    clients = len(pool)
    barrier = threading.Barrier(clients + 1)
    per_client: list[tuple[list[int], Counter[str]]] = [([], Counter()) for _ in range(clients)]
    stop_at = [0.0]

    def client(k: int) -> None:
        latencies, statuses = per_client[k]
        i = k
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            body = bodies[i % len(bodies)] if bodies else None
            i += clients
            started = time.perf_counter_ns()
            try:
                pool[k].request(method, path, body=body, headers=dict(headers))
                response = pool[k].getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                statuses[type(error).__name__] += 1
                pool[k].close()
                pool[k] = http.client.HTTPConnection(pool[k].host, pool[k].port, timeout=60)
                continue
            latencies.append(time.perf_counter_ns() - started)
            statuses[str(response.status)] += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    seen = Load([], Counter(), elapsed)
    for latencies, statuses in per_client:
        seen.latencies_ns += latencies
        seen.statuses += statuses
    return seen


def one_request(port: int, method: str, path: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int, float]:
    """One request on a new connection: its status and milliseconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SYNTH_CHILD = """\
import json, sys
from infra.app import build_app
from localcloud.deploy import synthesize
base = json.load(open("cdk.json"))["context"]["platform"]
throttle = {"rate_limit": 100000.0, "burst_limit": 100000}
serving = {**base.get("serving", {}), "front_door": sys.argv[2]}  # rest: the gateway and its usage plan
s = synthesize(build_app, context={"platform": {**base, "serving": serving, "prediction_throttle": throttle}})
out = sys.argv[1]
open(f"{out}/{s.stack_name}.template.json", "w").write(json.dumps(s.template))
open(f"{out}/{s.stack_name}.assets.json", "w").write(json.dumps(s.assets))
print(s.stack_name)
"""


@dataclass
class Deployment:
    process: subprocess.Popen[bytes]
    outputs: dict[str, str]
    api_port: int
    log: Path


@contextlib.contextmanager
def local_cloud(state: Path, front_door: str = "rest") -> Iterator[Deployment]:
    """`python -m localcloud up` on free ports with a template synthesized for the benchmark: by default
    the REST front door (`serving.front_door: rest`, what the gateway figures measure; the default
    function URL is measured by `bench cost` and soaked by `make soak`) with its prediction throttle
    raised; stopped with Ctrl-C as a person would stop it."""
    synth = subprocess.run(
        [sys.executable, "-c", SYNTH_CHILD, str(state), front_door],
        cwd=ROOT,
        env=_child_env({"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if synth.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{synth.stderr[-3000:]}")
    stack_name = synth.stdout.strip().splitlines()[-1]
    port, api_port, url_port = _free_port(), _free_port(), _free_port()
    log = state / "localcloud.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localcloud",
                "up",
                "--port",
                str(port),
                "--api-port",
                str(api_port),
                "--function-url-port",  # not 4568, which a `make up` elsewhere may hold
                str(url_port),
                "--template",
                str(state / f"{stack_name}.template.json"),
                "--state-dir",
                str(state / "state"),
                "--alarm-interval",
                "3600",
                "--email",
                "",
            ],
            cwd=ROOT,
            env=_child_env({"PYTHONUNBUFFERED": "1"}),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops it." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local cloud did not come up:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        outputs = json.loads((state / "state" / "outputs.json").read_text())[stack_name]
        yield Deployment(process, outputs, api_port, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def predict_route_deployed(apigateway: Any) -> bool:
    """Whether the deployed API has POST /v1/models/{name}/predict (the serving construct's route)."""
    for api in apigateway.get_rest_apis()["items"]:
        for resource in apigateway.get_resources(restApiId=api["id"], limit=500)["items"]:
            if resource["path"] == PREDICT_PATH and "POST" in (resource.get("resourceMethods") or {}):
                return True
    return False


def not_available(
    reason: str, what: str = f"through the local HTTP gateway, {CLIENTS} clients", benchmark: str = BENCHMARK
) -> list[Figure]:
    """One figure saying what could not be measured here and why, in place of its figures."""
    return [
        Figure(
            benchmark,
            f"{what}: not available",
            float("nan"),
            "",
            data=reason.replace("|", "/"),
        )
    ]


def gateway_figures(model: Published, rows: Rows, scale: Scale) -> list[Figure]:
    """Throughput and latency of single-row predictions through the gateway, against its health route."""
    import boto3

    if scale.gateway_seconds is None:
        return []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, local_cloud(Path(tmp)) as deployment:
        outputs = deployment.outputs
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        endpoint = outputs["LocalCloudEndpoint"]
        apigateway = session.client("apigateway", endpoint_url=endpoint)
        if not predict_route_deployed(apigateway):
            return not_available(f"the deployed API has no POST {PREDICT_PATH} (infra/constructs/serving.py)")
        s3 = session.client("s3", endpoint_url=endpoint)
        table = session.resource("dynamodb", endpoint_url=endpoint).Table(outputs["RegistryTableName"])
        publish(model, table, s3, outputs["ArtifactsBucketName"])
        key = apigateway.get_api_key(apiKey=outputs["PredictionApiKeyId"], includeValue=True)["value"]
        base = "/" + outputs["ApiUrl"].split("//", 1)[1].split("/", 1)[1].rstrip("/")  # "/prod"
        predict_path = f"{base}/v1/models/{model.name}/predict"
        health_path = f"{base}/v1/health"
        json_headers = {"x-api-key": key, "Content-Type": "application/json"}
        bodies = [request_body(r).encode() for r in rows.records]
        status, cold_ms = one_request(deployment.api_port, "POST", predict_path, json_headers, bodies[0])
        if status != 200:
            return not_available(f"the first prediction through the gateway answered {status}")
        routes: dict[str, tuple[str, str, Mapping[str, str], Sequence[bytes] | None]] = {
            "predict": ("POST", predict_path, json_headers, bodies),
            "health": ("GET", health_path, {"x-api-key": key}, None),
        }
        pool = connections(deployment.api_port, CLIENTS)
        warm = [drive(pool, *route, 1.0) for route in routes.values()]  # both routes, every connection
        totals = {name: Load([], Counter(), 0.0) for name in routes}
        block_seconds = scale.gateway_seconds / scale.gateway_blocks
        before = training.load()
        for _ in range(scale.gateway_blocks):
            for name, route in routes.items():
                totals[name] += drive(pool, *route, block_seconds)
        for connection in pool:
            connection.close()
        window = f"load {before}->{training.load()} on {os.cpu_count()} CPUs"
    predict, health = totals["predict"], totals["health"]
    p_rps, h_rps = predict.requests / predict.seconds, health.requests / health.seconds
    p50, p99 = training.percentiles(np.asarray(predict.latencies_ns, dtype=np.int64), 1e6)
    h50, h99 = training.percentiles(np.asarray(health.latencies_ns, dtype=np.int64), 1e6)
    data = (
        f"{CLIENTS} keep-alive clients, closed loop, loopback; {predict.requests:,} predictions and "
        f"{health.requests:,} health checks in {scale.gateway_blocks} turns of {block_seconds:g} s each; "
        f"distinct single test rows; first (cold) prediction {cold_ms:.0f} ms; throttle raised to 100,000/s for "
        f"this deployment; one Lambda invocation at a time (local runtime); {window}"
    )
    baseline = "GET /v1/health, same gateway and clients"
    statuses = ", ".join(f"{count:,} x {status}" for status, count in sorted(predict.statuses.items()))
    health_statuses = ", ".join(f"{count:,} x {status}" for status, count in sorted(health.statuses.items()))
    name = model.label
    return [
        Figure(
            BENCHMARK,
            f"{name}: gateway, 1 row, {CLIENTS} clients: throughput",
            p_rps,
            "req/s",
            baseline=baseline,
            baseline_value=h_rps,
            ratio=p_rps / h_rps,
            ratio_meaning="value / baseline",
            data=data,
        ),
        speedup(
            BENCHMARK,
            f"{name}: gateway, 1 row, {CLIENTS} clients: p50",
            p50,
            "ms",
            baseline=baseline,
            baseline_value=h50,
            data=data,
        ),
        speedup(
            BENCHMARK,
            f"{name}: gateway, 1 row, {CLIENTS} clients: p99",
            p99,
            "ms",
            baseline=baseline,
            baseline_value=h99,
            data=data,
        ),
        Figure(
            BENCHMARK,
            f"{name}: gateway, 1 row, {CLIENTS} clients: non-2xx answers",
            float(predict.failed),
            "",
            baseline=baseline,
            baseline_value=float(health.failed),
            target="0",
            met=predict.failed == 0,
            data=f"predict: {statuses}; health: {health_statuses}; in the 1 s warm-up before: "
            f"{sum(w.failed for w in warm)} non-2xx of {sum(sum(w.statuses.values()) for w in warm):,}",
        ),
    ]


# --------------------------------------------------------------------------------------------- run


def fit_models(scale: Scale) -> tuple[list[Published], list[Published], Published, Prepared, dict[str, NDArray[Any]]]:
    """The random forest and the logistic regression of the platform's default config, fitted as the
    training benchmark fits them, published under their own names, plus the forest again with capture
    off; and the config's other candidates (the gradient boostings), whose 1-row answers issue #21
    also holds to scikit-learn's."""
    arrays, columns = training.synthetic(scale.fit.rows)
    config = training.platform_config(scale.fit)
    prepared = prepare(arrays, columns, config)
    wanted: dict[str, Candidate] = {c.estimator: c for c in config.candidates}
    published: list[Published] = []
    for estimator, name in (("random_forest", "synthetic-rf"), ("logistic_regression", "synthetic-logistic")):
        fitted = training.fit_and_export(wanted[estimator], prepared, config)
        published.append(publishable(name, fitted, prepared, config, columns))
    others = [
        publishable(
            f"synthetic-{estimator.replace('_', '-')}",
            training.fit_and_export(candidate, prepared, config),
            prepared,
            config,
            columns,
        )
        for estimator, candidate in wanted.items()
        if estimator not in ("random_forest", "logistic_regression")
    ]
    forest = published[0]
    uncaptured = publishable(
        "synthetic-rf-uncaptured", forest.fitted, prepared, config, columns, serving={"capture_sample_rate": 0.0}
    )
    return published, others, uncaptured, prepared, arrays


def run(quick: bool) -> list[Figure]:
    scale = QUICK if quick else FULL
    models, others, uncaptured, prepared, arrays = fit_models(scale)
    single = sample_rows(prepared, arrays, 1, scale.single_calls)
    batch = sample_rows(prepared, arrays, scale.batch_rows, scale.batch_calls)
    for model in [*models, *others]:
        check_same_rows(model, single)
        check_same_rows(model, batch)
    figures: list[Figure] = []
    with handler_in_moto([*models, *others, uncaptured]) as app:
        reading = body_reading(batch, app.module._read_json)
        for model in models:
            forest_only = uncaptured if model is models[0] else None
            one, one_row = handler_figures(app, model, forest_only, single, scale, single=True)
            many, many_rows = handler_figures(app, model, forest_only, batch, scale, single=False)
            figures += [*one, *many, batch_to_row_figure(model, one_row, many_rows, scale.batch_rows, reading)]
        for model in others:
            figures += handler_figures(app, model, None, single, scale, single=True)[0]
    figures += cold_start_figures(models, prepared, single, scale)
    if scale.gateway_seconds is not None:
        try:
            figures += gateway_figures(models[0], single, scale)
        except RuntimeError as error:  # no synth or no deploy: say why in the table, keep the other figures
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            figures += not_available(" ... ".join(dict.fromkeys([lines[0], lines[-1]]))[:400] if lines else "")
    return figures
