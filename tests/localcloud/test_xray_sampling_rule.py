"""AWS::XRay::SamplingRule in the local cloud (`localcloud/cloudformation/xray_types.py`): moto's
CloudFormation skips it and its X-Ray has no sampling-rule API, so a stack naming one deployed with a
warning and a resource without a type (`make demo` fell over on it). Now the rule deploys with its
ARN, and one X-Ray would refuse fails the stack, naming what is wrong.

X-Ray's limits: https://docs.aws.amazon.com/xray/latest/api/API_SamplingRule.html (RuleName 1-32
characters, FixedRate 0-1, ReservoirSize >= 0, Priority 1-9999, Version 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_xray as xray

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployError, synthesize


def _rule_app(fixed_rate: float, **app_options: Any) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(**app_options)
    stack = cdk.Stack(app, f"SamplingProbe{int(fixed_rate * 100)}")
    xray.CfnSamplingRule(
        stack,
        "Rule",
        sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
            rule_name="probe-api",
            priority=1000,
            fixed_rate=fixed_rate,
            reservoir_size=0,
            service_name="probe-api/prod",
            service_type="AWS::ApiGateway::Stage",
            host="*",
            http_method="*",
            url_path="*",
            resource_arn="*",
            version=1,
        ),
    )
    cdk.CfnOutput(stack, "RuleArn", value=cdk.Fn.get_att("Rule", "RuleARN").to_string())
    return app, stack


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as running:
        yield running


def test_a_sampling_rule_deploys_with_its_arn_and_no_warning(cloud: LocalCloud) -> None:
    stack = cloud.deploy(synthesize(lambda **options: _rule_app(0.01, **options)))
    assert stack.warnings == []
    assert stack.outputs["RuleArn"].endswith(":sampling-rule/probe-api")
    resources = boto3.client("cloudformation").describe_stack_resources(StackName=stack.stack_name)
    assert [r["ResourceType"] for r in resources["StackResources"]] == ["AWS::XRay::SamplingRule"]


def test_a_rule_xray_would_refuse_fails_the_stack_naming_the_field(cloud: LocalCloud) -> None:
    with pytest.raises(DeployError, match=r"FixedRate 1\.5 must be between 0 and 1"):
        cloud.deploy(synthesize(lambda **options: _rule_app(1.5, **options)))
