"""The platform stack itself in the local cloud: what a user finds after `cdk deploy`, used as a user would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from tests.local.conftest import front_door

Platform = tuple[LocalCloud, DeployedStack]


@pytest.fixture
def platform(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        yield cloud, cloud.deploy(platform_synth)


def test_every_output_names_a_resource_that_exists(platform: Platform) -> None:
    _, stack = platform
    outputs = stack.outputs
    s3 = boto3.client("s3")
    for key in ("RawBucketName", "CuratedBucketName", "QuarantineBucketName", "ArtifactsBucketName"):
        assert s3.head_bucket(Bucket=outputs[key])
        policy = json.loads(s3.get_bucket_policy(Bucket=outputs[key])["Policy"])
        assert any(s["Effect"] == "Deny" for s in policy["Statement"]), f"{key} has no TLS-only policy"
    assert boto3.client("dynamodb").describe_table(TableName=outputs["RegistryTableName"])
    assert boto3.client("stepfunctions").describe_state_machine(stateMachineArn=outputs["TrainingStateMachineArn"])
    assert boto3.client("sns").get_topic_attributes(TopicArn=outputs["AlertsTopicArn"])["Attributes"]["KmsMasterKeyId"]
    assert boto3.client("sqs").get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"])
    # The default front door: the predict function URL, IAM-authorized; no prediction key to hand out.
    url = boto3.client("lambda").get_function_url_config(FunctionName=stack.function_name("ServingPredictFunction"))
    assert (url["FunctionUrl"].rstrip("/") + "/", url["AuthType"]) == (outputs["PredictFunctionUrl"], "AWS_IAM")
    assert "PredictionApiKeyId" not in outputs and boto3.client("apigateway").get_api_keys()["items"] == []
    assert stack.warnings == []


def test_health_answers_a_signed_request_and_costs_no_custom_metric(platform: Platform) -> None:
    """Under the function URL front door no key exists: health takes IAM, as the registry routes do.
    A probe polling health every minute would keep a custom metric alive all month ($0.30, issue
    #21); Lambda's own Invocations count the calls for nothing."""
    cloud, stack = platform
    door = front_door(cloud, stack)
    status, body = door.health()
    assert (status, body["status"], body["stack"]) == (200, "ok", stack.stack_name)
    status, refused = door.health(signed=False)
    assert (status, refused["error"]["code"]) == (401, "missing_authentication_token")  # the template's response
    assert "SigV4" in refused["error"]["message"] and refused["request_id"]
    cloudwatch = boto3.client("cloudwatch")
    assert cloudwatch.list_metrics(Namespace="ServerlessMlops", MetricName="HealthChecks")["Metrics"] == []


def test_buckets_keep_the_templates_versioning_lifecycle_and_public_access_block(platform: Platform) -> None:
    _, stack = platform
    s3 = boto3.client("s3")
    for key in ("RawBucketName", "CuratedBucketName", "QuarantineBucketName", "ArtifactsBucketName"):
        bucket = stack.outputs[key]
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", key
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()), key
    rules = s3.get_bucket_lifecycle_configuration(Bucket=stack.outputs["RawBucketName"])["Rules"]
    assert rules[0]["Expiration"] == {"Days": 90}
    put = s3.put_object(Bucket=stack.outputs["RawBucketName"], Key="raw/x/a.csv", Body=b"1")
    again = s3.put_object(Bucket=stack.outputs["RawBucketName"], Key="raw/x/a.csv", Body=b"2")
    assert put["VersionId"] != again["VersionId"], "two uploads of one key are two versions"


@pytest.mark.parametrize("function", ["TrainingGate", "RegistryApiHandler"])
def test_an_error_in_any_platform_function_alarms_to_the_alerts_topic(platform: Platform, function: str) -> None:
    """One alarm on Lambda's Errors across every function (issue #21) instead of one per function:
    a training step (a Step Functions task) and the registry API (behind API Gateway) alike."""
    cloud, stack = platform
    name = stack.function_name(function)
    alarm = stack.resource("AWS::CloudWatch::Alarm", "MonitoringFunctionErrors")
    answer = boto3.client("lambda").invoke(FunctionName=name, Payload=b"{}")  # neither takes an empty event
    assert answer.get("FunctionError")
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert (alarm, "ALARM") in [(t.alarm_name, t.new_state) for t in transitions]
    items = boto3.client("cloudwatch").describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")
    summary = items["AlarmHistoryItems"][0]["HistorySummary"]
    assert summary.startswith("Successfully executed action") and stack.outputs["AlertsTopicArn"] in summary
