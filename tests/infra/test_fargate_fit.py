"""The Fargate fit task in the synthesized template: an arm64 task of the configured default size on
a public image with no Docker build, roles granted exactly what the fit needs, a VPC with no NAT
gateway, and the training Map choosing between the fit Lambda and runTask.sync per candidate."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.constructs.fargate_fit import DEFAULT_CPU, DEFAULT_MEMORY_MIB, pinned_image
from infra.settings import FIT_TASK_IMAGE, SettingsError, load_settings
from tests.infra import template_queries as tq


def _role_grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for policy in tq.resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in tq.as_list(statement["Action"]):
                for resource in tq.as_list(statement["Resource"]):
                    pairs.add((action, json.dumps(resource, sort_keys=True)))
    return pairs


def _task(template: dict[str, Any]) -> dict[str, Any]:
    return dict(tq.one(template, "AWS::ECS::TaskDefinition", "TrainingFargateFitTask")[1]["Properties"])


def test_the_task_is_an_arm64_fargate_task_on_a_public_python_image(platform_template: dict[str, Any]) -> None:
    task = _task(platform_template)
    assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert (task["Cpu"], task["Memory"]) == (str(DEFAULT_CPU), str(DEFAULT_MEMORY_MIB))
    (container,) = task["ContainerDefinitions"]
    # Pinned by digest, in the form ECS documents for one ("repository-url/image@digest",
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html): a task never
    # runs a newer build of the tag than the one this code was tested with. No image is built.
    assert container["Image"] == pinned_image(FIT_TASK_IMAGE)
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python@sha256:[0-9a-f]{64}", container["Image"])
    assert FIT_TASK_IMAGE.startswith("public.ecr.aws/lambda/python:3.12@sha256:")
    assert container["EntryPoint"] == ["python3", "-c"]
    assert "runpy.run_module" in container["Command"][0], "the bootstrap fetches the code and runs it"
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["FIT_ENTRY_MODULE"] == "handlers.fit_task"
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "fit"


def test_the_task_fetches_the_fit_lambdas_own_code_and_layers(platform_template: dict[str, Any]) -> None:
    (container,) = _task(platform_template)["ContainerDefinitions"]
    assets = next(e["Value"] for e in container["Environment"] if e["Name"] == "FIT_ASSETS")
    parts = [p for p in assets["Fn::Join"][1] if isinstance(p, str)]
    keys = [k for part in parts for k in part.split() if k.endswith(".zip") or ".zip" in k]
    function = tq.one(platform_template, "AWS::Lambda::Function", "TrainingFitCandidateFunction")[1]["Properties"]
    layer_keys = [
        platform_template["Resources"][layer["Ref"]]["Properties"]["Content"]["S3Key"] for layer in function["Layers"]
    ]
    joined = "".join(parts)
    for key in [function["Code"]["S3Key"], *layer_keys]:
        assert key in joined, f"{key} is not fetched by the task"
    assert keys, "asset keys are in the task's environment"


def test_the_task_role_reads_its_assets_and_the_runs_artifacts_and_nothing_else(
    platform_template: dict[str, Any],
) -> None:
    task = _task(platform_template)
    task_role = task["TaskRoleArn"]["Fn::GetAtt"][0]
    grants = _role_grants(platform_template, task_role)
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    assert {a for a, _ in grants} == {"s3:GetObject", "s3:PutObject"}
    put = {r for a, r in grants if a == "s3:PutObject"}
    assert len(put) == 1 and artifacts in next(iter(put)) and "/models/*" in next(iter(put))
    reads = {r for a, r in grants if a == "s3:GetObject"}
    function = tq.one(platform_template, "AWS::Lambda::Function", "TrainingFitCandidateFunction")[1]["Properties"]
    assert len(reads) == 2 + len(function["Layers"]), "the run's artifacts, the code asset and each layer asset"
    assert all("cdk-hnb659fds-assets" in r and ".zip" in r for r in reads if artifacts not in r)
    execution_role = task["ExecutionRoleArn"]["Fn::GetAtt"][0]
    logs = {a for a, _ in _role_grants(platform_template, execution_role)}
    assert logs == {"logs:CreateLogStream", "logs:PutLogEvents"}, "the execution role only writes the logs"


def test_the_network_has_public_subnets_only_no_nat_and_no_inbound_rule(platform_template: dict[str, Any]) -> None:
    assert tq.resources(platform_template, "AWS::EC2::NatGateway") == {}
    assert tq.resources(platform_template, "AWS::EC2::EIP") == {}
    subnets = tq.resources(platform_template, "AWS::EC2::Subnet")
    assert len(subnets) == 2 and all(s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())
    (group,) = [
        g["Properties"]
        for g in tq.resources(platform_template, "AWS::EC2::SecurityGroup").values()
        if "Fargate fit" in g["Properties"]["GroupDescription"]
    ]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to AWS APIs and the image",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_each_candidate_goes_to_the_fit_lambda_or_to_run_task_sync(platform_template: dict[str, Any]) -> None:
    _, machine = tq.one(platform_template, "AWS::StepFunctions::StateMachine", "TrainingPipeline")
    body = machine["Properties"]["DefinitionString"]
    text = json.dumps(body)
    assert "arn:aws:states:::ecs:runTask.sync" in text or ":states:::ecs:runTask.sync" in text
    for needle in ('"Fit where?"', "$.fit.runs_on", "States.ArrayGetItem($.run.fits, $$.Map.Item.Index)"):
        assert needle.replace('"', '\\"') in text or needle in text, needle
    assert "FIT_INPUT_KEY" in text and "$.fit.input_key" in text, "the overrides carry only the input's key"
    assert '\\"AssignPublicIp\\":\\"ENABLED\\"' in text and "LATEST" in text
    # A runaway fit fails its own candidate before the pipeline's 2-hour limit ends the whole run.
    assert '\\"Fit on Fargate\\":{' in text and '\\"TimeoutSeconds\\":5400' in text


def test_a_fit_task_image_without_a_digest_is_refused_and_one_with_a_digest_is_used(
    platform_template: dict[str, Any],
) -> None:
    with pytest.raises(SettingsError, match="fit_task_image"):
        load_settings({"fit_task_image": "public.ecr.aws/lambda/python:3.12"})  # a tag moves
    digest = "sha256:" + "ab" * 32
    assert load_settings({"fit_task_image": f"public.ecr.aws/lambda/python:3.13@{digest}"}).fit_task_image
    assert pinned_image(f"public.ecr.aws/lambda/python:3.13@{digest}") == f"public.ecr.aws/lambda/python@{digest}"
    assert pinned_image(f"localhost:5000/python@{digest}") == f"localhost:5000/python@{digest}"


def test_the_vpcs_default_security_group_is_stripped_of_its_rules(platform_template: dict[str, Any]) -> None:
    """A VPC's default security group allows all traffic from itself and all traffic out; CloudFormation
    cannot change that, CDK's custom resource revokes both rules (restrictDefaultSecurityGroup)."""
    (vpc,) = tq.resources(platform_template, "AWS::EC2::VPC")
    (restrict,) = tq.resources(platform_template, "Custom::VpcRestrictDefaultSG").values()
    assert restrict["Properties"]["DefaultSecurityGroupId"] == {"Fn::GetAtt": [vpc, "DefaultSecurityGroup"]}
