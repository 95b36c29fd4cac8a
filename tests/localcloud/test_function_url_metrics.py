"""The metrics Lambda publishes for a function URL, published by the local one, and alarms on them that
reach the topic: what watches predictions under the platform's default front door (issue #21).

AWS behaviour emulated, and where it is documented: Lambda publishes `UrlRequestCount`, `Url4xxCount`,
`Url5xxCount` (view with Sum) and `UrlRequestLatency` (the time from the URL receiving a request to
returning the answer) in `AWS/Lambda`, by `FunctionName` (the URLs of $LATEST and of every alias),
`Resource` (`name:$LATEST` or `name:alias`) and `ExecutedVersion`
(https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html). They are invocation metrics, which
Lambda sends as binary indicators, 1 or 0 for each request
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): the Average of
`Url5xxCount` is the share of 5xx answers. Not verified against AWS: that the URL's own refusals (403
unsigned, 413) count in `Url4xxCount` (the page says "requests that returned a 4XX HTTP status code").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.cloudwatch.models import cloudwatch_backends

from localcloud.cloud import LocalCloud
from localcloud.cloudwatch import Dimension
from localcloud.cloudwatch.statistics import matching_datums
from localcloud.deploy import DeployedStack

Cloud = tuple[LocalCloud, DeployedStack]
OPERATOR = Credentials("testing", "testing")


def _call(base: str, path: str, *, signed: bool = True) -> int:
    """One GET to the served URL, SigV4-signed for service `lambda` unless `signed` is False."""
    url = base + path
    headers: dict[str, str] = {}
    if signed:
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(OPERATOR, "lambda", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    return requests.get(url, headers=headers, timeout=30).status_code


def _sum(name: str, dimensions: list[Dimension]) -> float:
    """The series' sum, matched on its exact dimension set as CloudWatch matches an alarm's metric."""
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    return sum(float(d.value) for _, d in matching_datums(backend, "AWS/Lambda", name, dimensions, None))


def _alarm(name: str, stack: DeployedStack, **metric: Any) -> None:
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        Dimensions=[{"Name": "FunctionName", "Value": stack.function_name("UrlHandler")}],
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[stack.outputs["TopicArn"]],
        **metric,
    )


def _evaluate(cloud: LocalCloud, alarm: str) -> str | None:
    """CloudWatch's next evaluation, with the current minute counted as complete: the state `alarm`
    moved to, or None when it stayed (the probe stack's own alarms are left out)."""
    transitions = cloud.evaluate_alarms(cloud.clock.now() + timedelta(minutes=1))
    return next((t.new_state for t in transitions if t.alarm_name == alarm), None)


def test_every_answer_counts_once_by_its_status_class(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    base = cloud.serve_function_url(stack.outputs["FunctionUrl"]).url
    statuses = [
        _call(base, "echo"),
        _call(base, "string"),
        _call(base, "echo", signed=False),
        _call(base, "fail"),
        _call(base, "unavailable"),
    ]
    assert statuses == [201, 200, 403, 502, 503]
    name = stack.function_name("UrlHandler")
    by_function: list[Dimension] = [{"Name": "FunctionName", "Value": name}]
    by_url: list[Dimension] = [*by_function, {"Name": "Resource", "Value": f"{name}:$LATEST"}]
    for dimensions in (by_function, by_url):
        counts = {m: _sum(m, dimensions) for m in ("UrlRequestCount", "Url4xxCount", "Url5xxCount")}
        assert counts == {"UrlRequestCount": 5, "Url4xxCount": 1, "Url5xxCount": 2}, dimensions
    # No aggregate across functions: the page lists no such dimension set for the URL metrics.
    assert _sum("UrlRequestCount", []) == 0


def test_a_share_of_5xx_answers_over_the_level_alarms_and_notifies(probe_cloud: Cloud) -> None:
    """A 503 the function answers without raising (no Errors, no Invocations error) still alarms: the
    Average of Url5xxCount is the share of 5xx answers, one alarm metric."""
    cloud, stack = probe_cloud
    base = cloud.serve_function_url(stack.outputs["FunctionUrl"]).url
    _alarm("UrlServerErrors", stack, MetricName="Url5xxCount", Statistic="Average", Period=300, Threshold=0.05)
    assert {_call(base, "echo") for _ in range(20)} == {201}
    assert _evaluate(cloud, "UrlServerErrors") == "OK"

    assert _call(base, "unavailable") == 503  # 1 of 21 answers: 4.8 %, under 5 %
    assert _evaluate(cloud, "UrlServerErrors") is None
    assert _call(base, "unavailable") == 503  # 2 of 22: 9.1 %
    assert _evaluate(cloud, "UrlServerErrors") == "ALARM"
    assert any("UrlServerErrors" in m.subject for m in cloud.inbox.messages())


def test_slow_answers_raise_the_p99_latency_alarm(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    base = cloud.serve_function_url(stack.outputs["FunctionUrl"]).url
    _alarm("UrlLatencyP99", stack, MetricName="UrlRequestLatency", ExtendedStatistic="p99", Period=60, Threshold=200)
    assert _call(base, "echo") == 201
    assert _evaluate(cloud, "UrlLatencyP99") == "OK"

    assert _call(base, "slow?ms=300") == 201
    assert _evaluate(cloud, "UrlLatencyP99") == "ALARM"
    assert any("UrlLatencyP99" in m.subject for m in cloud.inbox.messages())
