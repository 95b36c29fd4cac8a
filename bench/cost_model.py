"""Monthly cost of the platform from measured durations, memory and counts: pure arithmetic, no AWS.

Prices are AWS list prices for us-east-1 as assumed in 2026-11, without any free tier. They change:
check https://aws.amazon.com/lambda/pricing/ (requests, duration, provisioned concurrency, SnapStart; function
URLs cost nothing beyond them), https://aws.amazon.com/api-gateway/pricing/ (REST $3.50, HTTP $1.00
per million), https://aws.amazon.com/cloudwatch/pricing/ (an alarm is billed per metric it watches)
and the other services' pricing pages before relying on a figure. `bench/bench_cost.py` measures the
inputs in the local cloud and feeds them here; a `Deployment` says which settings to price (the
default deployment, or `BEFORE_ISSUE_21`, or an option such as another front door).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60.0
WEEKS_PER_MONTH = HOURS_PER_MONTH / (24.0 * 7.0)
GB = 1024.0**3
PRICES_AS_OF = "2026-11, us-east-1, list prices, no free tier"


@dataclass(frozen=True)
class Prices:
    """US dollars. Lambda's GB is 1,024 MB; a request unit and a transition are each one."""

    lambda_gb_second_x86_64: float = 0.0000166667
    lambda_gb_second_arm64: float = 0.0000133334
    lambda_per_request: float = 0.20 / 1e6
    api_gateway_rest_per_request: float = 3.50 / 1e6
    api_gateway_http_per_request: float = 1.00 / 1e6  # the first 300M a month
    function_url_per_request: float = 0.0  # Lambda's own request and duration charges only
    # Provisioned concurrency, arm64: per GB-second an environment is kept warm, and the reduced
    # duration price of the invocations it serves (x86_64: $0.0000041667 and $0.0000097222).
    lambda_provisioned_gb_second_arm64: float = 0.0000033334
    lambda_provisioned_duration_gb_second_arm64: float = 0.0000077778
    # SnapStart (Python 3.12+, .NET 8+): per GB-second a published version's snapshot is cached (3 hours
    # at least), and per GB each time an execution environment is restored from it
    # (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-pricing; us-east-1 rates
    # from https://aws.amazon.com/lambda/pricing/, the same for both architectures).
    lambda_snapstart_cache_gb_second: float = 0.0000015046
    lambda_snapstart_restore_gb: float = 0.0001397998
    step_functions_per_transition: float = 0.025 / 1e3
    dynamodb_per_write_unit: float = 0.625 / 1e6
    dynamodb_per_read_unit: float = 0.125 / 1e6
    s3_per_put: float = 0.005 / 1e3
    s3_per_get: float = 0.0004 / 1e3
    s3_per_gb_month: float = 0.023
    cloudwatch_alarm_month: float = 0.10
    cloudwatch_metric_month: float = 0.30
    logs_per_gb_ingested: float = 0.50
    kms_key_month: float = 1.00
    xray_per_trace: float = 5.00 / 1e6
    sagemaker_ml_t2_medium_hour: float = 0.056
    sagemaker_ml_m5_large_hour: float = 0.115

    def lambda_gb_second(self, architecture: str) -> float:
        if architecture == "arm64":
            return self.lambda_gb_second_arm64
        if architecture == "x86_64":
            return self.lambda_gb_second_x86_64
        raise ValueError(f"unknown Lambda architecture {architecture!r}")


def billed_ms(duration_ms: float) -> int:
    """Lambda bills each invocation's duration rounded up to the next millisecond (at least 1 ms)."""
    if duration_ms < 0:
        raise ValueError("a duration cannot be negative")
    return max(1, math.ceil(duration_ms))


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class FunctionProfile:
    """One function as measured: configured memory and architecture, billed ms of each invocation."""

    name: str
    memory_mb: int
    architecture: str
    billed_ms: tuple[int, ...]
    log_bytes_per_invocation: float = 0.0

    @property
    def mean_billed_ms(self) -> float:
        return sum(self.billed_ms) / len(self.billed_ms) if self.billed_ms else 0.0

    @property
    def p50_billed_ms(self) -> float:
        return percentile(self.billed_ms, 50) if self.billed_ms else 0.0

    @property
    def total_billed_ms(self) -> int:
        return sum(self.billed_ms)


