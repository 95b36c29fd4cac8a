"""Security by default, read off the synthesized template: every route needs a credential, every
role names the resources it uses (wildcards only where AWS offers nothing narrower, each justified
here), no secret sits in an environment variable, every log is bounded, every async path has a
dead-letter queue."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import template_queries as tq

# Actions AWS only authorizes on "*" (no resource-level permissions), and why each is needed.
WILDCARD_ONLY_ACTIONS = {
    "xray:PutTraceSegments": "every function traces with X-Ray",
    "xray:PutTelemetryRecords": "every function traces with X-Ray",
    "xray:GetSamplingRules": "the state machine traces with X-Ray",
    "xray:GetSamplingTargets": "the state machine traces with X-Ray",
    "logs:CreateLogDelivery": "Step Functions delivers execution logs (vended logs take no resource)",
    "logs:DeleteLogDelivery": "Step Functions execution logs",
    "logs:DescribeLogGroups": "Step Functions execution logs",
    "logs:DescribeResourcePolicies": "Step Functions execution logs",
    "logs:GetLogDelivery": "Step Functions execution logs",
    "logs:ListLogDeliveries": "Step Functions execution logs",
    "logs:PutResourcePolicy": "Step Functions execution logs",
    "logs:UpdateLogDelivery": "Step Functions execution logs",
    "s3:PutBucketNotification": "CDK's deploy-time handler that writes bucket notifications",
    "ecs:DescribeTasks": "runTask.sync watches the Fargate fit task it started (its ARN exists only then)",
    "ecs:StopTask": "runTask.sync stops the Fargate fit task when the execution stops",
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|CREDENTIAL", re.IGNORECASE)
SECRET_VALUE = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}|-----BEGIN|[A-Za-z0-9/+]{40}")


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical, policy in tq.resources(template, "AWS::IAM::Policy").items():
        found += [(logical, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for logical, role in tq.resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            found += [(logical, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def test_no_route_answers_without_a_credential(platform_template: dict[str, Any]) -> None:
    methods = tq.resources(platform_template, "AWS::ApiGateway::Method")
    assert methods
    for logical, method in methods.items():
        props = method["Properties"]
        authorized = props.get("AuthorizationType", "NONE") != "NONE" or props.get("ApiKeyRequired") is True
        assert authorized, f"{logical} ({props['HttpMethod']}) answers without a key or a signature"


@pytest.mark.parametrize("front_door", ["function_url", "rest"])
def test_registry_routes_need_iam_and_prediction_routes_an_api_key(
    platform_template: dict[str, Any], rest_template: dict[str, Any], front_door: str
) -> None:
    """Under the function URL every REST route takes IAM (health included: no key exists); under
    `rest` the prediction routes and health take the key."""
    template = rest_template if front_door == "rest" else platform_template
    for method in tq.resources(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        target = str(props.get("Integration", {}).get("Uri", ""))
        if "RegistryApiHandler" in target or front_door == "function_url":
            assert props["AuthorizationType"] == "AWS_IAM" and not props.get("ApiKeyRequired")
        elif "ServingPredict" in target or "ServingHealth" in target:
            assert props.get("ApiKeyRequired") is True


def test_every_policy_names_its_resources_except_where_aws_allows_only_a_wildcard(
    platform_template: dict[str, Any],
) -> None:
    for logical, statement in _statements(platform_template):
        assert statement["Effect"] == "Allow", logical
        actions = tq.as_list(statement["Action"])
        assert not [a for a in actions if a == "*" or a.endswith(":*")], f"{logical}: {actions}"
        if "*" in tq.as_list(statement.get("Resource", [])):
            unjustified = [a for a in actions if a not in WILDCARD_ONLY_ACTIONS]
            assert not unjustified, f"{logical} grants {unjustified} on '*'"


def test_no_secret_in_an_environment_variable(platform_template: dict[str, Any]) -> None:
    for logical, function in tq.resources(platform_template, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            assert not SECRET_NAME.search(name), f"{logical}: {name} looks like a secret"
            if isinstance(value, str) and name != "CODE_ASSET_HASH":  # the code's S3Key in this template (test_lineage)
                assert not SECRET_VALUE.search(value), f"{logical}: {name} holds what looks like a credential"


def test_every_log_group_has_a_retention_and_the_platform_key(platform_template: dict[str, Any]) -> None:
    groups = tq.resources(platform_template, "AWS::Logs::LogGroup")
    assert groups
    assert not [k for k, g in groups.items() if "RetentionInDays" not in g["Properties"]]
    key = tq.logical(platform_template, "AWS::KMS::Key", "EncryptionKey")
    assert not [k for k, g in groups.items() if g["Properties"].get("KmsKeyId") != {"Fn::GetAtt": [key, "Arn"]}]


def test_cloudwatch_logs_may_use_the_key_only_for_this_accounts_log_groups(platform_template: dict[str, Any]) -> None:
    """CloudWatch Logs encrypts with the key itself, so the key policy must allow its regional
    principal, or creating an encrypted log group fails the deploy."""
    _, key = tq.one(platform_template, "AWS::KMS::Key", "EncryptionKey")
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowCloudWatchLogsForThisAccountsLogGroups"
    ]
    assert tq.render(statement["Principal"]["Service"]) == "logs.<AWS::Region>.amazonaws.com"
    assert tq.render(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]) == (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*"
    )


def test_roles_that_use_the_registry_table_may_use_its_key_only_through_dynamodb(
    platform_template: dict[str, Any],
) -> None:
    """DynamoDB uses the table's customer-managed key on the caller's behalf: a role without key
    access is refused every item it reads or writes."""
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    key = tq.logical(platform_template, "AWS::KMS::Key", "EncryptionKey")
    users = 0
    for logical, policy in tq.resources(platform_template, "AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        uses_table = [s for s in statements if {"Fn::GetAtt": [table, "Arn"]} in tq.as_list(s["Resource"])]
        if not uses_table:
            continue
        users += 1
        via_dynamodb = [
            s
            for s in statements
            if s["Resource"] == {"Fn::GetAtt": [key, "Arn"]}
            and tq.render(s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", ""))
            == "dynamodb.<AWS::Region>.amazonaws.com"
        ]
        granted = {a for s in via_dynamodb for a in tq.as_list(s["Action"])}
        assert {"kms:Decrypt", "kms:DescribeKey"} <= granted, logical
        writes = {a for s in uses_table for a in tq.as_list(s["Action"])} & {"dynamodb:PutItem", "dynamodb:UpdateItem"}
        if writes:
            assert {"kms:Encrypt", "kms:GenerateDataKey"} <= granted, logical
    assert users >= 10


def test_every_asynchronously_invoked_function_has_a_dead_letter_queue(platform_template: dict[str, Any]) -> None:
    functions = tq.resources(platform_template, "AWS::Lambda::Function")
    invoked_async = set()
    for rule in tq.resources(platform_template, "AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            arn = target["Arn"]
            if isinstance(arn, dict) and "Fn::GetAtt" in arn and arn["Fn::GetAtt"][0] in functions:
                assert "DeadLetterConfig" in target, f"the schedule of {arn['Fn::GetAtt'][0]} has no DLQ"
                invoked_async.add(arn["Fn::GetAtt"][0])
    for permission in tq.resources(platform_template, "AWS::Lambda::Permission").values():
        if permission["Properties"]["Principal"] == "s3.amazonaws.com":
            invoked_async.add(permission["Properties"]["FunctionName"]["Fn::GetAtt"][0])
    assert len(invoked_async) >= 3  # ingest, batch scoring, drift
    for logical in invoked_async:
        if logical.startswith("BucketNotificationsHandler"):
            continue
        assert "DeadLetterConfig" in functions[logical]["Properties"], f"{logical} has no dead-letter queue"
