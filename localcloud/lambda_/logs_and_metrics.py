"""What an invocation leaves behind: its log lines in the function's log group, and its metrics.

Lambda writes START/END/REPORT and whatever the handler prints to the function's log group,
CloudWatch Logs extracts the metrics of Powertools' EMF lines, and Lambda publishes AWS/Lambda
Invocations, Errors, Duration (and DeadLetterErrors) itself; locally all of it is done here.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

from moto.awslambda.models import LambdaFunction

from localcloud.cloudwatch import Dimension, MetricDatum, metrics_from_emf_lines
from localcloud.lambda_.runtime_state import runtime

log = logging.getLogger(__name__)


def save_logs(fn: LambdaFunction, output: str) -> None:
    extras = runtime.supplements.get(fn.function_name)
    group = (extras.log_group if extras else None) or fn.logs_group_name
    try:
        logs_backend = fn.logs_backend
        if group not in logs_backend.groups:
            logs_backend.create_log_group(group, {})
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        logs_backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in output.splitlines() if line.strip()]
        if events:
            logs_backend.put_log_events(group, stream, events)
    except Exception:  # logs are a convenience; never fail an invocation over them
        log.exception("could not store logs of %s", fn.function_name)


def publish_metrics(fn: LambdaFunction, output: str, duration_ms: float, errored: bool) -> None:
    sink = runtime.metric_sink
    if sink is None:
        return
    for namespace, data in metrics_from_emf_lines(output.splitlines()).items():
        sink(fn.account_id, fn.region, namespace, data)
    sink(fn.account_id, fn.region, "AWS/Lambda", lambda_service_metrics(fn.function_name, duration_ms, errored))


def lambda_service_metrics(function_name: str, duration_ms: float, errored: bool) -> list[MetricDatum]:
    """The AWS/Lambda metrics Lambda itself publishes for one invocation (what function alarms watch)."""
    now = datetime.now(tz=UTC)
    dimensions: list[Dimension] = [{"Name": "FunctionName", "Value": function_name}]
    return [
        {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count", "Timestamp": now},
        {
            "MetricName": "Errors",
            "Dimensions": dimensions,
            "Value": 1.0 if errored else 0.0,
            "Unit": "Count",
            "Timestamp": now,
        },
        {
            "MetricName": "Duration",
            "Dimensions": dimensions,
            "Value": duration_ms,
            "Unit": "Milliseconds",
            "Timestamp": now,
        },
    ]


def dead_letter_error_metrics(function_name: str) -> list[MetricDatum]:
    """Lambda's DeadLetterErrors: an async event it could not write to the function's dead-letter target."""
    dimensions: list[Dimension] = [{"Name": "FunctionName", "Value": function_name}]
    now = datetime.now(tz=UTC)
    return [
        {"MetricName": "DeadLetterErrors", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count", "Timestamp": now}
    ]