def lambda_cost(
    memory_mb: float, billed_ms_total: float, invocations: float, architecture: str, prices: Prices
) -> float:
    """GB-seconds at the architecture's rate plus the per-request charge."""
    gb_seconds = memory_mb / 1024.0 * billed_ms_total / 1000.0
    return gb_seconds * prices.lambda_gb_second(architecture) + invocations * prices.lambda_per_request


def xray_traces(requests: float, *, reservoir_per_second: float = 1.0, fixed_rate: float = 0.05) -> float:
    """Traces X-Ray's default sampling rule records in a month of evenly spread requests: the first
    request each second, then 5 % of the rest (Lambda's own sampling of an event with no upstream
    decision, such as a scheduled drift check)."""
    reservoir = min(requests, reservoir_per_second * SECONDS_PER_MONTH)
    return reservoir + fixed_rate * (requests - reservoir)


@dataclass(frozen=True)
class Measured:
    """What `bench_cost` measures in one run, per prediction, per drift check and per training run."""

    predict: FunctionProfile
    drift: FunctionProfile
    training_steps: tuple[FunctionProfile, ...]  # every invocation of one run, per function
    training_transitions: int  # Step Functions state transitions of one run
    training_s3_puts: int  # objects one run writes
    training_bytes_stored: int  # bytes one run leaves in S3 (kept)
    drift_s3_puts: int  # objects one check writes
    drift_s3_gets: int  # objects one check reads
    access_log_bytes_per_request: float
    capture_bytes_per_row: float
    alarms: int
    kms_keys: int
    custom_metrics: int
    architecture: str


@dataclass(frozen=True)
class Assumptions:
    """What is not measured, stated so a reader can change it."""

    capture_sample_rate: float = 0.1  # the deployment default (serving.capture_sample_rate)
    trace_sample_rate: float = 0.01  # the deployment default (serving.trace_sample_rate): no reservoir
    capture_max_rows: int = 1000  # a capture object holds at most this many rows ...
    capture_retention_days: float = 90.0  # ... and expires after this many days
    alias_cache_seconds: float = 30.0  # the predict function reads the aliases this often per container
    dynamodb_reads_per_alias_refresh: float = 1.0  # one Query of a model's alias items (< 4 KB)
    dynamodb_writes_per_training_run: float = 20.0  # run record, candidates, version, alias, audit
    dynamodb_writes_per_drift_check: float = 2.0  # the summary row and the check marker
    dynamodb_reads_per_drift_check: float = 5.0
    s3_gets_per_training_put: float = 2.0  # each artifact is read about twice by later steps
    # Lambda does not document how long an execution environment lives: assume each environment the
    # traffic needs is replaced (so, with SnapStart, restored) four times an hour, and that every
    # prediction is a restore while traffic is sparser than that.
    restores_per_environment_hour: float = 4.0
    snapstart_cached_versions: float = 1.0  # the `live` alias's version; delete the ones deploys leave


# Front doors, by their `serving.front_door` setting.
FUNCTION_URL, HTTP_API, REST_API = "function_url", "http", "rest"
FRONT_DOOR_NAMES = {
    FUNCTION_URL: "Lambda function URL (IAM)",
    HTTP_API: "API Gateway HTTP API",
    REST_API: "API Gateway REST API",
}
# X-Ray traces of the prediction path: a fixed share (the REST stage's sampling rule), none (an HTTP
# API does not trace; a function URL passes a client's decision through, and clients send none), or
# Lambda's own sampling of requests with no upstream decision (the first each second, then 5 %).
TRACED_BY_STAGE_RULE, NOT_TRACED, TRACED_BY_LAMBDA = "stage rule", "none", "Lambda's default sampling"


