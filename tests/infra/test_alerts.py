"""The alarms in the synthesized template (issue #21): every function covered by one pair of alarms
on Lambda's region-wide aggregates instead of a pair per function, predictions watched at the front
door their clients call, and what the alarms cost."""

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
ALARMS_NOW = 14  # under either front door: each has its own pair of "what a prediction client sees" alarms
# The REST API alarms' levels, which the function URL's alarms share (infra/constructs/alerts.py).
FIVE_XX_SHARE, P99_MS = 0.05, 2000


def _alarms(template: dict[str, Any]) -> tq.Resources:
    return {k: v["Properties"] for k, v in tq.resources(template, "AWS::CloudWatch::Alarm").items()}


def test_one_pair_of_alarms_covers_every_function(platform_template: dict[str, Any]) -> None:
    """Lambda publishes Errors and Throttles across all functions of the account and region with no
    dimension ("Across All Functions" in the console; https://docs.aws.amazon.com/lambda/latest/dg/
    monitoring-metrics-types.html): an alarm on it notices an error in any function, one added
    later included, for $0.10."""
    topic = {"Ref": tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")}
    alarms = _alarms(platform_template)
    lambda_alarms = {
        p["MetricName"]: p
        for p in alarms.values()
        if p.get("Namespace") == "AWS/Lambda" and not p["MetricName"].startswith("Url")
    }
    assert set(lambda_alarms) == {"Errors", "Throttles"}
    for props in lambda_alarms.values():
        assert "Dimensions" not in props or props["Dimensions"] == []
        assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 60, 1)
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]


def test_no_alarm_is_made_per_function(platform_template: dict[str, Any]) -> None:
    """Only the predict function URL's two alarms name a function: Lambda publishes the URL metrics by
    FunctionName, Resource and ExecutedVersion, with no aggregate across functions."""
    per_function = {
        props["MetricName"]
        for props in _alarms(platform_template).values()
        if any(d.get("Name") == "FunctionName" for d in props.get("Dimensions", []))
    }
    assert per_function == {"Url5xxCount", "UrlRequestLatency"}


def test_predictions_through_the_function_url_alarm_on_5xx_share_and_p99_latency(
    platform_template: dict[str, Any],
) -> None:
    """Under the default front door a prediction never reaches the REST API, so its 5XXError and Latency
    would see registry and health calls only. The URL's metrics are in AWS/Lambda by FunctionName (all
    URLs of the function's $LATEST and aliases; https://docs.aws.amazon.com/lambda/latest/dg/
    urls-monitoring.html). Url5xxCount is an invocation metric, 0 or 1 per request
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), so its Average is the
    5xx share for one alarm metric; UrlRequestLatency's p99 over 2 of 3 five-minute periods."""
    topic = {"Ref": tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")}
    predict = {"Ref": tq.logical(platform_template, "AWS::Lambda::Function", "ServingPredict")}
    by_metric = {p["MetricName"]: p for p in _alarms(platform_template).values() if p.get("Namespace") == "AWS/Lambda"}
    errors, latency = by_metric["Url5xxCount"], by_metric["UrlRequestLatency"]
    for props in (errors, latency):
        assert props["Dimensions"] == [{"Name": "FunctionName", "Value": predict}]
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["Period"] == 300
        assert "Metrics" not in props  # one metric each: no metric math billed per metric it reads
    assert (errors["Statistic"], errors["Threshold"], errors["EvaluationPeriods"]) == ("Average", FIVE_XX_SHARE, 1)
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", P99_MS)
    assert (latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) == (3, 2)
    assert not [p for p in _alarms(platform_template).values() if p.get("Namespace") == "AWS/ApiGateway"]


def test_the_rest_front_door_keeps_the_api_alarms_and_makes_no_url_alarm(rest_template: dict[str, Any]) -> None:
    by_metric = {(p.get("Namespace"), p["MetricName"]): p for p in _alarms(rest_template).values() if "MetricName" in p}
    errors, latency = by_metric[("AWS/ApiGateway", "5XXError")], by_metric[("AWS/ApiGateway", "Latency")]
    assert (errors["Statistic"], errors["Threshold"]) == ("Average", FIVE_XX_SHARE)
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", P99_MS)
    assert not [key for key in by_metric if key[1].startswith("Url")]
    assert len(_alarms(rest_template)) == ALARMS_NOW


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
