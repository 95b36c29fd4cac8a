"""The local cloud runs on one clock (issue #19's "labels days later"): after the clock moves, a
function, an object it writes, a metric it emits and the schedules all see the moved time, as they
share one time on AWS; and when the cloud stops, the process has its real time back."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from localcloud.clock import CloudClock
from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack
from tests.localcloud.conftest import START

Cloud = tuple[LocalCloud, DeployedStack]


def test_three_days_later_functions_objects_metrics_and_schedules_share_the_moved_time(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    assert abs(datetime.now(UTC) - START) < timedelta(minutes=1)  # the test itself reads the cloud's time

    firings = cloud.advance_clock(timedelta(days=3))

    # EventBridge runs a rate rule at regular intervals
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html): once
    # per five minutes crossed, each at its own time, not all at the end of the jump.
    assert len(firings) == 3 * 24 * 12
    times = [f.scheduled_time for f in firings]
    assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(minutes=5)}
    ticks = boto3.client("dynamodb").get_item(TableName=stack.outputs["TableName"], Key={"pk": {"S": "ticks"}})["Item"]
    assert ticks["n"] == {"N": str(len(firings))}
    # The last tick's handler ran at its event's time (within the seconds the run took), three days on.
    event_time = datetime.fromisoformat(ticks["event_time"]["S"].replace("Z", "+00:00"))
    ran_at = datetime.fromisoformat(ticks["ran_at"]["S"])
    assert event_time == times[-1] and timedelta(0) <= ran_at - event_time < timedelta(seconds=30)
    # (the rule's grid starts when the scheduler first saw it: at the deploy, a second or so after START)
    assert START + timedelta(days=3) <= event_time < START + timedelta(days=3, minutes=1)

    # A function's object carries the moved time, as does the metric it emits and the alarm it raises.
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.outputs["BucketName"], Key="in/later.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=stack.outputs["BucketName"], Key="in/fail-later.csv", Body=b"x")
    cloud.settle()
    now = datetime.now(UTC)
    written = s3.head_object(Bucket=stack.outputs["BucketName"], Key="out/later.csv.seen")["LastModified"]
    assert now - timedelta(minutes=1) < written <= now and written > START + timedelta(days=3)
    uploads = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="Probe",
        MetricName="Uploads",
        Dimensions=[{"Name": "Probe", "Value": "probe"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in uploads) == 1
    [transition] = cloud.evaluate_alarms(now + timedelta(minutes=1))
    assert transition.new_state == "ALARM" and transition.timestamp > START + timedelta(days=3)


def test_the_clock_only_moves_forward(probe_cloud: Cloud) -> None:
    cloud, _ = probe_cloud
    with pytest.raises(ValueError, match="only moves forward"):
        cloud.advance_clock(timedelta(minutes=-1))
    assert abs(datetime.now(UTC) - START) < timedelta(minutes=1)


def test_moved_time_does_not_outlive_the_cloud(tmp_path: Any) -> None:
    real = datetime.now(UTC)
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl", start=datetime(2020, 2, 28, tzinfo=UTC)) as cloud:
        assert datetime.now(UTC).date().isoformat() == "2020-02-28"
        cloud.advance_clock(timedelta(days=2))
        assert time.strftime("%Y-%m-%d", time.gmtime()) == "2020-03-01"  # 2020 is a leap year
    after = datetime.now(UTC)
    assert real <= after < real + timedelta(minutes=5)
    assert abs(time.time() - after.timestamp()) < 60


def test_a_faster_clock_runs_every_reader_faster_and_never_back() -> None:
    clock = CloudClock(datetime(2026, 1, 1, tzinfo=UTC), speed=3600).start()  # an hour a second
    try:
        readings = []
        for _ in range(5):
            time.sleep(0.05)
            readings.append((clock.now(), datetime.now(UTC)))
        assert all(a[0] <= b[0] for a, b in itertools.pairwise(readings))
        assert readings[-1][0] - readings[0][0] >= timedelta(minutes=10)  # 0.2 s of real time at 3600x
        assert all(abs(ours - process) < timedelta(seconds=1) for ours, process in readings)
    finally:
        clock.stop()
    with pytest.raises(ValueError, match="positive"):
        CloudClock(speed=0)