@dataclass(frozen=True)
class Deployment:
    """The settings a month's bill depends on beyond what the run measures; `None` takes the measured
    figure. The default is the platform as deployed by default (issue #21)."""

    front_door: str = FUNCTION_URL
    tracing: str | None = None  # None: what the front door does (above)
    provisioned_environments: int = 0  # predict environments kept initialized all month
    snapstart: bool = False  # predict environments restored from a cached snapshot instead of initialized
    predict_log_bytes: float | None = None  # per invocation, the predict function's own lines
    access_log_bytes: float | None = None  # per request, the REST stage's access-log line (REST only)
    custom_metrics: int | None = None  # distinct metrics emitted while traffic flows
    alarms: int | None = None
    metrics_while_idle: bool = False  # before issue #21 the drift checks emitted them with no traffic

    def __post_init__(self) -> None:
        if self.front_door not in FRONT_DOOR_NAMES:
            raise ValueError(f"unknown front door {self.front_door!r}: one of {', '.join(FRONT_DOOR_NAMES)}")
        if self.snapstart and self.provisioned_environments:
            # "SnapStart does not support provisioned concurrency" (https://docs.aws.amazon.com/lambda/
            # latest/dg/snapstart.html, "Supported features and limitations"): Lambda refuses the pair.
            raise ValueError("SnapStart and provisioned concurrency cannot be combined on one function")

    @property
    def traced_by(self) -> str:
        if self.tracing is not None:
            return self.tracing
        return TRACED_BY_STAGE_RULE if self.front_door == REST_API else NOT_TRACED


# The platform before issue #21, priced from the same run's measured durations: the REST API with its
# access log, X-Ray by Lambda's default sampling, 43 custom metrics (one drift score per feature),
# 20 alarms, 698 bytes of predict log lines an invocation (text START/END/REPORT lines and the
# per-request metrics' EMF document, measured on main before the log levers) and a 255-byte access-log
# line a request (the standard-fields line, measured by `bench cost` before it was trimmed).
BEFORE_ISSUE_21 = Deployment(
    front_door=REST_API,
    tracing=TRACED_BY_LAMBDA,
    predict_log_bytes=698.0,
    access_log_bytes=255.0,
    custom_metrics=43,
    alarms=20,
    metrics_while_idle=True,
)


@dataclass
class Breakdown:
    """Monthly dollars by line; `total` sums them."""

    lines: dict[str, float] = field(default_factory=dict)

    def add(self, line: str, dollars: float) -> None:
        self.lines[line] = self.lines.get(line, 0.0) + dollars

    @property
    def total(self) -> float:
        return sum(self.lines.values())


PREDICT_LAMBDA = "predict Lambda"
FRONT_DOOR = "front door requests"
LOGS = "CloudWatch Logs ingestion (predict function + access log)"
XRAY = "X-Ray traces"
PROVISIONED = "provisioned concurrency (environments kept warm)"
SNAPSTART = "SnapStart (snapshot cached, environments restored)"
METRICS = "CloudWatch custom metrics"
ALARMS = "CloudWatch alarms"
KEYS = "KMS customer-managed keys"


def front_door_per_request(front_door: str, prices: Prices) -> float:
    return {
        FUNCTION_URL: prices.function_url_per_request,
        HTTP_API: prices.api_gateway_http_per_request,
        REST_API: prices.api_gateway_rest_per_request,
    }[front_door]


