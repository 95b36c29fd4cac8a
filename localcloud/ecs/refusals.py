"""What ECS refuses and moto accepts: Fargate task definitions of a size Fargate does not run, RunTask
overrides past 8,192 characters, and networks that do not exist.

- RegisterTaskDefinition with FARGATE: task-level cpu and memory are required and must be a pair from
  Fargate's table (`fargate_sizes`); the `awslogs` driver needs an execution role. ClientException.
- RunTask: "A total of 8192 characters are allowed for overrides. This limit includes the JSON
  formatting characters of the override structure" (API reference, RunTask `overrides`), measured here
  on the overrides as compact JSON; InvalidParameterException "Container Overrides length must be at
  most 8192". A subnet or security group of `awsvpcConfiguration` that EC2 does not know is refused with
  InvalidParameterException (moto answered with EC2's own error code, or created the group).
"""

from __future__ import annotations

import json
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ecs.exceptions import EcsClientException, InvalidParameterException

from localcloud.ecs.fargate_sizes import fargate_size_refusal

OVERRIDES_LIMIT = 8192


def refuse_task_definition(kwargs: dict[str, Any], container_definitions: list[dict[str, Any]]) -> None:
    if "FARGATE" not in (kwargs.get("requires_compatibilities") or []):
        return
    refusal = fargate_size_refusal(kwargs.get("cpu"), kwargs.get("memory"))
    if refusal:
        raise EcsClientException(refusal)
    uses_awslogs = any((d.get("logConfiguration") or {}).get("logDriver") == "awslogs" for d in container_definitions)
    if uses_awslogs and not kwargs.get("execution_role_arn"):
        raise EcsClientException(
            "Fargate requires task definition to have execution role ARN to support log driver awslogs."
        )


def refuse_run_task(
    account_id: str, region: str, overrides: dict[str, Any] | None, network: dict[str, Any] | None
) -> None:
    if overrides and len(json.dumps(overrides, separators=(",", ":"))) > OVERRIDES_LIMIT:
        raise InvalidParameterException(f"Container Overrides length must be at most {OVERRIDES_LIMIT}")
    vpc = (network or {}).get("awsvpcConfiguration") or {}
    ec2 = ec2_backends[account_id][region]
    known_subnets = {s.id for s in ec2.describe_subnets()}
    for subnet in vpc.get("subnets") or []:
        if subnet not in known_subnets:
            raise InvalidParameterException(
                f"Error retrieving subnet information for [{subnet}]: The subnet ID '{subnet}' does not exist "
                "(ErrorCode: InvalidSubnetID.NotFound)"
            )
    for group in vpc.get("securityGroups") or []:
        if ec2.get_security_group_from_id(group) is None:
            raise InvalidParameterException(
                f"Error retrieving security group information for [{group}]: The security group '{group}' "
                "does not exist (ErrorCode: InvalidGroup.NotFound)"
            )
