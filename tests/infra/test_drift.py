"""Drift monitoring in the synthesized template: the schedule, the function's exact grants, and the
alarms #8 asks for (dataset drift, API errors and latency, failed training, dead letters)."""

from __future__ import annotations

from typing import Any

from tests.infra import template_queries as tq


def test_the_drift_function_runs_on_a_schedule_with_retries_and_a_dead_letter_queue(
    platform_template: dict[str, Any],
) -> None:
    function = tq.logical(platform_template, "AWS::Lambda::Function", "DriftChecker")
    rules = [
        r["Properties"]
        for r in tq.resources(platform_template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert len(rules) == 1 and rules[0]["ScheduleExpression"] == "rate(1 hour)"
    target = rules[0]["Targets"][0]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
    props = tq.one(platform_template, "AWS::Lambda::Function", "DriftChecker")[1]["Properties"]
    assert props["Handler"] == "handlers.drift.handler" and "ReservedConcurrentExecutions" not in props


def test_the_drift_function_reads_models_and_capture_writes_reports_and_starts_training_only(
    platform_template: dict[str, Any],
) -> None:
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    machine = tq.logical(platform_template, "AWS::StepFunctions::StateMachine", "Training")
    grants = {(a, r) for a, r in tq.grants(platform_template, "DriftChecker") if not a.startswith(("logs:", "xray:"))}
    expected = {
        ("dynamodb:GetItem", f"<{table}.Arn>"),
        ("dynamodb:Query", f"<{table}.Arn>"),
        ("dynamodb:PutItem", f"<{table}.Arn>"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/profile.json"),
        ("s3:GetObject", f"<{artifacts}.Arn>/capture/*"),
        ("s3:PutObject", f"<{artifacts}.Arn>/reports/drift/*"),
        ("s3:ListBucket", f"<{artifacts}.Arn>"),
        ("states:StartExecution", f"<{machine}>"),
    }
    assert expected <= grants
    rest = grants - expected
    assert {a for a, _ in rest} <= {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "sns:Publish",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "sqs:SendMessage",
    }, rest
    assert not [a for a, _ in grants if a.endswith(":*")]
    listing = [
        statement
        for policy in tq.resources(platform_template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "s3:ListBucket"
        and statement["Resource"] == {"Fn::GetAtt": [artifacts, "Arn"]}
        and "Condition" in statement
    ]
    assert {"StringLike": {"s3:prefix": ["capture/*"]}} in [s["Condition"] for s in listing]


def test_monitoring_alarms_cover_drift_api_errors_latency_training_and_dead_letters(
    platform_template: dict[str, Any],
) -> None:
    topic = {"Ref": tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")}
    alarms = {k: v["Properties"] for k, v in tq.resources(platform_template, "AWS::CloudWatch::Alarm").items()}
    by_metric = {(p.get("Namespace"), p.get("MetricName")): p for p in alarms.values()}
    for key in (
        ("ServerlessMlops", "DatasetDrift"),
        ("ServerlessMlops", "RefusedShareExceeded"),
        ("AWS/Lambda", "Url5xxCount"),  # the predict function URL: the default front door
        ("AWS/Lambda", "UrlRequestLatency"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ):
        assert key in by_metric, key
        assert topic in by_metric[key]["AlarmActions"]
    assert by_metric[("AWS/Lambda", "UrlRequestLatency")]["ExtendedStatistic"] == "p99"
    drift = by_metric[("ServerlessMlops", "DatasetDrift")]
    assert drift["Dimensions"] == [{"Name": "service", "Value": "monitoring"}] and drift["Statistic"] == "Maximum"
    refused = by_metric[("ServerlessMlops", "RefusedShareExceeded")]  # one per stack; each model's threshold decides
    assert refused["Dimensions"] == drift["Dimensions"] and (refused["Statistic"], refused["Threshold"]) == (
        "Maximum",
        1,
    )
