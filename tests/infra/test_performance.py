"""The performance function in the synthesized template (issue #19, item 2): an hourly schedule with
retries and the dead-letter queue, the join's exact grants (labels and capture read, joined hours
read and written, each listed under its own prefix only), and its errors on the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.settings import SettingsError, load_settings
from tests.infra import template_queries as tq


def test_the_performance_function_runs_hourly_with_retries_and_a_dead_letter_queue(
    platform_template: dict[str, Any],
) -> None:
    function = tq.logical(platform_template, "AWS::Lambda::Function", "PerformanceChecker")
    rules = [
        r["Properties"]
        for r in tq.resources(platform_template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert len(rules) == 1 and rules[0]["ScheduleExpression"] == "rate(1 hour)"
    target = rules[0]["Targets"][0]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
    props = tq.one(platform_template, "AWS::Lambda::Function", "PerformanceChecker")[1]["Properties"]
    assert props["Handler"] == "handlers.performance.handler" and "ReservedConcurrentExecutions" not in props
    queue = tq.logical(platform_template, "AWS::SQS::Queue", "MonitoringDeadLetters")
    assert props["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    variables = props["Environment"]["Variables"]
    assert (variables["CAPTURE_LAG_HOURS"], variables["LABEL_SETTLE_SECONDS"]) == ("2", "0")  # the local synth's


def test_the_performance_function_reads_labels_and_capture_and_writes_joined_hours_only(
    platform_template: dict[str, Any],
) -> None:
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    grants = {
        (a, r)
        for a, r in tq.grants(platform_template, "PerformanceChecker")
        if not a.startswith(("logs:", "xray:", "kms:"))
    }
    assert grants == {
        ("dynamodb:GetItem", f"<{table}.Arn>"),
        ("dynamodb:Query", f"<{table}.Arn>"),
        ("dynamodb:UpdateItem", f"<{table}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:Query", f"<{table}.Arn>/index/*"),
        ("dynamodb:UpdateItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:PutItem", f"<{table}.Arn>"),  # a check's row
        ("dynamodb:PutItem", f"<{table}.Arn>/index/*"),
        # An A/B check ending a canary: the alias moved or removed with its audit event, in one transaction.
        ("dynamodb:DeleteItem", f"<{table}.Arn>"),
        ("dynamodb:DeleteItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:ConditionCheckItem", f"<{table}.Arn>"),
        ("dynamodb:ConditionCheckItem", f"<{table}.Arn>/index/*"),
        ("s3:PutObject", f"<{artifacts}.Arn>/reports/performance/*"),
        # The feedback loop: the champion's columns, the upload ingestion checks, and a drop's retraining.
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/signature.json"),
        ("s3:PutObject", f"<{tq.logical(platform_template, 'AWS::S3::Bucket', 'DataRaw')}.Arn>/raw/*/feedback-*"),
        (
            "states:StartExecution",
            f"<{tq.logical(platform_template, 'AWS::StepFunctions::StateMachine', 'TrainingPipeline')}>",
        ),
        ("sns:Publish", f"<{tq.logical(platform_template, 'AWS::SNS::Topic', 'MonitoringAlerts')}>"),
        ("s3:GetObject", f"<{artifacts}.Arn>/labels/*"),
        ("s3:GetObject", f"<{artifacts}.Arn>/capture/*"),
        ("s3:GetObject", f"<{artifacts}.Arn>/joined/*"),
        ("s3:PutObject", f"<{artifacts}.Arn>/joined/*"),
        ("s3:ListBucket", f"<{artifacts}.Arn>"),
        ("sqs:SendMessage", f"<{tq.logical(platform_template, 'AWS::SQS::Queue', 'MonitoringDeadLetters')}.Arn>"),
    }, grants
    role = tq.logical(platform_template, "AWS::IAM::Role", "PerformanceCheckerRole")
    listing = [
        statement["Condition"]
        for policy in tq.resources(platform_template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "s3:ListBucket"
    ]
    assert sorted(c["StringLike"]["s3:prefix"][0] for c in listing) == ["capture/*", "joined/*", "labels/*"]


def test_errors_of_the_performance_function_show_on_the_dashboard(platform_template: dict[str, Any]) -> None:
    """Its errors and throttles alarm through the pair on every function (tests/infra/test_alerts.py);
    the dashboard's errors by function names it."""
    function = tq.logical(platform_template, "AWS::Lambda::Function", "PerformanceChecker")
    (dashboard,) = tq.resources(platform_template, "AWS::CloudWatch::Dashboard").values()
    assert function in json.dumps(dashboard["Properties"]["DashboardBody"])


def test_a_capture_lag_shorter_than_a_batch_may_wait_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"platform\.monitoring: .*capture_max_age_seconds"):
        load_settings({"serving": {"capture_max_age_seconds": 3600}, "monitoring": {"capture_lag_hours": 0.5}})
    assert load_settings({"monitoring": {"capture_lag_hours": 1, "performance_check_minutes": 30}}).monitoring
