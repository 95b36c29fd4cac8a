"""CDK's Node.js custom-resource providers, which the local Lambda runtime cannot run, stood in for in
Python (`localcloud/cloudformation/cdk_providers.py`): a VPC with `restrict_default_security_group`
deploys, and its default security group keeps no rule, as on AWS; a refused call fails the stack.

What AWS does: a VPC's default security group allows all inbound traffic from itself and all
outbound traffic, and CloudFormation cannot change it (https://docs.aws.amazon.com/vpc/latest/
userguide/default-security-group.html); CDK's provider revokes both rules with the EC2 API
(aws-cdk, custom-resource-handlers/lib/aws-ec2/restrict-default-security-group-handler).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_ec2 as ec2

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployError, Synthesized, synthesize


def _vpc_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(context=context, outdir=outdir)
    stack = cdk.Stack(app, "RestrictedVpcProbe")
    ec2.Vpc(
        stack,
        "Network",
        max_azs=1,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        restrict_default_security_group=True,
    )
    return app, stack


@pytest.fixture(scope="module")
def vpc_synth() -> Synthesized:
    return synthesize(_vpc_app)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as running:
        yield running


def _default_group(vpc_id: str) -> dict[str, Any]:
    groups = boto3.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    [group] = groups
    return dict(group)


def test_a_restricted_vpcs_default_security_group_keeps_no_rule(cloud: LocalCloud, vpc_synth: Synthesized) -> None:
    stack = cloud.deploy(vpc_synth)
    [vpc_id] = [
        r["PhysicalResourceId"]
        for r in boto3.client("cloudformation").describe_stack_resources(StackName=stack.stack_name)["StackResources"]
        if r["ResourceType"] == "AWS::EC2::VPC"
    ]
    restricted = _default_group(vpc_id)
    assert restricted["IpPermissions"] == [] and restricted["IpPermissionsEgress"] == []
    # A VPC made without the setting keeps its egress rule: what the provider removed was there. (moto's
    # default group has no ingress rule from itself, which AWS's has; measured with moto 5.2.5.)
    other = boto3.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    unrestricted = _default_group(other)
    assert [r["CidrIp"] for p in unrestricted["IpPermissionsEgress"] for r in p["IpRanges"]] == ["0.0.0.0/0"]


def test_another_group_is_refused_by_the_providers_role_and_fails_the_stack_naming_why(
    cloud: LocalCloud, vpc_synth: Synthesized
) -> None:
    # CDK grants the provider the rule changes on this VPC's default group's ARN only, and EC2 checks the
    # group's ARN for them (Service Authorization Reference, Amazon EC2: security-group).
    broken = copy.deepcopy(vpc_synth)
    for resource in broken.template["Resources"].values():
        if resource["Type"] == "Custom::VpcRestrictDefaultSG":
            resource["Properties"]["DefaultSecurityGroupId"] = "sg-0123456789abcdef0"
    refusal = "AccessDenied.*ec2:RevokeSecurityGroupEgress on resource: .*security-group/sg-0123456789abcdef0"
    with pytest.raises(DeployError, match=refusal):
        cloud.deploy(broken)
    [stack] = boto3.client("cloudformation").describe_stacks(StackName="RestrictedVpcProbe")["Stacks"]
    assert stack["StackStatus"] == "CREATE_FAILED"
