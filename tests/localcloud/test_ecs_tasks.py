"""ECS tasks in the local cloud: RunTask runs the container's command, Step Functions' runTask.sync
waits for it (issue #20, item 5).

Each test builds what a user builds with boto3 (roles, a cluster, a Fargate task definition whose
command runs `tests/localcloud/ecs_task_probe.py`, a state machine) in an in-process local cloud, and
reads what a user reads: the execution's status, error and cause, the object the task wrote with its
role, the task's lines in CloudWatch Logs, and DescribeTasks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import ecs
from localcloud.cloud import LocalCloud
from localcloud.ecs.fargate_sizes import fargate_size_refusal

BUCKET = "task-output"
LOG_GROUP = "/ecs/probe"
PROBE = ["python", "-m", "tests.localcloud.ecs_task_probe"]


@dataclass
class Setup:
    """What the tests' account holds: roles, a network, a cluster, the probe's task definition."""

    task_definition: str
    subnet: str
    security_group: str
    machine_role: str
    task_role: str
    execution_role: str


def _role(name: str, service: str, actions: list[str], resource: str = "*") -> str:
    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return str(arn)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl"):
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="task", Description="no inbound", VpcId=vpc)["GroupId"]
        boto3.client("ecs").create_cluster(clusterName="training")
        task_role = _role("fit-task", "ecs-tasks.amazonaws.com", ["s3:PutObject"], f"arn:aws:s3:::{BUCKET}/models/*")
        execution_role = _role(
            "fit-execution", "ecs-tasks.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"]
        )
        machine_role = _role(
            "fit-machine", "states.amazonaws.com", ["ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "iam:PassRole"]
        )
        definition = register_probe(task_role, execution_role)
        yield Setup(definition, subnet, group, machine_role, task_role, execution_role)


def register_probe(task_role: str | None, execution_role: str, *, log_group: str = LOG_GROUP) -> str:
    answer = boto3.client("ecs").register_task_definition(
        family="probe",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn=execution_role,
        **({"taskRoleArn": task_role} if task_role else {}),
        containerDefinitions=[
            {
                "name": "fit",
                "image": "public.ecr.aws/docker/library/python:3.12-slim",
                "command": [*PROBE, "exit", "0"],
                "environment": [{"name": "PROBE_WRITER", "value": "the task definition"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "train",
                    },
                },
            }
        ],
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def run_machine(setup: Setup, command: list[str], *, environment: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A one-state machine running the probe with `command` through runTask.sync; the finished execution."""
    overrides: dict[str, Any] = {"Name": "fit", "Command.$": "$.command"}
    if environment is not None:
        overrides["Environment"] = environment
    definition = {
        "StartAt": "Fit",
        "States": {
            "Fit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Parameters": {
                    "Cluster": "training",
                    "TaskDefinition": setup.task_definition,
                    "LaunchType": "FARGATE",
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {"Subnets": [setup.subnet], "SecurityGroups": [setup.security_group]}
                    },
                    "Overrides": {"ContainerOverrides": [overrides]},
                },
                "End": True,
            }
        },
    }
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"fit-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=setup.machine_role
    )
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="run-1", input=json.dumps({"command": command})
    )
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish in 60 s"
        time.sleep(0.1)
    return dict(described)


def run_task(
    setup: Setup, *, definition: str | None = None, network: dict[str, Any] | None = None, **extra: Any
) -> str:
    """RunTask of the probe on Fargate, as a user calls it; the task's ARN."""
    answer = boto3.client("ecs").run_task(
        cluster="training",
        taskDefinition=definition or setup.task_definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": network or {"subnets": [setup.subnet]}},
        **extra,
    )
    return str(answer["tasks"][0]["taskArn"])


def log_lines(task_arn: str) -> list[str]:
    stream = f"train/fit/{task_arn.rsplit('/', 1)[-1]}"  # awslogs: prefix/container-name/task-id
    events = boto3.client("logs").get_log_events(logGroupName=LOG_GROUP, logStreamName=stream)["events"]
    return [e["message"] for e in events]


def described_task(task_arn: str) -> dict[str, Any]:
    return dict(boto3.client("ecs").describe_tasks(cluster="training", tasks=[task_arn])["tasks"][0])


