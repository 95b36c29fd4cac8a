"""IAM policy evaluation as AWS documents it (reference_policies_evaluation-logic.html and
reference_policies_elements_condition_operators.html in the IAM User Guide), on the statements this
platform's template writes."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.iam.policies import Decision, Request, UnsupportedConditionError, evaluate, wildcard_match

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/registry"


def _policy(*statements: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_an_allow_on_the_exact_resource_allows_and_nothing_else_does() -> None:
    policy = _policy({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": TABLE})
    assert evaluate([policy], Request("dynamodb:GetItem", TABLE)) is Decision.ALLOW
    assert evaluate([policy], Request("dynamodb:getitem", TABLE)) is Decision.ALLOW, "actions ignore case"
    assert evaluate([policy], Request("dynamodb:DeleteItem", TABLE)) is Decision.IMPLICIT_DENY
    assert evaluate([policy], Request("dynamodb:GetItem", TABLE + "-other")) is Decision.IMPLICIT_DENY
    assert evaluate([policy], Request("dynamodb:Query", TABLE + "/index/gsi1")) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow() -> None:
    allow = _policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    deny = _policy({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"})
    assert evaluate([allow, deny], Request("s3:DeleteObject", "arn:aws:s3:::b/k")) is Decision.DENY
    assert evaluate([allow, deny], Request("s3:GetObject", "arn:aws:s3:::b/k")) is Decision.ALLOW


def test_wildcards_and_not_elements() -> None:
    assert wildcard_match("arn:aws:s3:::b/models/*", "arn:aws:s3:::b/models/x/y.onnx")
    assert not wildcard_match("arn:aws:s3:::b/models/*", "arn:aws:s3:::b/capture/x")
    assert wildcard_match("arn:aws:lambda:*:*:function:fn?", "arn:aws:lambda:us-east-1:1:function:fn2")
    assert not wildcard_match("a.b", "axb"), "only * and ? are special"
    policy = _policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::data/k")) is Decision.ALLOW
    assert evaluate([policy], Request("iam:CreateUser", "*")) is Decision.IMPLICIT_DENY
    assert evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::secret/k")) is Decision.IMPLICIT_DENY


def test_a_failing_condition_makes_an_allow_not_apply_rather_than_deny() -> None:
    """moto turned a failed condition into a Deny; AWS simply does not apply the statement."""
    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"StringLike": {"s3:prefix": ["capture/*"]}},
    }
    everything = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
    request = Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "secret/"})
    assert evaluate([_policy(listing)], request) is Decision.IMPLICIT_DENY
    assert evaluate([_policy(listing, everything)], request) is Decision.ALLOW
    assert evaluate([_policy(listing)], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "capture/m/"})) is (
        Decision.ALLOW
    )


def test_missing_keys_if_exists_null_and_negated_operators() -> None:
    def holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
        policy = _policy({"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": condition})
        return evaluate([policy], Request("x:Y", "r", context)) is Decision.ALLOW

    assert not holds({"StringEquals": {"aws:SourceAccount": "1"}}, {}), "a missing key does not match"
    assert holds({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {})
    assert holds({"StringNotEquals": {"aws:SourceAccount": "1"}}, {}), "a negated operator on a missing key holds"
    assert holds({"Null": {"aws:SourceArn": "true"}}, {})
    assert not holds({"Null": {"aws:SourceArn": "true"}}, {"aws:SourceArn": "a"})
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "true"}), "keys ignore case"
    assert holds(
        {"ArnLike": {"aws:SourceArn": ["arn:aws:s3:::x", "arn:aws:s3:::y*"]}}, {"aws:SourceArn": "arn:aws:s3:::yz"}
    )
    assert not holds(
        {"StringEquals": {"aws:SourceAccount": "1"}, "ArnLike": {"aws:SourceArn": "a*"}}, {"aws:SourceAccount": "1"}
    ), "every operator must hold"
    with pytest.raises(UnsupportedConditionError):
        holds({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.1.1"})


def test_resource_policies_name_the_service_that_may_act() -> None:
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerlessMlops-DeadLetters-1"
    topic_policy = _policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:123456789012:alerts",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:123456789012:alerts",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}, "ArnLike": {"aws:SourceArn": [alarm]}},
        },
    )
    context = {"aws:SourceAccount": "123456789012", "aws:SourceArn": alarm, "aws:SecureTransport": "true"}

    def request(service: str, **changes: str) -> Request:
        return Request(
            "sns:Publish",
            "arn:aws:sns:us-east-1:123456789012:alerts",
            {**context, **changes},
            service_principal=service,
        )

    assert evaluate([topic_policy], request("cloudwatch.amazonaws.com")) is Decision.ALLOW
    assert evaluate([topic_policy], request("events.amazonaws.com")) is Decision.IMPLICIT_DENY
    assert evaluate([topic_policy], request("cloudwatch.amazonaws.com", **{"aws:SourceArn": alarm + "x"})) is (
        Decision.IMPLICIT_DENY
    ), "another stack's alarm"
    assert evaluate([topic_policy], request("cloudwatch.amazonaws.com", **{"aws:SecureTransport": "false"})) is (
        Decision.DENY
    )
    everyone = _policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "*"})
    assert evaluate([everyone], request("cloudwatch.amazonaws.com")) is Decision.ALLOW, '{"AWS": "*"} is everyone'