def predictions_cost(
    m: Measured,
    predictions: float,
    prices: Prices = Prices(),
    a: Assumptions = Assumptions(),
    d: Deployment = Deployment(),
) -> Breakdown:
    """One month of `predictions` single-row requests through the deployment's front door."""
    b = Breakdown()
    p = m.predict
    b.add(PREDICT_LAMBDA, _predict_lambda(m, predictions, prices, d))
    if d.provisioned_environments:
        warm_gb_seconds = d.provisioned_environments * p.memory_mb / 1024.0 * SECONDS_PER_MONTH
        b.add(PROVISIONED, warm_gb_seconds * prices.lambda_provisioned_gb_second_arm64)
    if d.snapstart:
        b.add(SNAPSTART, snapstart_cost(m, predictions, prices, a))
    b.add(FRONT_DOOR, predictions * front_door_per_request(d.front_door, prices))
    access_log = 0.0
    if d.front_door == REST_API:
        access_log = m.access_log_bytes_per_request if d.access_log_bytes is None else d.access_log_bytes
    predict_log = p.log_bytes_per_invocation if d.predict_log_bytes is None else d.predict_log_bytes
    b.add(LOGS, predictions * (predict_log + access_log) / GB * prices.logs_per_gb_ingested)
    traces = {
        TRACED_BY_STAGE_RULE: predictions * a.trace_sample_rate,
        NOT_TRACED: 0.0,
        TRACED_BY_LAMBDA: xray_traces(predictions),
    }[d.traced_by]
    b.add(XRAY, traces * prices.xray_per_trace)
    captured_rows = predictions * a.capture_sample_rate
    # a capture object is written when it holds capture_max_rows rows or is a minute old: at low
    # traffic about one object a minute, at high traffic one per capture_max_rows rows
    capture_puts = max(captured_rows / a.capture_max_rows, min(captured_rows, MINUTES_PER_MONTH))
    b.add("S3 capture writes", capture_puts * prices.s3_per_put)
    stored_gb = captured_rows * m.capture_bytes_per_row * (a.capture_retention_days / 30.0) / GB
    b.add("S3 capture storage (steady state)", stored_gb * prices.s3_per_gb_month)
    # the predict path caches aliases: one read per container per alias_cache_seconds
    containers = environments(m, predictions)
    alias_reads = containers * SECONDS_PER_MONTH / a.alias_cache_seconds * a.dynamodb_reads_per_alias_refresh
    b.add("DynamoDB alias reads", alias_reads * prices.dynamodb_per_read_unit)
    # CloudWatch prorates a custom metric by the hours it is emitted: nothing emitted while idle
    if not d.metrics_while_idle:
        b.add(METRICS, (_metrics(m, d) if predictions > 0 else 0) * prices.cloudwatch_metric_month)
    return b


def environments(m: Measured, predictions: float) -> float:
    """Predict environments a month's traffic keeps busy at once, evenly spread (one at least)."""
    return max(1.0, math.ceil(predictions / SECONDS_PER_MONTH * m.predict.mean_billed_ms / 1000.0))


def snapstart_cost(m: Measured, predictions: float, prices: Prices = Prices(), a: Assumptions = Assumptions()) -> float:
    """The snapshot cached all month (per version) and one restore per environment started. Not credited:
    the init duration a restore saves, which this model does not price on demand either (its durations
    are warm invocations'); SnapStart is a latency purchase, never a saving here."""
    gb = m.predict.memory_mb / 1024.0
    cache = a.snapstart_cached_versions * gb * SECONDS_PER_MONTH * prices.lambda_snapstart_cache_gb_second
    restores = min(predictions, environments(m, predictions) * HOURS_PER_MONTH * a.restores_per_environment_hour)
    return cache + restores * gb * prices.lambda_snapstart_restore_gb


def _metrics(m: Measured, d: Deployment) -> int:
    return m.custom_metrics if d.custom_metrics is None else d.custom_metrics


def _predict_lambda(m: Measured, predictions: float, prices: Prices, d: Deployment) -> float:
    """Requests plus duration; with provisioned environments the invocations they can serve (each
    busy all month at most) are billed at the provisioned duration price, the rest on demand."""
    p = m.predict
    gb_seconds = p.memory_mb / 1024.0 * p.mean_billed_ms / 1000.0 * predictions
    requests = predictions * prices.lambda_per_request
    if not d.provisioned_environments:
        return gb_seconds * prices.lambda_gb_second(p.architecture) + requests
    if p.architecture != "arm64":
        raise ValueError("provisioned concurrency is priced for arm64 only")
    warm_capacity = d.provisioned_environments * p.memory_mb / 1024.0 * SECONDS_PER_MONTH
    warm = min(gb_seconds, warm_capacity)
    return (
        warm * prices.lambda_provisioned_duration_gb_second_arm64
        + (gb_seconds - warm) * prices.lambda_gb_second(p.architecture)
        + requests
    )


