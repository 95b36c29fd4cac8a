"""Metric data into moto's CloudWatch, as PutMetricData stores it, and the metrics AWS publishes by itself.

Everything the local cloud publishes (EMF lines, Lambda's and Step Functions' service metrics, SQS
queue depth) is stored through `store_metric_data`, so alarms and `get-metric-statistics` read it back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from moto.sqs.models import sqs_backends


class Dimension(TypedDict):
    Name: str
    Value: str


class MetricDatum(TypedDict, total=False):
    """One `put_metric_data` entry, as boto3 takes it."""

    MetricName: str
    Dimensions: list[Dimension]
    Value: float
    Unit: str
    Timestamp: datetime


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


def publish_queue_metrics(account: str, region: str, now: datetime) -> None:
    """SQS's own CloudWatch metrics (AWS publishes queue depth each minute; moto never does)."""
    backend = sqs_backends[account][region]
    for queue in list(backend.queues.values()):
        dimensions: list[Any] = [{"Name": "QueueName", "Value": queue.name}]
        visible = float(queue.approximate_number_of_messages)
        store_metric_data(
            account,
            region,
            "AWS/SQS",
            [
                {
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": dimensions,
                    "Value": visible,
                    "Unit": "Count",
                    # inside the minute that has just closed: the newest period an evaluation at
                    # `now` reads (a stamp after the minute's start would only count a minute later)
                    "Timestamp": now.replace(second=0, microsecond=0) - timedelta(seconds=30),
                },
            ],
        )
