"""The local cloud's own behaviours, proven through a real CDK template (the probe stack) and boto3."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud import lambda_
from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, DeployError, Synthesized, load_synthesized
from tests.localcloud.test_alarms import five_minute_failure_alarm

Cloud = tuple[LocalCloud, DeployedStack]


def test_deploys_the_probe_stack_with_every_resource(probe_synth: Synthesized, tmp_path: Any) -> None:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(probe_synth)  # how fast: `make bench` (localcloud)
        cfn = boto3.client("cloudformation")
        assert cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        # Types moto's CloudFormation skips exist as a user would find them with the AWS CLI.
        alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
        assert [a["MetricName"] for a in alarms] == ["Failures"]
        plans = boto3.client("apigateway").get_usage_plans()["items"]
        assert plans[0]["throttle"] == {"burstLimit": 3, "rateLimit": 5.0}
        keys = boto3.client("apigateway").get_usage_plan_keys(usagePlanId=plans[0]["id"])["items"]
        assert [k["id"] for k in keys] == [stack.outputs["ApiKeyId"]]
        assert boto3.client("apigateway").get_stage(restApiId=stack.outputs["ApiId"], stageName="test")
        # The S3 → Lambda notification was configured by CDK's own custom-resource handler.
        config = boto3.client("s3").get_bucket_notification_configuration(Bucket=stack.outputs["BucketName"])
        assert config["LambdaFunctionConfigurations"][0]["Events"] == ["s3:ObjectCreated:*"]
        assert stack.warnings == []


def test_an_upload_runs_the_handler_with_the_template_environment(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    s3 = boto3.client("s3")
    bucket = stack.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="in/some file+name.csv", Body=b"a,b\n1,2\n")
    cloud.settle()
    seen = s3.get_object(Bucket=bucket, Key="out/some file+name.csv.seen")["Body"].read()
    assert seen == b"hello from the probe"


def test_a_failing_async_event_is_retried_twice_then_dead_lettered(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    boto3.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key="in/fail-me.csv", Body=b"x")
    cloud.settle()
    function = stack.function_name("OnUpload")
    attempts = [i for i in lambda_.history() if i.function_name == function]
    assert [(i.errored, i.attempt) for i in attempts] == [(True, 0), (True, 1), (True, 2)]
    messages = boto3.client("sqs").receive_message(QueueUrl=stack.outputs["DeadLetterQueueUrl"])["Messages"]
    assert json.loads(messages[0]["Body"])["Records"][0]["s3"]["object"]["key"] == "in/fail-me.csv"


def test_logs_and_emf_metrics_reach_cloudwatch(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    boto3.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key="in/a.csv", Body=b"x")
    cloud.settle()
    function = stack.function_name("OnUpload")
    logs = boto3.client("logs")
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{function}")["logStreams"]
    messages = [
        e["message"]
        for s in streams
        for e in logs.get_log_events(logGroupName=f"/aws/lambda/{function}", logStreamName=s["logStreamName"])["events"]
    ]
    assert any(m.startswith("REPORT RequestId:") for m in messages)
    cloudwatch = boto3.client("cloudwatch")
    metrics = {(m["Namespace"], m["MetricName"]) for m in cloudwatch.list_metrics()["Metrics"]}
    assert {("Probe", "Uploads"), ("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Errors")} <= metrics


def test_a_function_past_its_timeout_is_stopped_with_lambdas_error(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    started = time.perf_counter()
    response = boto3.client("lambda").invoke(FunctionName=stack.function_name("Slow"), Payload=b"{}")
    elapsed = time.perf_counter() - started
    assert response["FunctionError"]
    assert "Task timed out after 1.00 seconds" in json.loads(response["Payload"].read())["errorMessage"]
    assert elapsed < 2.5


def test_a_handler_exception_is_a_function_error_with_its_message(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    response = boto3.client("lambda").invoke(FunctionName=stack.function_name("Square"), Payload=b'{"n": -2}')
    assert response["FunctionError"] == "Handled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "negative input -2"


def test_event_invocations_are_queued_and_answer_202(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    response = boto3.client("lambda").invoke(
        FunctionName=stack.function_name("Tick"), InvocationType="Event", Payload=b"{}"
    )
    assert response["StatusCode"] == 202
    cloud.settle()
    item = boto3.client("dynamodb").get_item(TableName=stack.outputs["TableName"], Key={"pk": {"S": "ticks"}})
    assert item["Item"]["n"] == {"N": "1"}


def _run(machine_arn: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def test_step_functions_map_runs_lambda_tasks(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    execution = _run(stack.outputs["MachineArn"], "squares", {"numbers": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert execution["status"] == "SUCCEEDED"
    squares = json.loads(execution["output"])["squares"]
    assert [s["square"] for s in squares] == [1, 4, 9]
    assert all(0 < s["remaining_ms"] <= 5000 for s in squares)


def test_step_functions_catch_takes_the_fail_path(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    execution = _run(stack.outputs["MachineArn"], "negative", {"numbers": [{"n": 1}, {"n": -1}]})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "NumberFailed"


def test_a_failed_execution_emits_its_event_and_metric(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    _run(stack.outputs["MachineArn"], "fails", {"numbers": [{"n": -5}]})
    _run(stack.outputs["MachineArn"], "works", {"numbers": [{"n": 5}]})
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=stack.outputs["FailedRunsQueueUrl"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert [json.loads(m["Body"])["detail"]["name"] for m in messages] == ["fails"]
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="AWS/States")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"ExecutionsStarted", "ExecutionsFailed", "ExecutionsSucceeded"}


def test_schedules_fire_on_the_clock_and_on_demand(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    table = stack.outputs["TableName"]
    firings = cloud.advance_clock(timedelta(minutes=16))
    assert len(firings) == 3  # rate(5 minutes): at +5, +10 and +15 minutes
    rule = firings[0].rule_name
    cloud.fire_schedule(rule)
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "ticks"}})
    assert item["Item"]["n"] == {"N": "4"}


def test_put_events_reach_only_matching_rules(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    boto3.client("events").put_events(
        Entries=[
            {"Source": "probe", "DetailType": "hello", "Detail": json.dumps({"x": 1})},
            {"Source": "elsewhere", "DetailType": "hello", "Detail": "{}"},
        ]
    )
    cloud.settle()
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=stack.outputs["RoutedQueueUrl"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert [json.loads(m["Body"])["source"] for m in messages] == ["probe"]
    ticks = boto3.client("dynamodb").get_item(TableName=stack.outputs["TableName"], Key={"pk": {"S": "ticks"}})
    assert "Item" not in ticks, "a schedule-only rule must not match put_events"


def test_an_alarm_on_an_emf_metric_notifies_email_and_sqs(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    boto3.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key="in/fail.csv", Body=b"x")
    cloud.settle()
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert [t.new_state for t in transitions] == ["ALARM"]
    mails = cloud.inbox.messages()
    assert mails[0].to == "ops@example.com"
    assert mails[0].subject.startswith('ALARM: "')
    raw = boto3.client("sqs").receive_message(QueueUrl=stack.outputs["NotifiedQueueUrl"])["Messages"][0]["Body"]
    assert json.loads(raw)["NewStateValue"] == "ALARM"
    history = boto3.client("cloudwatch").describe_alarm_history(HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history


def test_a_missing_or_broken_template_gets_a_clear_message(tmp_path: Any) -> None:
    with pytest.raises(DeployError, match="run `make synth` first"):
        load_synthesized(tmp_path / "Nope.template.json")
    broken = tmp_path / "Broken.template.json"
    broken.write_text("{ not json")
    with pytest.raises(DeployError, match="line 1"):
        load_synthesized(broken)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_api_answers_over_http_only_with_its_key(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    gateway = cloud.serve_api(stack.outputs["ApiId"])
    key = boto3.client("apigateway").get_api_key(apiKey=stack.outputs["ApiKeyId"], includeValue=True)["value"]
    url = gateway.url("test") + "/items/42?color=blue"
    assert _get(url) == (403, {"message": "Forbidden"})
    assert _get(url, {"x-api-key": "not-the-key"}) == (403, {"message": "Forbidden"})
    status, body = _get(url, {"x-api-key": key})
    assert (status, body) == (200, {"id": "42", "query": {"color": "blue"}, "apiKeyId": stack.outputs["ApiKeyId"]})
    assert _get(gateway.url("test") + "/nowhere", {"x-api-key": key}) == (
        403,
        {"message": "Missing Authentication Token"},
    )
    assert _get(gateway.url("test") + "/admin")[0] == 403, "an IAM route needs a signed request"


def test_the_usage_plan_throttles_a_key(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    gateway = cloud.serve_api(stack.outputs["ApiId"])
    key = boto3.client("apigateway").get_api_key(apiKey=stack.outputs["ApiKeyId"], includeValue=True)["value"]
    statuses = [_get(gateway.url("test") + "/items/1", {"x-api-key": key})[0] for _ in range(8)]
    assert statuses[:3] == [200, 200, 200]  # burst limit 3
    assert 429 in statuses[3:]


def test_with_the_clock_sped_up_the_background_evaluator_still_sees_a_short_breach(tmp_path: Path) -> None:
    """`make up --speed 20` woke the evaluator each real minute, 20 cloud minutes apart: a 5-minute
    period holding a failed execution came and went between two evaluations and nothing alarmed. The
    evaluator now evaluates every cloud minute that elapsed (here 600x: a wake-up each real second is
    ten cloud minutes)."""
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl", speed=600) as cloud:
        cloudwatch = boto3.client("cloudwatch")
        five_minute_failure_alarm(cloudwatch, "ExecutionsFailed", "AWS/States", "ExecutionsFailed")
        cloud.evaluate_alarms()  # as `make up` starts: INSUFFICIENT_DATA -> OK
        failed_at = cloud.clock.now()
        cloudwatch.put_metric_data(
            Namespace="AWS/States", MetricData=[{"MetricName": "ExecutionsFailed", "Value": 1, "Timestamp": failed_at}]
        )
        cloud.alarm_evaluator.start(interval_seconds=1.0, clock=cloud.clock.now, initial_delay=True)
        try:
            deadline = time.monotonic() + 30
            changes: list[tuple[str, str]] = []
            while time.monotonic() < deadline and ("OK", "ALARM") not in changes:
                time.sleep(0.2)
                history = cloudwatch.describe_alarm_history(AlarmName="ExecutionsFailed", HistoryItemType="StateUpdate")
                changes = [
                    (
                        json.loads(h["HistoryData"])["oldState"]["stateValue"],
                        json.loads(h["HistoryData"])["newState"]["stateValue"],
                    )
                    for h in history["AlarmHistoryItems"]
                ]
        finally:
            cloud.alarm_evaluator.stop()
        assert ("OK", "ALARM") in changes, changes
        (alarmed,) = [h for h in history["AlarmHistoryItems"] if "to ALARM" in h["HistorySummary"]]
        assert failed_at < alarmed["Timestamp"] <= failed_at + timedelta(minutes=6), "stamped in the cloud minute"


def test_the_dead_letter_alarm_sees_the_queue_in_every_evaluation_the_background_one_included(tmp_path: Path) -> None:
    """SQS publishes queue depth each minute on AWS; `make up` evaluates alarms on a background thread,
    which must see a message waiting in a dead-letter queue as cloud.evaluate_alarms() does."""
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName="DeadLettersWaiting",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "dead-letters"}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        now = datetime.now(UTC) + timedelta(minutes=1)
        cloud.alarm_evaluator.evaluate(now)  # what the background thread calls
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=["DeadLettersWaiting"])["MetricAlarms"]
        assert alarm["StateValue"] == "ALARM"
        # and the metric reads back through the API (timestamps stored as PutMetricData stores them)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "dead-letters"}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=10),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert [p["Maximum"] for p in points] == [1.0]
