"""The alarms in the synthesized template (issue #21): every function covered by one pair of alarms
on Lambda's region-wide aggregates instead of a pair per function, and what the alarms cost."""

from __future__ import annotations

import json
from typing import Any

from tests.infra import template_queries as tq

# CloudWatch bills a standard-resolution alarm per metric it watches, $0.10 a month each ("10 Alarm
# metrics" in the free tier, "only applicable to Standard resolution alarms that list metrics
# directly and don't use a Metrics Insights query": https://aws.amazon.com/cloudwatch/pricing/). A
# metric-math alarm over N functions' Errors is N alarm metrics, so summing per-function metrics
# saves nothing; the dimensionless aggregate is one metric for every function.
ALARMS_BEFORE = 28  # 8 functions x (Errors + Throttles) + 12 others, before issue #21's alarm lever
ALARMS_NOW = 14


def _alarms(template: dict[str, Any]) -> tq.Resources:
    return {k: v["Properties"] for k, v in tq.resources(template, "AWS::CloudWatch::Alarm").items()}


def test_one_pair_of_alarms_covers_every_function(platform_template: dict[str, Any]) -> None:
    """Lambda publishes Errors and Throttles across all functions of the account and region with no
    dimension ("Across All Functions" in the console; https://docs.aws.amazon.com/lambda/latest/dg/
    monitoring-metrics-types.html): an alarm on it notices an error in any function, one added
    later included, for $0.10."""
    topic = {"Ref": tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")}
    alarms = _alarms(platform_template)
    lambda_alarms = {p["MetricName"]: p for p in alarms.values() if p.get("Namespace") == "AWS/Lambda"}
    assert set(lambda_alarms) == {"Errors", "Throttles"}
    for props in lambda_alarms.values():
        assert "Dimensions" not in props or props["Dimensions"] == []
        assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 60, 1)
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]


def test_no_alarm_is_made_per_function(platform_template: dict[str, Any]) -> None:
    per_function = [
        logical
        for logical, props in _alarms(platform_template).items()
        if any(d.get("Name") == "FunctionName" for d in props.get("Dimensions", []))
    ]
    assert per_function == []


def test_the_dashboard_says_which_function_failed(platform_template: dict[str, Any]) -> None:
    """The aggregate alarm does not name the function; the dashboard's errors by function does."""
    (dashboard,) = tq.resources(platform_template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Errors by function" in body
    for prefix in ("ServingPredict", "DriftChecker", "PerformanceChecker", "IngestionIngest"):
        function = tq.logical(platform_template, "AWS::Lambda::Function", prefix)
        assert function in body, prefix


def test_the_alarm_bill_is_half_what_it_was(platform_template: dict[str, Any]) -> None:
    assert len(_alarms(platform_template)) == ALARMS_NOW < ALARMS_BEFORE
