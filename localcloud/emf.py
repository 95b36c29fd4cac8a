"""CloudWatch Embedded Metric Format: the log lines Powertools prints, turned into metric data.

On AWS, CloudWatch Logs extracts metrics from EMF lines; locally nothing does, so the Lambda runtime
hands each invocation's output to these functions and stores the result in moto's CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypedDict


class _Dimension(TypedDict):
    Name: str
    Value: str


class MetricDatum(TypedDict, total=False):
    """One `put_metric_data` entry, as boto3 takes it."""

    MetricName: str
    Dimensions: list[_Dimension]
    Value: float
    Unit: str
    Timestamp: datetime


def metrics_from_emf_lines(lines: Iterable[str]) -> dict[str, list[MetricDatum]]:
    """Metric data per namespace from every EMF document among `lines`; other lines are ignored."""
    by_namespace: dict[str, list[MetricDatum]] = {}
    for line in lines:
        document = _emf_document(line)
        if document is None:
            continue
        aws = document["_aws"]
        timestamp = datetime.fromtimestamp(float(aws.get("Timestamp", 0)) / 1000, tz=UTC)
        for directive in aws.get("CloudWatchMetrics", []):
            namespace = directive.get("Namespace")
            if not isinstance(namespace, str):
                continue
            for dimension_set in directive.get("Dimensions", []) or [[]]:
                dimensions: list[_Dimension] = [
                    {"Name": name, "Value": str(document[name])} for name in dimension_set if name in document
                ]
                for metric in directive.get("Metrics", []):
                    name = metric.get("Name")
                    if name not in document:
                        continue
                    values = document[name] if isinstance(document[name], list) else [document[name]]
                    for value in values:
                        datum: MetricDatum = {
                            "MetricName": name,
                            "Dimensions": dimensions,
                            "Value": float(value),
                            "Timestamp": timestamp,
                        }
                        if metric.get("Unit"):
                            datum["Unit"] = metric["Unit"]
                        by_namespace.setdefault(namespace, []).append(datum)
    return by_namespace


def lambda_service_metrics(function_name: str, duration_ms: float, errored: bool) -> list[MetricDatum]:
    """The AWS/Lambda metrics Lambda itself publishes for one invocation (what function alarms watch)."""
    now = datetime.now(tz=UTC)
    dimensions: list[_Dimension] = [{"Name": "FunctionName", "Value": function_name}]
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
    dimensions: list[_Dimension] = [{"Name": "FunctionName", "Value": function_name}]
    now = datetime.now(tz=UTC)
    return [
        {"MetricName": "DeadLetterErrors", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count", "Timestamp": now}
    ]


def _emf_document(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and '"_aws"' in text):
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document


def store_metric_data(account: str, region: str, namespace: str, data: list[MetricDatum]) -> None:
    """Into moto's CloudWatch as its PutMetricData API stores them: timestamps as naive UTC (an aware
    one makes moto's GetMetricStatistics fail comparing it with the request's times)."""
    from moto.cloudwatch.models import cloudwatch_backends

    stored = []
    for datum in data:
        item = dict(datum)
        stamp = item.get("Timestamp")
        if isinstance(stamp, datetime) and stamp.tzinfo is not None:
            item["Timestamp"] = stamp.astimezone(UTC).replace(tzinfo=None)
        stored.append(item)
    cloudwatch_backends[account][region].put_metric_data(namespace, stored)
