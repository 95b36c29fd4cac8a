"""EventBridge in the local cloud: pattern matching, target delivery and the schedule clock.

Rules, targets, queues, topics, functions and state machines are made with real boto3 calls into
moto; Lambda runs through moto's backend with `LambdaFunction._invoke_lambda` replaced by a
recording fake, so these tests do not depend on the local Lambda runtime.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from localcloud import eventbridge
from localcloud.eventbridge import ManualClock, Scheduler, matches_pattern, render_target_input
from localcloud.session import DEFAULT_ACCOUNT

REGION = "us-east-1"
ACCOUNT = "123456789012"
# one session for the module: creating clients from it is several times cheaper than boto3.client()
SESSION = boto3.Session(region_name=REGION)
START = datetime(2025, 3, 3, 10, 7, 30, tzinfo=UTC)


@dataclass
class FakeLambda:
    """Stands in for the Lambda runtime: records (function name, event) and answers."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # function name -> errors still to return

    def __call__(self, function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        self.calls.append((function.function_name, event))
        if self.failures.get(function.function_name, 0) > 0:
            self.failures[function.function_name] -= 1
            return json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}), True, "boom"
        return json.dumps({"ok": True}), False, ""

    def events_of(self, name: str) -> list[Any]:
        return [event for function, event in self.calls if function == name]


@pytest.fixture
def fake_lambda(monkeypatch: pytest.MonkeyPatch) -> FakeLambda:
    fake = FakeLambda()

    def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return fake(self, event)

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_lambda)
    return fake


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def hooked(aws: None) -> Iterator[None]:
    with eventbridge.installed():
        yield
    assert not eventbridge.is_installed()


@pytest.fixture
def eb(aws: None) -> Any:
    return SESSION.client("events")