def test_a_sync_state_succeeds_when_the_task_exits_0_and_the_task_wrote_with_its_role(setup: Setup) -> None:
    # Step Functions "Run a Job (.sync)": the state waits for the task to stop and returns its description
    # (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html,
    #  https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-sync); an override's
    # environment entry replaces the definition's variable of that name
    # (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerOverride.html).
    execution = run_machine(
        setup,
        [*PROBE, "write", BUCKET, "models/v1.txt"],
        environment=[{"Name": "PROBE_WRITER", "Value": "the override"}],
    )

    assert execution["status"] == "SUCCEEDED"
    task = json.loads(execution["output"])
    assert task["LastStatus"] == "STOPPED" and task["StopCode"] == "EssentialContainerExited"
    assert task["Containers"][0]["ExitCode"] == 0
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key="models/v1.txt")["Body"].read()
    assert body == b"written by the override"
    # awslogs: stream <prefix>/<container>/<task id> (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html)
    assert log_lines(task["TaskArn"]) == [
        "probe write starting in AWS_ECS_FARGATE",
        f"wrote s3://{BUCKET}/models/v1.txt",
    ]
    stopped = described_task(task["TaskArn"])
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert stopped["stoppedReason"] == "Essential container in task exited"


def test_a_non_zero_exit_fails_the_state_with_the_stopped_task_as_its_cause(setup: Setup) -> None:
    # An essential container exiting non-zero fails a .sync state with States.TaskFailed; the cause is the
    # stopped task's description (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html,
    # stop codes: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
    execution = run_machine(setup, [*PROBE, "exit", "3"])

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.TaskFailed"
    cause = json.loads(execution["cause"])
    assert cause["StopCode"] == "EssentialContainerExited"
    assert cause["StoppedReason"] == "Essential container in task exited"
    assert [(c["Name"], c["ExitCode"]) for c in cause["Containers"]] == [("fit", 3)]
    # stdout and stderr are two pipes, as a container's are: within one millisecond their lines may
    # reach the stream in either order (CloudWatch orders events by timestamp only).
    assert sorted(log_lines(cause["TaskArn"])) == ["failing on purpose", "probe exit starting in AWS_ECS_FARGATE"]
    assert described_task(cause["TaskArn"])["containers"][0]["exitCode"] == 3


def test_a_container_past_its_memory_is_killed_as_ecs_reports_an_out_of_memory_kill(setup: Setup) -> None:
    # A container using more memory than its limit is killed: exit code 137 and the container's reason
    # "OutOfMemoryError: Container killed due to memory usage"
    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/out-of-memory.html). The task has 512 MiB.
    execution = run_machine(setup, [*PROBE, "allocate", "1024"])

    assert execution["error"] == "States.TaskFailed"
    container = described_task(json.loads(execution["cause"])["TaskArn"])["containers"][0]
    assert container["exitCode"] == 137
    assert container["reason"] == "OutOfMemoryError: Container killed due to memory usage"


def test_the_task_role_limits_what_the_process_may_do(setup: Setup) -> None:
    # The task role's credentials are the container's (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html):
    # this one may write under models/ only, so a write elsewhere is refused and the probe exits 1.
    execution = run_machine(setup, [*PROBE, "write", BUCKET, "elsewhere/v1.txt"])

    assert execution["error"] == "States.TaskFailed"
    assert json.loads(execution["cause"])["Containers"][0]["ExitCode"] == 1
    with pytest.raises(ClientError):
        boto3.client("s3").head_object(Bucket=BUCKET, Key="elsewhere/v1.txt")


def test_overrides_past_8192_characters_are_refused(setup: Setup) -> None:
    # "A total of 8192 characters are allowed for overrides" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html);
    # ECS answers InvalidParameterException "Container Overrides length must be at most 8192", and the state
    # fails with ECS.<error code> (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
    big = [{"Name": "PAYLOAD", "Value": "x" * 8200}]
    execution = run_machine(setup, [*PROBE, "exit", "0"], environment=big)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ECS.InvalidParameterException"
    assert execution["cause"].startswith("Container Overrides length must be at most 8192 (Service: AmazonECS;")
    with pytest.raises(ClientError, match="Container Overrides length must be at most 8192"):
        run_task(
            setup,
            overrides={"containerOverrides": [{"name": "fit", "environment": [{"name": "P", "value": "x" * 8200}]}]},
        )


