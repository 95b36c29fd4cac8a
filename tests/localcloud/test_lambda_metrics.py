"""The AWS/Lambda metrics the local runtime publishes as Lambda does: per function and, with no
dimension, the aggregate across every function of the account and region, which an alarm naming no
dimension watches (the platform's one alarm on every function's errors, issue #21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.cloudwatch.models import cloudwatch_backends

from localcloud.cloud import LocalCloud
from localcloud.cloudwatch.statistics import matching_datums
from localcloud.deploy import DeployedStack

Cloud = tuple[LocalCloud, DeployedStack]


def _aggregate(name: str) -> float:
    """The sum of the dimensionless series, matched exactly as CloudWatch matches an alarm's metric
    (moto's GetMetricStatistics would match every series as a subset)."""
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    return sum(float(d.value) for _, d in matching_datums(backend, "AWS/Lambda", name, [], None))


def test_the_aggregate_across_functions_counts_every_function(probe_cloud: Cloud) -> None:
    """Lambda publishes Invocations, Errors and Duration with no dimension as well as by FunctionName
    ("Across All Functions" in the CloudWatch console; https://docs.aws.amazon.com/lambda/latest/dg/
    monitoring-metrics-types.html). CloudWatch matches a dimension set exactly, so the aggregate is
    a series of its own, listed as a metric without dimensions."""
    _, stack = probe_cloud
    before = (_aggregate("Invocations"), _aggregate("Errors"))
    lam = boto3.client("lambda")
    lam.invoke(FunctionName=stack.function_name("Square"), Payload=b'{"n": 3}')
    lam.invoke(FunctionName=stack.function_name("Square"), Payload=b'{"n": -3}')
    lam.invoke(FunctionName=stack.function_name("Tick"), Payload=b"{}")
    assert (_aggregate("Invocations") - before[0], _aggregate("Errors") - before[1]) == (3, 1)
    listed = boto3.client("cloudwatch").list_metrics(Namespace="AWS/Lambda", MetricName="Errors")["Metrics"]
    assert [] in [m.get("Dimensions", []) for m in listed]


def test_an_alarm_without_dimensions_fires_on_any_functions_error(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="AnyFunctionErrors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[stack.outputs["TopicArn"]],
    )
    boto3.client("lambda").invoke(FunctionName=stack.function_name("Tick"), Payload=b"{}")
    cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert _state(cloudwatch, "AnyFunctionErrors") == "OK"

    boto3.client("lambda").invoke(FunctionName=stack.function_name("Square"), Payload=b'{"n": -1}')
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert ("AnyFunctionErrors", "ALARM") in [(t.alarm_name, t.new_state) for t in transitions]
    assert any("AnyFunctionErrors" in m.subject for m in cloud.inbox.messages())


def _state(cloudwatch: Any, name: str) -> str:
    return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])
