"""What an invocation leaves behind: its log lines in the function's log group, and its metrics.

Lambda writes its platform lines (START/END/REPORT, or JSON records) and whatever the handler prints
to the function's log group, filtered by the function's LoggingConfig (`logging_config`),
CloudWatch Logs extracts the metrics of Powertools' EMF lines, and Lambda publishes AWS/Lambda
Invocations, Errors, Duration (and DeadLetterErrors, and its function URLs' metrics) itself; locally
all of it is done here.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaFunction

from localcloud.cloudwatch import Dimension, MetricDatum, metrics_from_emf_lines
from localcloud.lambda_.logging_config import LoggingConfig
from localcloud.lambda_.runtime_state import runtime

log = logging.getLogger(__name__)


def logging_config(fn: LambdaFunction) -> LoggingConfig:
    """The function's LoggingConfig as the template set it (moto keeps none): Text by default."""
    extras = runtime.supplements.get(fn.function_name)
    return extras.logging if extras else LoggingConfig()


def unhandled_error_lines(config: LoggingConfig, error: dict[str, Any]) -> str:
    """What the Python runtime prints for a handler's unhandled exception: a text `[ERROR]` line and
    its traceback, or with the JSON format one record at level ERROR (so an application log level
    up to ERROR keeps it)."""
    if config.is_json:
        record = {
            "timestamp": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
            "level": "ERROR",
            "message": error["errorMessage"],
            "errorType": error["errorType"],
            "requestId": error.get("requestId", ""),
            "stackTrace": error.get("stackTrace", []),
        }
        return json.dumps(record) + "\n"
    trace = "".join(error.get("stackTrace", []))
    return f"[ERROR] {error['errorType']}: {error['errorMessage']}\nTraceback (most recent call last):\n{trace}"


def save_logs(fn: LambdaFunction, lines: list[str]) -> None:
    extras = runtime.supplements.get(fn.function_name)
    group = (extras.log_group if extras else None) or fn.logs_group_name
    try:
        logs_backend = fn.logs_backend
        if group not in logs_backend.groups:
            logs_backend.create_log_group(group, {})
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        logs_backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines]
        if events:
            logs_backend.put_log_events(group, stream, events)
    except Exception:  # logs are a convenience; never fail an invocation over them
        log.exception("could not store logs of %s", fn.function_name)


def publish_metrics(fn: LambdaFunction, lines: list[str], duration_ms: float, errored: bool) -> None:
    """EMF documents among the lines CloudWatch Logs received (one Lambda filtered out yields no
    metric), and Lambda's own AWS/Lambda figures."""
    sink = runtime.metric_sink
    if sink is None:
        return
    for namespace, data in metrics_from_emf_lines(lines).items():
        sink(fn.account_id, fn.region, namespace, data)
    sink(fn.account_id, fn.region, "AWS/Lambda", lambda_service_metrics(fn.function_name, duration_ms, errored))


def lambda_service_metrics(function_name: str, duration_ms: float, errored: bool) -> list[MetricDatum]:
    """The AWS/Lambda metrics Lambda itself publishes for one invocation: once with the function's
    name, once with no dimension at all, the aggregate across every function of the account in the
    region that CloudWatch matches only when an alarm or query names no dimension (an alarm on
    `Errors` with no dimension watches every function)."""
    now = datetime.now(tz=UTC)
    figures = (
        ("Invocations", 1.0, "Count"),
        ("Errors", 1.0 if errored else 0.0, "Count"),
        ("Duration", duration_ms, "Milliseconds"),
    )
    by_function: list[Dimension] = [{"Name": "FunctionName", "Value": function_name}]
    return [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit, "Timestamp": now}
        for dimensions in (by_function, [])
        for name, value, unit in figures
    ]


def function_url_metrics(function_arn: str, status: int, latency_ms: float) -> list[MetricDatum]:
    """The AWS/Lambda metrics Lambda publishes for one request to a function URL
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html): `UrlRequestCount`,
    `Url4xxCount` and `Url5xxCount` as invocation metrics, 0 or 1 per request as Lambda's invocation
    metrics are (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), so their
    Sum counts and their Average is a share; `UrlRequestLatency` in milliseconds. Published by
    `FunctionName` (every URL of the function's $LATEST and aliases) and by `FunctionName` and
    `Resource` (`name:$LATEST` or `name:alias`, the one URL); not by `ExecutedVersion`, and with no
    dimensionless aggregate (the page lists none)."""
    parts = function_arn.split(":")
    name = parts[6]
    qualifier = parts[7] if len(parts) > 7 else "$LATEST"
    by_function: list[Dimension] = [{"Name": "FunctionName", "Value": name}]
    by_url: list[Dimension] = [*by_function, {"Name": "Resource", "Value": f"{name}:{qualifier}"}]
    now = datetime.now(tz=UTC)
    figures = (
        ("UrlRequestCount", 1.0, "Count"),
        ("Url4xxCount", 1.0 if 400 <= status < 500 else 0.0, "Count"),
        ("Url5xxCount", 1.0 if status >= 500 else 0.0, "Count"),
        ("UrlRequestLatency", latency_ms, "Milliseconds"),
    )
    return [
        {"MetricName": metric, "Dimensions": dimensions, "Value": value, "Unit": unit, "Timestamp": now}
        for dimensions in (by_function, by_url)
        for metric, value, unit in figures
    ]


def dead_letter_error_metrics(function_name: str) -> list[MetricDatum]:
    """Lambda's DeadLetterErrors: an async event it could not write to the function's dead-letter target."""
    dimensions: list[Dimension] = [{"Name": "FunctionName", "Value": function_name}]
    now = datetime.now(tz=UTC)
    return [
        {"MetricName": "DeadLetterErrors", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count", "Timestamp": now}
    ]
