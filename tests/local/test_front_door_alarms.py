"""A prediction client meets failing or slow answers at the default front door, the predict function URL,
and the team hears of it: the URL's 5xx-share and p99-latency alarms (issue #21) reach the alerts topic.

The local cloud publishes the URL metrics Lambda publishes (`Url5xxCount`, `UrlRequestLatency` in
`AWS/Lambda` by `FunctionName`; tests/localcloud/test_function_url_metrics.py cites where) and evaluates
the stack's alarms from them as CloudWatch does. No model is trained: a prediction for a model the
registry does not know is a 404 in the platform's error shape, enough traffic to watch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from tests.local.conftest import FrontDoor, front_door

START = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)  # the cloud's clock: half a minute into a 5-minute period
Served = tuple[LocalCloud, DeployedStack, FrontDoor]
ROWS = [{"mean_radius": 14.0}]


@pytest.fixture
def served(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Served]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl", start=START) as cloud:
        stack = cloud.deploy(platform_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="ml-team@example.com"
        )
        yield cloud, stack, front_door(cloud, stack)


def _alarm_name(metric: str) -> str:
    [alarm] = [a for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"] if a["MetricName"] == metric]
    return str(alarm["AlarmName"])


def _evaluate(cloud: LocalCloud, alarm: str, ahead: timedelta) -> str:
    """CloudWatch's next evaluation, `ahead` of the cloud's clock so that the current period is complete."""
    cloud.evaluate_alarms(cloud.clock.now() + ahead)
    [found] = boto3.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    return str(found["StateValue"])


def _mail_about(cloud: LocalCloud, alarm: str) -> list[Any]:
    return [m for m in cloud.inbox.messages() if alarm in m.subject + m.body]


def test_5xx_answers_at_the_function_url_alarm_and_mail_the_team(served: Served) -> None:
    cloud, stack, door = served
    alarm = _alarm_name("Url5xxCount")
    # client errors are not server errors: 20 predictions for an unknown model, all 404
    statuses = {door.post("/v1/models/no-such-model/predict", {"instances": ROWS})[0] for _ in range(20)}
    assert statuses == {404}
    assert _evaluate(cloud, alarm, timedelta(minutes=5)) == "OK"
    # the registry table is gone (a teardown begun by mistake, protection lifted first): predictions fail
    dynamodb, table = boto3.client("dynamodb"), stack.outputs["RegistryTableName"]
    dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=table)
    failed = [door.post("/v1/models/no-such-model/predict", {"instances": ROWS})[0] for _ in range(3)]
    assert all(status >= 500 for status in failed), failed
    assert _evaluate(cloud, alarm, timedelta(minutes=5)) == "ALARM"  # 3 of 23 answers, 13 %: over 5 %
    assert _mail_about(cloud, alarm), "the alerts topic got no notification"


def test_slow_answers_in_two_of_three_periods_alarm_on_p99_latency(served: Served) -> None:
    cloud, _, door = served
    alarm = _alarm_name("UrlRequestLatency")
    url = cloud.function_urls[door.deployed]
    invoke = url.invoker

    def slow_function(function_arn: str, event: bytes) -> tuple[bytes, bool]:
        """The predict function answering after 2.1 s (a slow dependency), past the 2 s level."""
        time.sleep(2.1)
        return invoke(function_arn, event)

    url.invoker = slow_function
    assert door.post("/v1/models/no-such-model/predict", {"instances": ROWS})[0] == 404
    assert _evaluate(cloud, alarm, timedelta(minutes=5)) != "ALARM"  # one slow period of the three
    cloud.clock.advance(timedelta(minutes=5))
    assert door.post("/v1/models/no-such-model/predict", {"instances": ROWS})[0] == 404
    assert _evaluate(cloud, alarm, timedelta(minutes=5)) == "ALARM"
    assert _mail_about(cloud, alarm), "the alerts topic got no notification"