@pytest.fixture
def sqs(aws: None) -> Any:
    return SESSION.client("sqs")


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain_queue(sqs: Any, url: str) -> list[str]:
    out: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            out.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def role() -> str:
    iam = SESSION.client("iam")
    try:
        return str(iam.get_role(RoleName="r")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def make_function(name: str) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = SESSION.client("lambda")
    arn = str(
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role(),
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )
    # EventBridge may invoke it for this account's rules (what CDK's LambdaFunction target adds).
    lam.add_permission(
        FunctionName=name,
        StatementId="eventbridge",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:{DEFAULT_ACCOUNT}:rule/*",
    )
    return arn


def put(eb: Any, source: str, detail: dict[str, Any], detail_type: str = "Thing Happened") -> None:
    result = eb.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert result["FailedEntryCount"] == 0


# ----------------------------------------------------------------------------------------------
# Event patterns (pure)
# ----------------------------------------------------------------------------------------------

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "1",
    "source": "mlops.training",
    "detail-type": "Training Finished",
    "account": ACCOUNT,
    "time": "2025-03-03T10:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:states:us-east-1:123456789012:execution:train:abc"],
    "detail": {
        "status": "SUCCEEDED",
        "model": {"name": "churn", "version": 7, "auc": 0.91},
        "tags": ["nightly", "gbm"],
        "candidates": [{"kind": "rf", "score": 0.88}, {"kind": "gbm", "score": 0.91}],
        "ip": "10.0.3.7",
        "note": None,
    },
}


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["mlops.training"]}, True),
        ({"source": ["mlops.serving", "mlops.training"]}, True),
        ({"source": ["mlops"]}, False),
        ({"source": [{"prefix": "mlops."}]}, True),
        ({"source": [{"suffix": ".training"}]}, True),
        ({"detail-type": [{"equals-ignore-case": "training finished"}]}, True),
        ({"detail": {"status": [{"anything-but": ["FAILED", "TIMED_OUT"]}]}}, True),
        ({"detail": {"status": [{"anything-but": "SUCCEEDED"}]}}, False),
        ({"detail": {"status": [{"anything-but": {"prefix": "SUCC"}}]}}, False),
        ({"detail": {"model": {"auc": [{"numeric": [">=", 0.9]}]}}}, True),
        ({"detail": {"model": {"auc": [{"numeric": [">", 0.5, "<", 0.9]}]}}}, False),
        ({"detail": {"model": {"version": [7]}}}, True),
        ({"detail": {"model": {"version": ["7"]}}}, False),
        ({"detail": {"model": {"name": ["churn"], "version": [8]}}}, False),
        ({"detail": {"model": {"owner": [{"exists": False}]}}}, True),
        ({"detail": {"model": {"name": [{"exists": True}]}}}, True),
        ({"detail": {"model": [{"exists": True}]}}, False),  # exists only sees leaves
        ({"detail": {"note": [None]}}, True),
        ({"detail": {"tags": ["gbm"]}}, True),
        ({"detail": {"candidates": {"kind": ["gbm"]}}}, True),
        ({"detail": {"candidates": {"kind": ["svm"]}}}, False),
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"resources": [{"wildcard": "arn:aws:states:*:execution:train:*"}]}, True),
        ({"source": ["x"], "$or": [{"detail": {"status": ["SUCCEEDED"]}}]}, False),
        ({"$or": [{"source": ["x"]}, {"detail": {"status": ["SUCCEEDED"]}}]}, True),
        ({"detail": {"missing": {"deeper": ["x"]}}}, False),
        ({}, False),  # a rule without a pattern is schedule-only: put_events never reaches it
    ],
)
def test_event_patterns(pattern: dict[str, Any], matches: bool) -> None:
    assert matches_pattern(pattern, EVENT) is matches


def test_target_input_variants() -> None:
    arn, name = "arn:aws:events:us-east-1:123456789012:rule/r", "r"
    assert json.loads(render_target_input({}, EVENT, rule_arn=arn, rule_name=name)) == EVENT
    assert render_target_input({"Input": '{"fixed": 1}'}, EVENT, rule_arn=arn, rule_name=name) == '{"fixed": 1}'
    assert json.loads(render_target_input({"InputPath": "$.detail.model"}, EVENT, rule_arn=arn, rule_name=name)) == {
        "name": "churn",
        "version": 7,
        "auc": 0.91,
    }
    transformer: dict[str, Any] = {
        "InputPathsMap": {"model": "$.detail.model.name", "version": "$.detail.model.version", "m": "$.detail.model"},
        "InputTemplate": '{"text": "model <model> v<version> by <aws.events.rule-name>", "v": <version>, '
        '"m": <m>, "gone": <nothing>, "absent": "<absent>"}',
    }
    transformer["InputPathsMap"]["absent"] = "$.detail.nope"
    rendered = json.loads(
        render_target_input({"InputTransformer": transformer}, EVENT, rule_arn=arn, rule_name=name).replace(
            "<nothing>", "null"
        )
    )
    assert rendered == {
        "text": "model churn v7 by r",
        "v": 7,
        "m": {"name": "churn", "version": 7, "auc": 0.91},
        "gone": None,
        "absent": "",
    }
    plain = {"InputPathsMap": {"s": "$.detail.status"}, "InputTemplate": '"Training <s>"'}
    assert (
        render_target_input({"InputTransformer": plain}, EVENT, rule_arn=arn, rule_name=name) == '"Training SUCCEEDED"'
    )


# ----------------------------------------------------------------------------------------------
# What moto does by itself
# ----------------------------------------------------------------------------------------------


def test_moto_alone_feeds_schedule_rules_and_fails_on_lambda(eb: Any, sqs: Any, fake_lambda: FakeLambda) -> None:
    url, arn = queue(sqs, "scheduled")
    eb.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)")
    eb.put_targets(Rule="every-5", Targets=[{"Id": "q", "Arn": arn}])
    put(eb, "anything", {})
    assert len(drain_queue(sqs, url)) == 1  # a schedule-only rule matched an ordinary event
    eb.put_rule(Name="to-lambda", EventPattern=json.dumps({"source": ["x"]}))
    eb.put_targets(Rule="to-lambda", Targets=[{"Id": "f", "Arn": make_function("f")}])
    with pytest.raises(NotImplementedError):
        put(eb, "x", {})


# ----------------------------------------------------------------------------------------------
# put_events with the hook installed
# ----------------------------------------------------------------------------------------------


def test_put_events_reaches_every_target_kind_only_when_matching(
    eb: Any, sqs: Any, fake_lambda: FakeLambda, hooked: None
) -> None:
    sns = SESSION.client("sns")
    sfn = SESSION.client("stepfunctions")
    url, queue_arn = queue(sqs, "events")
    topic = sns.create_topic(Name="events")["TopicArn"]
    topic_url, topic_queue_arn = queue(sqs, "via-topic")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_queue_arn, Attributes={"RawMessageDelivery": "true"})
    machine = sfn.create_state_machine(
        name="on-data",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role(),
    )["stateMachineArn"]
    function = make_function("on-data")
    eb.put_rule(
        Name="new-data",
        EventPattern=json.dumps({"source": ["mlops.data"], "detail": {"rows": [{"numeric": [">", 0]}]}}),
    )
    eb.put_targets(
        Rule="new-data",
        Targets=[
            {"Id": "fn", "Arn": function},
            {"Id": "sm", "Arn": machine, "RoleArn": role()},
            {"Id": "topic", "Arn": topic},
            {"Id": "queue", "Arn": queue_arn, "InputPath": "$.detail"},
        ],
    )
    eb.put_rule(Name="schedule-only", ScheduleExpression="rate(1 hour)")
    eb.put_targets(Rule="schedule-only", Targets=[{"Id": "fn", "Arn": function}])

    put(eb, "mlops.data", {"rows": 0})  # pattern says rows > 0
    put(eb, "mlops.other", {"rows": 5})  # wrong source
    assert fake_lambda.calls == []
    assert drain_queue(sqs, url) == [] and drain_queue(sqs, topic_url) == []
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []

    put(eb, "mlops.data", {"rows": 12, "dataset": "churn"})
    ((name, event),) = fake_lambda.calls
    assert name == "on-data"
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["source"], event["detail"]) == ("mlops.data", {"rows": 12, "dataset": "churn"})
    assert event["account"] == ACCOUNT and event["time"].endswith("Z")
    assert [json.loads(b) for b in drain_queue(sqs, url)] == [{"rows": 12, "dataset": "churn"}]
    assert json.loads(drain_queue(sqs, topic_url)[0])["id"] == event["id"]
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    for _ in range(200):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.02)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"])["id"] == event["id"]
    assert json.loads(described["output"])["detail"]["dataset"] == "churn"


def test_disabled_rules_get_nothing(eb: Any, fake_lambda: FakeLambda, hooked: None) -> None:
    eb.put_rule(Name="off", EventPattern=json.dumps({"source": ["s"]}), State="DISABLED")
    eb.put_targets(Rule="off", Targets=[{"Id": "fn", "Arn": make_function("fn")}])
    put(eb, "s", {})
    assert fake_lambda.calls == []
    eb.enable_rule(Name="off")
    put(eb, "s", {})
    assert len(fake_lambda.calls) == 1


def test_failing_lambda_target_is_retried_twice(eb: Any, fake_lambda: FakeLambda, hooked: None) -> None:
    eb.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="r", Targets=[{"Id": "fn", "Arn": make_function("flaky")}])
    fake_lambda.failures["flaky"] = 10
    put(eb, "s", {"n": 1})
    assert len(fake_lambda.events_of("flaky")) == 3
    assert eventbridge.recent_deliveries()[-1].attempts == 3 and not eventbridge.recent_deliveries()[-1].ok
    fake_lambda.failures["flaky"] = 1
    put(eb, "s", {"n": 2})
    assert len(fake_lambda.events_of("flaky")) == 5
    assert eventbridge.recent_deliveries()[-1].ok


def test_function_retry_setting_is_honoured(eb: Any, fake_lambda: FakeLambda, hooked: None) -> None:
    eb.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="r", Targets=[{"Id": "fn", "Arn": make_function("once")}])
    SESSION.client("lambda").put_function_event_invoke_config(FunctionName="once", MaximumRetryAttempts=0)
    fake_lambda.failures["once"] = 10
    put(eb, "s", {})
    assert len(fake_lambda.calls) == 1


def test_undeliverable_events_go_to_the_dead_letter_queue(eb: Any, sqs: Any, hooked: None) -> None:
    dlq_url, dlq_arn = queue(sqs, "dlq")
    unreachable_url, unreachable_arn = queue(sqs, "dlq-without-policy")
    rule_arn = eb.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))["RuleArn"]
    # EventBridge sends to a dead-letter queue only where the queue's policy allows it for this rule
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html); CDK writes this.
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": dlq_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                        }
                    ]
                }
            )
        },
    )
    gone = f"arn:aws:sqs:{REGION}:{ACCOUNT}:does-not-exist"
    eb.put_targets(
        Rule="r",
        Targets=[
            {"Id": "gone", "Arn": gone, "DeadLetterConfig": {"Arn": dlq_arn}},
            {"Id": "gone-too", "Arn": gone, "DeadLetterConfig": {"Arn": unreachable_arn}},
        ],
    )
    put(eb, "s", {"lost": True})
    (message,) = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["detail"] == {"lost": True}
    assert message["MessageAttributes"]["RULE_ARN"]["StringValue"].endswith(":rule/r")
    assert "Messages" not in sqs.receive_message(QueueUrl=unreachable_url), "no policy, no dead letter"


def test_a_function_without_a_permission_for_the_rule_is_not_invoked(eb: Any, hooked: None) -> None:
    """AWS invokes a Lambda target only through the function's resource policy; without it the
    invocation fails and the rule's FailedInvocations counts it."""
    lam = SESSION.client("lambda")
    function = make_function("no-permission")
    lam.remove_permission(FunctionName="no-permission", StatementId="eventbridge")
    eb.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="r", Targets=[{"Id": "fn", "Arn": function}])
    put(eb, "s", {"n": 1})
    (delivery,) = [d for d in eventbridge.recent_deliveries() if d.target_arn == function]
    assert not delivery.ok and "no resource-based policy allows the lambda:InvokeFunction action" in str(delivery.error)


def test_targets_moto_already_handles_are_left_to_moto(eb: Any, sqs: Any, hooked: None) -> None:
    logs = SESSION.client("logs")
    logs.create_log_group(logGroupName="/events/audit")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/events/audit"
    url, queue_arn = queue(sqs, "other-bus")
    bus_arn = eb.create_event_bus(Name="audit")["EventBusArn"]
    eb.put_rule(Name="fan-out", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="fan-out", Targets=[{"Id": "logs", "Arn": group_arn}, {"Id": "bus", "Arn": bus_arn}])
    eb.put_rule(Name="on-audit", EventBusName="audit", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="on-audit", EventBusName="audit", Targets=[{"Id": "q", "Arn": queue_arn}])
    put(eb, "s", {"k": "v"})
    logged = logs.filter_log_events(logGroupName="/events/audit")["events"]
    assert [json.loads(e["message"])["detail"] for e in logged] == [{"k": "v"}]
    assert [json.loads(b)["detail"] for b in drain_queue(sqs, url)] == [{"k": "v"}]


def test_deliver_lets_services_emit_aws_events(eb: Any, sqs: Any) -> None:
    url, arn = queue(sqs, "sfn-status")
    eb.put_rule(
        Name="pipeline-failed",
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"status": ["FAILED", "TIMED_OUT"]},
            }
        ),
    )
    eb.put_targets(
        Rule="pipeline-failed",
        Targets=[
            {
                "Id": "q",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"execution": "$.detail.executionArn", "status": "$.detail.status"},
                    "InputTemplate": '{"alert": "<execution> ended <status>"}',
                },
            }
        ],
    )
    emitted = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": "arn:exec:1", "status": "FAILED"},
    }
    (delivery,) = eventbridge.deliver(emitted, account_id=ACCOUNT, region=REGION)
    assert delivery.ok and delivery.service == "sqs"
    assert eventbridge.deliver({**emitted, "detail": {"status": "SUCCEEDED"}}, account_id=ACCOUNT, region=REGION) == []
    assert [json.loads(b) for b in drain_queue(sqs, url)] == [{"alert": "arn:exec:1 ended FAILED"}]
    # the PutEvents entry form works too, on a named bus
    eb.create_event_bus(Name="mlops")
    eb.put_rule(Name="on-bus", EventBusName="mlops", EventPattern=json.dumps({"source": ["mlops.registry"]}))
    eb.put_targets(Rule="on-bus", EventBusName="mlops", Targets=[{"Id": "q", "Arn": arn}])
    entry = {"Source": "mlops.registry", "DetailType": "Model Promoted", "Detail": '{"v": 3}', "EventBusName": "mlops"}
    assert [d.ok for d in eventbridge.deliver(entry, account_id=ACCOUNT, region=REGION)] == [True]
    assert json.loads(drain_queue(sqs, url)[0])["detail"] == {"v": 3}


def test_asynchronous_delivery_can_be_drained(eb: Any, fake_lambda: FakeLambda, aws: None) -> None:
    eb.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    eb.put_targets(Rule="r", Targets=[{"Id": "fn", "Arn": make_function("fn")}])
    with eventbridge.installed(asynchronous=True):
        for i in range(5):
            put(eb, "s", {"i": i})
        assert eventbridge.drain(timeout=10)
    assert sorted(e["detail"]["i"] for e in fake_lambda.events_of("fn")) == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------


def scheduler() -> Scheduler:
    return Scheduler(ACCOUNT, REGION, clock=ManualClock(START))


def test_rate_rule_fires_once_per_period(eb: Any, sqs: Any, hooked: None) -> None:
    url, arn = queue(sqs, "drift-checks")
    eb.put_rule(Name="drift-check", ScheduleExpression="rate(5 minutes)")
    eb.put_targets(Rule="drift-check", Targets=[{"Id": "q", "Arn": arn}])
    clock = scheduler()
    assert clock.advance(timedelta(minutes=4)) == []
    fired = clock.advance(timedelta(minutes=56))  # one hour after the rule was first seen
    assert len(fired) == 12
    assert [f.scheduled_time for f in fired[:2]] == [START + timedelta(minutes=5), START + timedelta(minutes=10)]
    received = [json.loads(b) for b in drain_queue(sqs, url)]
    assert len(received) == 12
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/drift-check"
    first = received[0]
    assert {k: first[k] for k in ("version", "detail-type", "source", "account", "region", "resources", "detail")} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }
    assert sorted(e["time"] for e in received)[:2] == ["2025-03-03T10:12:30Z", "2025-03-03T10:17:30Z"]
    assert len({e["id"] for e in received}) == 12


def test_cron_rule_fires_at_its_minutes_with_target_input(eb: Any, fake_lambda: FakeLambda) -> None:
    function = make_function("report")
    eb.put_rule(Name="quarterly", ScheduleExpression="cron(0/15 * * * ? *)")
    eb.put_targets(
        Rule="quarterly",
        Targets=[
            {
                "Id": "fn",
                "Arn": function,
                "InputTransformer": {"InputPathsMap": {"t": "$.time"}, "InputTemplate": '{"window_end": "<t>"}'},
            }
        ],
    )
    eb.put_rule(Name="noon", ScheduleExpression="cron(0 12 * * ? *)")
    eb.put_targets(Rule="noon", Targets=[{"Id": "fn", "Arn": function, "Input": '{"kind": "daily"}'}])
    fired = scheduler().advance(timedelta(hours=2))
    assert [(f.rule_name, f.scheduled_time.strftime("%H:%M")) for f in fired] == [
        ("quarterly", "10:15"),
        ("quarterly", "10:30"),
        ("quarterly", "10:45"),
        ("quarterly", "11:00"),
        ("quarterly", "11:15"),
        ("quarterly", "11:30"),
        ("quarterly", "11:45"),
        ("noon", "12:00"),  # two rules due at once fire in rule ARN order
        ("quarterly", "12:00"),
    ]
    assert fake_lambda.events_of("report")[0] == {"window_end": "2025-03-03T10:15:00Z"}
    assert {"kind": "daily"} in fake_lambda.events_of("report")


def test_disabled_changed_and_deleted_schedules(eb: Any, fake_lambda: FakeLambda) -> None:
    eb.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    eb.put_targets(Rule="tick", Targets=[{"Id": "fn", "Arn": make_function("tick")}])
    clock = scheduler()
    assert len(clock.advance(timedelta(minutes=3))) == 3
    eb.disable_rule(Name="tick")
    assert clock.advance(timedelta(minutes=3)) == []
    eb.enable_rule(Name="tick")
    clock.sync()
    eb.put_rule(Name="tick", ScheduleExpression="rate(2 minutes)")
    assert len(clock.advance(timedelta(minutes=4))) == 2
    eb.remove_targets(Rule="tick", Ids=["fn"])
    eb.delete_rule(Name="tick")
    assert clock.advance(timedelta(minutes=10)) == []
    assert len(fake_lambda.calls) == 5


def test_fire_rule_on_demand(eb: Any, fake_lambda: FakeLambda) -> None:
    eb.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    eb.put_targets(Rule="nightly", Targets=[{"Id": "fn", "Arn": make_function("nightly")}])
    firing = scheduler().fire_rule("nightly")
    assert firing.event["time"] == "2025-03-03T10:07:30Z"
    assert [d.ok for d in firing.deliveries] == [True]
    assert fake_lambda.events_of("nightly")[0]["detail-type"] == "Scheduled Event"


def test_a_fast_clock_runs_schedules_in_the_background(eb: Any, fake_lambda: FakeLambda) -> None:
    eb.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    eb.put_targets(Rule="hourly", Targets=[{"Id": "fn", "Arn": make_function("hourly")}])
    with Scheduler(ACCOUNT, REGION, speed=36000, start=START, tick_seconds=0.02) as running:  # an hour per 0.1 s
        deadline = time.monotonic() + 10
        while len(running.firings) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        armed_at = running.next_fire_times()
    assert len(running.firings) >= 3
    first, second, third = (f.scheduled_time for f in list(running.firings)[:3])
    # A rate rule's grid starts when the scheduler first sees the rule (AWS: when it is created). On
    # this clock a busy machine's late first tick is tens of simulated minutes, so the bound is the
    # grid, not the wall clock: one hour after the start at the earliest, then exactly hourly.
    assert START + timedelta(hours=1) <= first
    assert (second - first, third - second) == (timedelta(hours=1), timedelta(hours=1))
    assert all(later > third for later in armed_at.values() if later is not None)
    assert len(fake_lambda.events_of("hourly")) == len(running.firings)


def test_invalid_schedules_are_skipped_with_a_warning(eb: Any, caplog: pytest.LogCaptureFixture) -> None:
    eb.put_rule(Name="bad", ScheduleExpression="cron(0 12 * * * *)")  # AWS needs a '?'
    clock = scheduler()
    assert clock.advance(timedelta(days=1)) == []
    assert "exactly one of Day-of-month and Day-of-week" in caplog.text
