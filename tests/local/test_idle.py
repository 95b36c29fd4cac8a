"""Idle means idle (issue #21): a champion watched for drift every hour and for outcomes, and a day
with no traffic and no labels. The schedules fire all day (24 drift checks, 24 performance runs, the
uncommitted-upload check every 15 minutes) and each says what it found, but no custom metric gets a
data point: CloudWatch bills $0.30 for each metric emitted in a month, so a platform nobody calls
costs its alarms and its key, nothing more.

The platform fixture is this test's own cloud (function-scoped), so moving its clock a day ahead
changes nothing another test sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from mlops.registry.models import ModelRegistry
from tests.local.conftest import DATASET, Platform
from tests.local.test_ground_truth import CONFIG as GROUND_TRUTH_CONFIG
from tests.local.test_ground_truth import _train

CONFIG: dict[str, Any] = {
    **GROUND_TRUTH_CONFIG,
    "monitoring": {
        "every_hours": 1,
        "drift": {"min_rows": 50},
        "performance": {"floor": {"accuracy": 0.8}, "min_labels": 10},
    },
}


def _custom_data_points(since: datetime, until: datetime) -> dict[str, float]:
    """Metric name and dimensions -> data points CloudWatch holds between the two times, for every
    metric outside the AWS/ namespaces (those are the ones billed per metric)."""
    cloudwatch = boto3.client("cloudwatch")
    found: dict[str, float] = {}
    for page in cloudwatch.get_paginator("list_metrics").paginate():
        for metric in page["Metrics"]:
            if metric["Namespace"].startswith("AWS/"):
                continue
            points = cloudwatch.get_metric_statistics(
                Namespace=metric["Namespace"],
                MetricName=metric["MetricName"],
                Dimensions=metric.get("Dimensions", []),
                StartTime=since,
                EndTime=until,
                Period=3600,
                Statistics=["SampleCount"],
            )["Datapoints"]
            if points:
                dimensions = ",".join(f"{d['Name']}={d['Value']}" for d in metric.get("Dimensions", []))
                found[f"{metric['MetricName']}[{dimensions}]"] = sum(p["SampleCount"] for p in points)
    return found


def test_a_day_without_traffic_emits_no_custom_metric(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    _train(breast_cancer_platform, "idle", CONFIG)
    registry = ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))
    # CloudWatch queries whole seconds: the window starts at the next one, after the register step's metric.
    started = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    firings = cloud.advance_clock(timedelta(days=1))

    ended = datetime.now(UTC)
    fired = {f.rule_name for f in firings}
    assert cloud.schedule_targeting("Checker") in fired and cloud.schedule_targeting("PerformanceChecker") in fired
    # The checks ran and say why nothing was judged ...
    drift = registry.drift_results(DATASET, limit=100)
    assert len(drift) == 24 and {d["status"] for d in drift} == {"insufficient_data"}
    # ... and nothing was emitted that CloudWatch would bill.
    assert _custom_data_points(started, ended) == {}
