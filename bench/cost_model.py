"""Monthly cost of the platform from measured durations, memory and counts: pure arithmetic, no AWS.

Prices are AWS list prices for us-east-1 as assumed in 2026-11, without any free tier. They change:
check https://aws.amazon.com/lambda/pricing/ and the other services' pricing pages before relying on
a figure. `bench/bench_cost.py` measures the inputs in the local cloud and feeds them here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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


@dataclass
class Breakdown:
    """Monthly dollars by line; `total` sums them."""

    lines: dict[str, float] = field(default_factory=dict)

    def add(self, line: str, dollars: float) -> None:
        self.lines[line] = self.lines.get(line, 0.0) + dollars

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def predictions_cost(
    m: Measured, predictions: float, prices: Prices = Prices(), a: Assumptions = Assumptions()
) -> Breakdown:
    """One month of `predictions` single-row requests to the predict API."""
    b = Breakdown()
    p = m.predict
    b.add(
        "predict Lambda",
        lambda_cost(p.memory_mb, p.mean_billed_ms * predictions, predictions, p.architecture, prices),
    )
    b.add("API Gateway requests", predictions * prices.api_gateway_rest_per_request)
    log_bytes = predictions * (p.log_bytes_per_invocation + m.access_log_bytes_per_request)
    b.add("CloudWatch Logs ingestion (Lambda + API access logs)", log_bytes / GB * prices.logs_per_gb_ingested)
    # the API stage's sampling rule: a fixed share of requests, no reservoir
    b.add("X-Ray traces (sampled share)", predictions * a.trace_sample_rate * prices.xray_per_trace)
    captured_rows = predictions * a.capture_sample_rate
    # a capture object is written when it holds capture_max_rows rows or is a minute old: at low
    # traffic about one object a minute, at high traffic one per capture_max_rows rows
    capture_puts = max(captured_rows / a.capture_max_rows, min(captured_rows, MINUTES_PER_MONTH))
    b.add("S3 capture writes", capture_puts * prices.s3_per_put)
    stored_gb = captured_rows * m.capture_bytes_per_row * (a.capture_retention_days / 30.0) / GB
    b.add("S3 capture storage (steady state)", stored_gb * prices.s3_per_gb_month)
    # the predict path caches aliases: one read per container per alias_cache_seconds
    containers = max(1.0, math.ceil(predictions / SECONDS_PER_MONTH * p.mean_billed_ms / 1000.0))
    alias_reads = containers * SECONDS_PER_MONTH / a.alias_cache_seconds * a.dynamodb_reads_per_alias_refresh
    b.add("DynamoDB alias reads", alias_reads * prices.dynamodb_per_read_unit)
    return b


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


def fixed_cost(m: Measured, prices: Prices = Prices()) -> Breakdown:
    """What the stack costs every month whether or not it is used."""
    b = Breakdown()
    b.add("CloudWatch alarms", m.alarms * prices.cloudwatch_alarm_month)
    b.add("KMS customer-managed keys", m.kms_keys * prices.kms_key_month)
    b.add("CloudWatch custom metrics", m.custom_metrics * prices.cloudwatch_metric_month)
    return b


def platform_cost(
    m: Measured,
    predictions: float,
    *,
    drift_checks: float = HOURS_PER_MONTH,
    training_runs: float = WEEKS_PER_MONTH,
    prices: Prices = Prices(),
    a: Assumptions = Assumptions(),
) -> Breakdown:
    """The whole platform for one model: fixed costs, predictions, hourly drift, weekly training."""
    b = Breakdown()
    for part in (
        fixed_cost(m, prices),
        predictions_cost(m, predictions, prices, a),
        drift_cost(m, drift_checks, prices, a),
        training_cost(m, training_runs, prices, a),
    ):
        for line, dollars in part.lines.items():
            b.add(line, dollars)
    return b


def sagemaker_always_on(hourly: float, hours: float = HOURS_PER_MONTH) -> float:
    """A real-time endpoint of one instance, on all month."""
    return hourly * hours