def test_run_task_refuses_a_subnet_or_security_group_that_does_not_exist(setup: Setup) -> None:
    # RunTask looks the awsvpcConfiguration's subnets and groups up in EC2
    # (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html).
    for network, wording in (
        ({"subnets": ["subnet-0000000000000000"]}, "The subnet ID 'subnet-0000000000000000' does not exist"),
        (
            {"subnets": [setup.subnet], "securityGroups": ["sg-00000000"]},
            "The security group 'sg-00000000' does not exist",
        ),
    ):
        with pytest.raises(ClientError, match=wording) as refused:
            run_task(setup, network=network)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_missing_log_group_stops_the_task_before_it_starts(setup: Setup) -> None:
    # Without `awslogs-create-group`, the awslogs driver needs the group to exist; the task stops with
    # TaskFailedToStart and a ResourceInitializationError
    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html).
    definition = register_probe(setup.task_role, setup.execution_role, log_group="/ecs/nobody-made-this")
    task_arn = run_task(setup, definition=definition)
    assert ecs.wait_for(task_arn, timeout=30)

    stopped = described_task(task_arn)
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger args")
    assert "The specified log group does not exist" in stopped["stoppedReason"]
    assert "exitCode" not in stopped["containers"][0]


def test_stop_task_stops_the_container_as_the_user_asked(setup: Setup) -> None:
    # StopTask sends SIGTERM; the task stops with stopCode UserInitiated and the caller's reason
    # (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html).
    client = boto3.client("ecs")
    task_arn = run_task(
        setup,
        overrides={"containerOverrides": [{"name": "fit", "command": ["python", "-c", "import time; time.sleep(60)"]}]},
    )
    while described_task(task_arn)["lastStatus"] != "RUNNING":
        time.sleep(0.05)
    client.stop_task(cluster="training", task=task_arn, reason="fit no longer needed")
    assert ecs.wait_for(task_arn, timeout=30)

    stopped = described_task(task_arn)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "fit no longer needed")
    assert stopped["containers"][0]["exitCode"] == 143  # 128 + SIGTERM


def test_fargate_sizes_outside_the_table_are_refused_at_registration(setup: Setup) -> None:
    # Valid task CPU/memory pairs: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html
    # ("No Fargate configuration exists for given values"); awslogs on Fargate needs an execution role
    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html).
    container = {"name": "fit", "image": "python:3.12", "command": ["python", "-V"]}
    logged = container | {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": LOG_GROUP}}}
    for cpu, memory, definition, wording in (
        ("256", "4096", container, "No Fargate configuration exists for given values: 256 CPU, 4096 memory"),
        ("1 vCPU", "2 GB", logged, "Fargate requires task definition to have execution role ARN to support log driver"),
    ):
        with pytest.raises(ClientError, match=wording) as refused:
            boto3.client("ecs").register_task_definition(
                family="refused",
                requiresCompatibilities=["FARGATE"],
                cpu=cpu,
                memory=memory,
                containerDefinitions=[definition],
            )
        assert refused.value.response["Error"]["Code"] == "ClientException"


@pytest.mark.parametrize(
    ("cpu", "memory", "runs"),
    [
        ("256", "512", True),
        ("256", "3072", False),
        ("1024", "8192", True),
        ("2048", "4608", False),  # 4-16 GB in 1 GB steps only
        ("8192", "20480", True),
        ("8192", "18432", False),  # 16-60 GB in 4 GB steps only
        ("16384", "122880", True),
        ("16384", "131072", False),
        ("128", "512", False),
    ],
)
def test_fargate_size_table(cpu: str, memory: str, runs: bool) -> None:
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html
    assert (fargate_size_refusal(cpu, memory) is None) is runs


def test_run_task_is_authorized_on_its_task_definition(setup: Setup) -> None:
    # ecs:RunTask's resource is the task definition (Service Authorization Reference, "Actions defined by
    # Amazon Elastic Container Service": RunTask, resource type task-definition*); moto checked it on '*'.
    iam = boto3.client("iam")
    family = setup.task_definition.rsplit("/", 1)[0] + "/probe:*"
    for resource, expected in ((family, "SUCCEEDED"), (family.replace("/probe:", "/other:"), "FAILED")):
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": resource},
                {"Effect": "Allow", "Action": ["ecs:DescribeTasks", "ecs:StopTask", "iam:PassRole"], "Resource": "*"},
            ],
        }
        iam.put_role_policy(RoleName="fit-machine", PolicyName="grants", PolicyDocument=json.dumps(policy))
        execution = run_machine(setup, [*PROBE, "exit", "0"])
        assert execution["status"] == expected, (resource, execution.get("cause"))
        if expected == "FAILED":
            assert "ecs:RunTask" in str(execution.get("cause")), execution.get("cause")
