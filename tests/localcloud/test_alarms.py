"""CloudWatch alarm evaluation in the local cloud (moto stores alarms but never evaluates them).

Alarms, metric data, topics and queues are made with real boto3 calls into moto; metric data is
put at controlled timestamps and the evaluator runs at controlled "now"s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import cloudwatch, eventbridge
from localcloud import sns as sns_delivery
from localcloud.cloudwatch import AlarmEvaluator, decide

REGION = "us-east-1"
ACCOUNT = "123456789012"
# one session for the module: creating clients from it is several times cheaper than boto3.client()
SESSION = boto3.Session(region_name=REGION)
T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a period boundary


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def cw(aws: None) -> Any:
    return SESSION.client("cloudwatch")


@pytest.fixture
def sns(aws: None) -> Any:
    return SESSION.client("sns")


@pytest.fixture
def sqs(aws: None) -> Any:
    return SESSION.client("sqs")


@pytest.fixture
def evaluator(aws: None) -> AlarmEvaluator:
    return AlarmEvaluator(ACCOUNT, REGION)


@pytest.fixture
def topic_queue(sns: Any, sqs: Any) -> tuple[str, str]:
    """An SNS topic with an SQS subscriber, to read what the alarm published."""
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, url


def put(cw: Any, values: list[float], at: datetime, *, name: str = "Errors", **extra: Any) -> None:
    cw.put_metric_data(
        Namespace="App",
        MetricData=[{"MetricName": name, "Value": v, "Timestamp": at, **extra} for v in values],
    )


def state(cw: Any, name: str) -> str:
    return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def notifications(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Alarm messages that reached the queue through SNS (the SNS envelope unwrapped)."""
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            envelope = json.loads(message["Body"])
            out.append({"Subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# ----------------------------------------------------------------------------------------------
# The rules, straight from the CloudWatch guide's tables (evaluation range 5, newest on the right;
# 0 = not breaching, X = breaching, - = missing; "keep" = the alarm retains its state)
# ----------------------------------------------------------------------------------------------

AWS_TABLE_3_OF_3 = [
    ("0 - X - X", "OK", "OK", "OK", "OK"),
    ("0 - - - -", "OK", "OK", "OK", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", "keep", "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - X - -", "ALARM", "keep", "ALARM", "OK"),
]
AWS_TABLE_2_OF_3 = [
    ("0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", "OK", "OK", "ALARM", "OK"),
    ("- - X - -", "ALARM", "keep", "ALARM", "OK"),
]


def _flags(row: str) -> list[bool | None]:
    return [None if c == "-" else c == "X" for c in row.split()]


@pytest.mark.parametrize(
    ("m", "row", "expected"),
    [(3, r[0], r[1:]) for r in AWS_TABLE_3_OF_3] + [(2, r[0], r[1:]) for r in AWS_TABLE_2_OF_3],
)
def test_decide_reproduces_the_documented_tables(m: int, row: str, expected: tuple[str, ...]) -> None:
    for treatment, want in zip(("missing", "ignore", "breaching", "notBreaching"), expected, strict=True):
        decision = decide(_flags(row), evaluation_periods=3, datapoints_to_alarm=m, treat_missing=treatment)
        assert (decision.state or "keep") == want, (row, treatment)


def test_decide_premature_alarm_needs_an_old_enough_breach() -> None:
    for row in ("- - - - X", "- - - X -"):
        assert decide(_flags(row), evaluation_periods=3, datapoints_to_alarm=3).state == "OK"


# ----------------------------------------------------------------------------------------------
# End to end through moto
# ----------------------------------------------------------------------------------------------


def test_moto_alone_never_evaluates_and_has_no_history(cw: Any) -> None:
    cw.put_metric_alarm(
        AlarmName="a",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    put(cw, [5], minute(0.5))
    alarm = cw.describe_alarms()["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("OK", "Unchecked: Initial alarm creation")
    with pytest.raises(NotImplementedError):
        cw.describe_alarm_history(AlarmName="a")


def test_ok_alarm_ok_with_m_of_n_publishes_the_aws_message(
    cw: Any, sqs: Any, evaluator: AlarmEvaluator, topic_queue: tuple[str, str]
) -> None:
    topic, url = topic_queue
    cw.put_metric_alarm(
        AlarmName="errors-high",
        AlarmDescription="Too many errors",
        Namespace="App",
        MetricName="Errors",
        Dimensions=[{"Name": "Function", "Value": "predict"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    dims: dict[str, Any] = {"Dimensions": [{"Name": "Function", "Value": "predict"}]}
    put(cw, [1, 2], minute(0.2), **dims)  # 3: fine
    assert [t.new_state for t in evaluator.evaluate(minute(1))] == ["OK"]  # INSUFFICIENT_DATA -> OK
    put(cw, [4, 4], minute(1.5), **dims)  # 8: breaching, 1 of 3
    assert evaluator.evaluate(minute(2)) == []
    assert state(cw, "errors-high") == "OK"
    put(cw, [1], minute(2.5), **dims)  # 1: fine; still 1 of 3
    assert evaluator.evaluate(minute(3)) == []
    put(cw, [9], minute(3.5), **dims)  # 9: breaching, 2 of the last 3 -> ALARM
    (up,) = evaluator.evaluate(minute(4))
    assert (up.old_state, up.new_state) == ("OK", "ALARM")
    assert state(cw, "errors-high") == "ALARM"
    assert evaluator.evaluate(minute(4.5)) == []  # same complete periods: no change, no repeat
    # two quiet minutes (missing = not breaching): only 1 of the last 3 breaches -> OK
    (down,) = evaluator.evaluate(minute(6))
    assert (down.old_state, down.new_state) == ("ALARM", "OK")

    sent = notifications(sqs, url)
    assert [m["NewStateValue"] for m in sent] == ["OK", "ALARM", "OK"]
    alarm_msg = sent[1]
    assert alarm_msg["Subject"] == 'ALARM: "errors-high" in US East (N. Virginia)'
    assert list(alarm_msg) == [
        "Subject",
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "AlarmConfigurationUpdatedTimestamp",
        "NewStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "AlarmArn",
        "OldStateValue",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "Trigger",
    ]
    assert alarm_msg["AlarmName"] == "errors-high"
    assert alarm_msg["AlarmDescription"] == "Too many errors"
    assert alarm_msg["AWSAccountId"] == ACCOUNT
    assert alarm_msg["Region"] == "US East (N. Virginia)"
    assert alarm_msg["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:errors-high"
    assert alarm_msg["OldStateValue"] == "OK"
    assert alarm_msg["StateChangeTime"] == "2025-01-06T12:04:00.000+0000"
    assert alarm_msg["NewStateReason"] == (
        "Threshold Crossed: 2 out of the last 3 datapoints [9.0 (06/01/25 12:03:00), 8.0 (06/01/25 12:01:00)] "
        "were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert alarm_msg["Trigger"] == {
        "MetricName": "Errors",
        "Namespace": "App",
        "StatisticType": "Statistic",
        "Statistic": "SUM",
        "Unit": None,
        "Dimensions": [{"value": "predict", "name": "Function"}],
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 5.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }
    described = cw.describe_alarms(AlarmNames=["errors-high"])["MetricAlarms"][0]
    assert described["StateValue"] == "OK"
    assert described["StateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [9.0 (06/01/25 12:03:00)] was greater than the "
        "threshold (5.0) and 2 missing datapoints were treated as [NonBreaching] "
        "(minimum 1 datapoint for ALARM -> OK transition)."
    )
    reason_data = json.loads(described["StateReasonData"])
    assert reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2025-01-06T12:03:00.000+0000", "sampleCount": 1.0, "value": 9.0}
    ]
    assert reason_data["startDate"] == "2025-01-06T12:03:00.000+0000"


@pytest.mark.parametrize(
    ("treatment", "expected"),
    [("missing", "INSUFFICIENT_DATA"), ("breaching", "ALARM"), ("notBreaching", "OK"), ("ignore", "ALARM")],
)
def test_each_missing_data_treatment_when_data_stops(
    cw: Any, evaluator: AlarmEvaluator, treatment: str, expected: str
) -> None:
    cw.put_metric_alarm(
        AlarmName="latency",
        Namespace="App",
        MetricName="Latency",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=100,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData=treatment,
    )
    put(cw, [150, 120], minute(0), name="Latency")
    put(cw, [130], minute(1), name="Latency")
    assert [t.new_state for t in evaluator.evaluate(minute(2))] == ["ALARM"]
    # the data stops: after two empty periods every treatment has its say ("ignore" keeps ALARM)
    evaluator.evaluate(minute(4))
    assert state(cw, "latency") == expected


def test_a_wider_evaluation_range_gives_the_premature_alarm_rule(cw: Any) -> None:
    cw.put_metric_alarm(
        AlarmName="sparse",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    put(cw, [1], minute(2))  # over 12:00-12:05 that is "- - X - -"
    wide = AlarmEvaluator(ACCOUNT, REGION, extra_periods=2)
    assert [p.value for p in wide.datapoints("sparse", minute(5))] == [None, None, 1.0, None, None]
    (transition,) = wide.evaluate(minute(5))
    assert transition.new_state == "ALARM"


def test_ignore_keeps_whatever_state_the_alarm_had(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="quiet",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",
    )
    assert evaluator.evaluate(minute(1)) == []
    assert state(cw, "quiet") == "INSUFFICIENT_DATA"  # AWS's initial state (moto says OK)
    put(cw, [0], minute(1))
    assert [t.new_state for t in evaluator.evaluate(minute(2))] == ["OK"]
    assert evaluator.evaluate(minute(10)) == []
    assert state(cw, "quiet") == "OK"


def test_the_first_insufficient_data_is_not_a_transition(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="fresh",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    assert evaluator.evaluate(minute(1)) == []
    assert state(cw, "fresh") == "INSUFFICIENT_DATA"


def test_p99_alarm_computes_percentiles_that_moto_does_not(
    cw: Any, evaluator: AlarmEvaluator, sqs: Any, topic_queue: tuple[str, str]
) -> None:
    topic, url = topic_queue
    cw.put_metric_alarm(
        AlarmName="p99-latency",
        Namespace="App",
        MetricName="Latency",
        ExtendedStatistic="p99",
        Period=60,
        EvaluationPeriods=1,
        Threshold=250,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    fast = [float(v) for v in range(1, 101)]  # p99 = 99, average 50.5
    cw.put_metric_data(
        Namespace="App", MetricData=[{"MetricName": "Latency", "Values": fast, "Timestamp": minute(0.5)}]
    )
    assert [t.new_state for t in evaluator.evaluate(minute(1))] == ["OK"]
    slow_tail = [10.0] * 97 + [300.0, 400.0, 500.0]  # average 24.7, max 500, p99 = 400
    cw.put_metric_data(
        Namespace="App", MetricData=[{"MetricName": "Latency", "Values": slow_tail, "Timestamp": minute(1.5)}]
    )
    (up,) = evaluator.evaluate(minute(2))
    assert up.new_state == "ALARM"
    assert up.datapoints[-1].value == 400.0
    assert up.datapoints[-1].sample_count == 100
    message = notifications(sqs, url)[0]
    assert message["Trigger"]["StatisticType"] == "ExtendedStatistic"
    assert message["Trigger"]["ExtendedStatistic"] == "p99"
    assert "Statistic" not in message["Trigger"]
    # what moto's own GetMetricStatistics does with the same request: no percentile comes back
    stats = cw.get_metric_statistics(
        Namespace="App",
        MetricName="Latency",
        StartTime=minute(1),
        EndTime=minute(2),
        Period=60,
        ExtendedStatistics=["p99"],
    )
    assert all("ExtendedStatistics" not in dp for dp in stats["Datapoints"])


def test_percentile_low_sample_count_can_be_ignored(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="p90",
        Namespace="App",
        MetricName="Latency",
        ExtendedStatistic="p90",
        Period=60,
        EvaluationPeriods=1,
        Threshold=100,
        ComparisonOperator="GreaterThanThreshold",
        EvaluateLowSampleCountPercentile="ignore",
    )
    put(cw, [500.0] * 50, minute(0), name="Latency")  # p90 needs 10/(1-0.9) = 100 samples
    assert evaluator.evaluate(minute(1)) == []
    put(cw, [500.0] * 100, minute(1), name="Latency")
    assert [t.new_state for t in evaluator.evaluate(minute(2))] == ["ALARM"]


def test_dimensions_must_match_exactly(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="by-function",
        Namespace="App",
        MetricName="Errors",
        Dimensions=[{"Name": "Function", "Value": "predict"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    # same name, but another dimension set (a superset) and another value: a different metric
    put(
        cw,
        [5],
        minute(0),
        Dimensions=[{"Name": "Function", "Value": "predict"}, {"Name": "Version", "Value": "2"}],
    )
    put(cw, [5], minute(0), Dimensions=[{"Name": "Function", "Value": "ingest"}])
    put(cw, [5], minute(0))
    assert [t.new_state for t in evaluator.evaluate(minute(1))] == ["OK"]
    put(cw, [1], minute(1), Dimensions=[{"Name": "Function", "Value": "predict"}])
    assert [t.new_state for t in evaluator.evaluate(minute(2))] == ["ALARM"]


def test_metric_math_error_rate(cw: Any, evaluator: AlarmEvaluator, sqs: Any, topic_queue: tuple[str, str]) -> None:
    topic, url = topic_queue
    cw.put_metric_alarm(
        AlarmName="error-rate",
        Metrics=[
            {"Id": "rate", "Expression": "100*errors/invocations", "Label": "Error %", "ReturnData": True},
            {
                "Id": "errors",
                "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"},
                "ReturnData": False,
            },
            {
                "Id": "invocations",
                "MetricStat": {
                    "Metric": {"Namespace": "App", "MetricName": "Invocations"},
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
        ],
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    put(cw, [1], minute(0))
    put(cw, [100], minute(0), name="Invocations")  # 1 %
    assert [t.new_state for t in evaluator.evaluate(minute(1))] == ["OK"]
    put(cw, [3, 4], minute(1))
    put(cw, [50, 50], minute(1), name="Invocations")  # 7 %
    (up,) = evaluator.evaluate(minute(2))
    assert (up.new_state, up.datapoints[-1].value) == ("ALARM", 7.0)
    trigger = notifications(sqs, url)[0]["Trigger"]
    assert "MetricName" not in trigger
    assert trigger["Period"] == 60
    assert trigger["Metrics"][0] == {
        "Id": "rate",
        "Expression": "100*errors/invocations",
        "Label": "Error %",
        "ReturnData": True,
    }
    assert trigger["Metrics"][1]["MetricStat"]["Metric"] == {
        "Dimensions": [],
        "MetricName": "Errors",
        "Namespace": "App",
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("SUM([a, b])", 30.0),
        ("MAX([a, b]) - MIN([a, b])", 10.0),
        ("(a + b) / 2", 15.0),
        ("-a + 2 * b ^ 1", 30.0),
        ("AVG(METRICS())", 15.0),
        ("FILL(c, 7) + a", 17.0),
        ("ABS(a - b)", 10.0),
        ("a / (b - 20)", None),  # division by zero: no datapoint
        ("c * 2", None),  # no data for c
    ],
)
def test_metric_math_expressions(cw: Any, evaluator: AlarmEvaluator, expression: str, expected: float | None) -> None:
    def stat(name: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60, "Stat": "Sum"}

    cw.put_metric_alarm(
        AlarmName="math",
        Metrics=[
            {"Id": "e", "Expression": expression, "ReturnData": True},
            {"Id": "a", "MetricStat": stat("A"), "ReturnData": False},
            {"Id": "b", "MetricStat": stat("B"), "ReturnData": False},
            {"Id": "c", "MetricStat": stat("C"), "ReturnData": False},
        ],
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
    )
    put(cw, [10], minute(0), name="A")
    put(cw, [20], minute(0), name="B")
    assert evaluator.datapoints("math", minute(1))[-1].value == expected


def test_unsupported_expressions_are_skipped_with_a_warning(
    cw: Any, evaluator: AlarmEvaluator, caplog: pytest.LogCaptureFixture
) -> None:
    cw.put_metric_alarm(
        AlarmName="anomaly",
        Metrics=[
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m, 2)", "ReturnData": True},
            {
                "Id": "m",
                "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "A"}, "Period": 60, "Stat": "Sum"},
                "ReturnData": False,
            },
        ],
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    assert evaluator.evaluate(minute(1)) == []
    assert evaluator.evaluate(minute(2)) == []
    assert caplog.text.count("ANOMALY_DETECTION_BAND with these arguments is not supported locally") == 1


def test_history_actions_disabled_and_describe_alarm_history(
    cw: Any, evaluator: AlarmEvaluator, sqs: Any, topic_queue: tuple[str, str]
) -> None:
    topic, url = topic_queue
    cw.put_metric_alarm(
        AlarmName="h",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    put(cw, [1], minute(0))
    evaluator.evaluate(minute(1))  # INSUFFICIENT_DATA -> ALARM, notified
    cw.disable_alarm_actions(AlarmNames=["h"])
    evaluator.evaluate(minute(2))  # ALARM -> OK, actions disabled: nothing published
    assert [m["NewStateValue"] for m in notifications(sqs, url)] == ["ALARM"]
    with cloudwatch.installed():
        history = cw.describe_alarm_history(AlarmName="h", ScanBy="TimestampAscending")["AlarmHistoryItems"]
        only_states = cw.describe_alarm_history(AlarmName="h", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    # (the creation item carries the real clock; the evaluations here ran at simulated 2025 times)
    assert ("ConfigurationUpdate", 'Alarm "h" created') in [
        (i["HistoryItemType"], i["HistorySummary"]) for i in history
    ]
    history = [i for i in history if i["HistoryItemType"] != "ConfigurationUpdate"]
    assert [(i["HistoryItemType"], i["HistorySummary"]) for i in history] == [
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from ALARM to OK"),
    ]
    assert history[0]["Timestamp"] == minute(1)
    data = json.loads(history[0]["HistoryData"])
    assert data["oldState"]["stateValue"] == "INSUFFICIENT_DATA"
    assert data["newState"]["stateReasonData"]["evaluatedDatapoints"][0]["value"] == 1.0
    assert [i["HistorySummary"] for i in only_states] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    assert not cloudwatch.is_installed()


def test_periods_end_at_the_evaluation_minute(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="five-minutes",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=2,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    starts = [p.timestamp for p in evaluator.datapoints("five-minutes", minute(3.5))]
    assert starts == [minute(-7), minute(-2)]  # 11:53-11:58 and 11:58-12:03, not 5-minute boundaries


def test_email_subscribers_get_the_readable_alarm_mail(
    cw: Any, sns: Any, evaluator: AlarmEvaluator, tmp_path: Path
) -> None:
    topic = sns.create_topic(Name="oncall")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    cw.put_metric_alarm(
        AlarmName="drift",
        Namespace="App",
        MetricName="Drift",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    put(cw, [0.35], minute(1), name="Drift")
    with sns_delivery.installed(sns_delivery.Inbox(tmp_path / "inbox.jsonl", echo=False)) as box:
        (transition,) = evaluator.evaluate(minute(5))
    (mail,) = box.messages()
    assert mail.to == "oncall@example.com"
    assert mail.subject == transition.subject == 'ALARM: "drift" in US East (N. Virginia)'
    assert mail.body.startswith(
        'You are receiving this email because your Amazon CloudWatch Alarm "drift" in the '
        "US East (N. Virginia) region has entered the ALARM state"
    )
    assert "- State Change:               INSUFFICIENT_DATA -> ALARM" in mail.body
    assert "GreaterThanThreshold 0.2 for at least 1 of the last 1 period(s) of 300 seconds" in mail.body


def test_a_look_ahead_evaluation_is_stamped_with_the_real_change_time(
    cw: Any, sns: Any, evaluator: AlarmEvaluator, tmp_path: Path
) -> None:
    """Callers evaluate a minute ahead to close the current period (`now`); the mail, the message
    and the history still say when the change happened (`changed_at`), as AWS's do."""
    topic = sns.create_topic(Name="oncall")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    cw.put_metric_alarm(
        AlarmName="errors",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    put(cw, [3], minute(4.5))  # in the current minute: complete only when evaluated a minute ahead
    with sns_delivery.installed(sns_delivery.Inbox(tmp_path / "inbox.jsonl", echo=False)) as box:
        (transition,) = evaluator.evaluate(minute(5.75), changed_at=minute(4.75))
    assert transition.new_state == "ALARM" and transition.timestamp == minute(4.75)
    assert transition.message["StateChangeTime"] == "2025-01-06T12:04:45.000+0000"
    assert "[3.0 (06/01/25 12:04:00)]" in transition.reason  # the period is still the one `now` closed
    (mail,) = box.messages()
    assert 'at "Monday 06 January, 2025 12:04:45 UTC"' in mail.body
    assert "- Timestamp:                  Monday 06 January, 2025 12:04:45 UTC" in mail.body
    with cloudwatch.installed():
        history = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="StateUpdate")
    assert history["AlarmHistoryItems"][0]["Timestamp"] == minute(4.75)


def test_state_changes_reach_eventbridge_rules(cw: Any, sqs: Any, evaluator: AlarmEvaluator) -> None:
    eb = SESSION.client("events")
    url = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    eb.put_rule(
        Name="on-alarm",
        EventPattern=json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"state": {"value": ["ALARM"]}},
            }
        ),
    )
    eb.put_targets(Rule="on-alarm", Targets=[{"Id": "q", "Arn": arn}])
    cw.put_metric_alarm(
        AlarmName="retrain-trigger",
        Namespace="App",
        MetricName="Drift",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    evaluator.evaluate(minute(1))  # -> OK: not matched
    put(cw, [0.5], minute(1), name="Drift")
    evaluator.evaluate(minute(2))  # -> ALARM: matched
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(message["Body"])
    assert event["source"] == "aws.cloudwatch"
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:retrain-trigger"]
    assert event["detail"]["alarmName"] == "retrain-trigger"
    assert (event["detail"]["previousState"]["value"], event["detail"]["state"]["value"]) == ("OK", "ALARM")
    assert eventbridge.recent_deliveries()[-1].ok


def five_minute_failure_alarm(cw: Any, name: str, namespace: str = "App", metric: str = "Errors") -> None:
    """The platform's shape of alarm: one breaching 5-minute period (a failed execution) alarms."""
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )


def test_a_catch_up_evaluates_each_elapsed_minute_so_a_breach_between_two_wake_ups_alarms(
    cw: Any, evaluator: AlarmEvaluator
) -> None:
    """At `--speed 20` twenty cloud minutes pass between two real-minute wake-ups: a 5-minute period
    holding one failure is complete, and past, in between. CloudWatch evaluates each minute, so the
    evaluator evaluates every minute that elapsed, stamping each change with its minute."""
    five_minute_failure_alarm(cw, "failed-execution")
    evaluator.evaluate(minute(0))  # INSUFFICIENT_DATA -> OK
    put(cw, [1], minute(1) + timedelta(seconds=10))
    assert evaluator.evaluate(minute(21)) == [], "evaluated at the wake-up alone, the failure is missed"
    evaluator = AlarmEvaluator(ACCOUNT, REGION)
    evaluator.evaluate(minute(0))
    transitions = evaluator.evaluate_elapsed(minute(21) + timedelta(seconds=5))
    assert [(t.new_state, t.timestamp) for t in transitions] == [("ALARM", minute(2)), ("OK", minute(7))]
    assert evaluator.evaluate_elapsed(minute(21) + timedelta(seconds=40)) == [], "that minute was evaluated"


def test_a_catch_up_never_goes_back_before_an_evaluation_already_made(cw: Any, evaluator: AlarmEvaluator) -> None:
    five_minute_failure_alarm(cw, "failed-execution")
    put(cw, [1], minute(1))
    evaluator.evaluate(minute(2))  # -> ALARM (a caller looked ahead)
    assert evaluator.due_minutes(minute(1) + timedelta(seconds=30)) == []
    assert evaluator.due_minutes(minute(4) + timedelta(seconds=1)) == [minute(3), minute(4) + timedelta(seconds=1)]
    assert state(cw, "failed-execution") == "ALARM"


def test_a_catch_up_after_a_long_jump_evaluates_the_newest_day(evaluator: AlarmEvaluator) -> None:
    evaluator.evaluate(minute(0))
    due = evaluator.due_minutes(minute(3 * 24 * 60))
    assert len(due) == 24 * 60 and due[0] == minute(2 * 24 * 60 + 1) and due[-1] == minute(3 * 24 * 60)


def test_background_evaluation(cw: Any, evaluator: AlarmEvaluator) -> None:
    cw.put_metric_alarm(
        AlarmName="bg",
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
    )
    evaluator.start(interval_seconds=0.01, clock=lambda: minute(1))
    try:
        for _ in range(500):
            if state(cw, "bg") == "ALARM":
                break
            import time

            time.sleep(0.01)
    finally:
        evaluator.stop()
    assert state(cw, "bg") == "ALARM"