def drift_cost(m: Measured, checks: float, prices: Prices = Prices(), a: Assumptions = Assumptions()) -> Breakdown:
    """`checks` drift checks of one model in a month (hourly: 730)."""
    b = Breakdown()
    d = m.drift
    b.add("drift Lambda", lambda_cost(d.memory_mb, d.mean_billed_ms * checks, checks, d.architecture, prices))
    b.add("drift logs", checks * d.log_bytes_per_invocation / GB * prices.logs_per_gb_ingested)
    b.add("drift S3 requests", checks * (m.drift_s3_puts * prices.s3_per_put + m.drift_s3_gets * prices.s3_per_get))
    b.add(
        "drift DynamoDB",
        checks
        * (
            a.dynamodb_writes_per_drift_check * prices.dynamodb_per_write_unit
            + a.dynamodb_reads_per_drift_check * prices.dynamodb_per_read_unit
        ),
    )
    b.add("X-Ray traces (drift)", xray_traces(checks) * prices.xray_per_trace)
    return b


def training_cost(m: Measured, runs: float, prices: Prices = Prices(), a: Assumptions = Assumptions()) -> Breakdown:
    """`runs` training runs in a month (weekly: 730 / 168 = 4.35), each like the measured one; the
    storage line is the artifacts of this month's runs (they are kept, so it grows month by month)."""
    b = Breakdown()
    for step in m.training_steps:
        invocations = len(step.billed_ms) * runs
        b.add(
            "training Lambda",
            lambda_cost(step.memory_mb, step.total_billed_ms * runs, invocations, step.architecture, prices),
        )
        b.add("training logs", invocations * step.log_bytes_per_invocation / GB * prices.logs_per_gb_ingested)
    b.add("Step Functions transitions", runs * m.training_transitions * prices.step_functions_per_transition)
    puts = runs * m.training_s3_puts
    b.add("training S3 requests", puts * prices.s3_per_put + puts * a.s3_gets_per_training_put * prices.s3_per_get)
    b.add("training S3 storage (this month's runs)", runs * m.training_bytes_stored / GB * prices.s3_per_gb_month)
    b.add("training DynamoDB", runs * a.dynamodb_writes_per_training_run * prices.dynamodb_per_write_unit)
    return b


def fixed_cost(m: Measured, prices: Prices = Prices(), d: Deployment = Deployment()) -> Breakdown:
    """What the stack costs every month whether or not it is used: an idle month's bill."""
    b = Breakdown()
    b.add(ALARMS, (m.alarms if d.alarms is None else d.alarms) * prices.cloudwatch_alarm_month)
    b.add(KEYS, m.kms_keys * prices.kms_key_month)
    if d.metrics_while_idle:
        b.add(METRICS, _metrics(m, d) * prices.cloudwatch_metric_month)
    return b


def platform_cost(
    m: Measured,
    predictions: float,
    *,
    drift_checks: float = HOURS_PER_MONTH,
    training_runs: float = WEEKS_PER_MONTH,
    prices: Prices = Prices(),
    a: Assumptions = Assumptions(),
    d: Deployment = Deployment(),
) -> Breakdown:
    """The whole platform for one model: fixed costs, predictions, hourly drift, weekly training."""
    b = Breakdown()
    for part in (
        fixed_cost(m, prices, d),
        predictions_cost(m, predictions, prices, a, d),
        drift_cost(m, drift_checks, prices, a),
        training_cost(m, training_runs, prices, a),
    ):
        for line, dollars in part.lines.items():
            b.add(line, dollars)
    return b


def crossover(cheaper_above: Callable[[float], float], low: float = 1.0, high: float = 1e10) -> float | None:
    """The monthly prediction volume at which `cheaper_above(volume)` (a difference in dollars that
    falls as volume grows) reaches zero, by bisection on a log scale; None when it never does
    between `low` and `high` (or already has at `low`)."""
    if cheaper_above(low) <= 0 or cheaper_above(high) > 0:
        return None
    for _ in range(200):
        middle = math.sqrt(low * high)
        if cheaper_above(middle) > 0:
            low = middle
        else:
            high = middle
    return high


def warm_capacity(m: Measured, environments: int) -> float:
    """Predictions a month `environments` warm environments can serve, each busy all month."""
    return environments * SECONDS_PER_MONTH / max(m.predict.mean_billed_ms / 1000.0, 1e-9)


def sagemaker_always_on(hourly: float, hours: float = HOURS_PER_MONTH) -> float:
    """A real-time endpoint of one instance, on all month."""
    return hourly * hours
