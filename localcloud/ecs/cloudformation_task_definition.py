"""`AWS::ECS::TaskDefinition` from CloudFormation with all of its properties, as ECS registers it.

moto 5.2.5 registers a template's task definition with its family, containers, volumes and memory
only: the task and execution roles, CPU, network mode, compatibilities and runtime platform are
dropped, so a Fargate task started from a deployed stack ran without its task role's credentials
(and without its execution role for the log driver). Here every property is passed to
RegisterTaskDefinition, which also applies ECS's refusals (`refusals`) to a template's definition.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs.models import TaskDefinition, ecs_backends

_originals: dict[str, Any] = {}


def _create_from_cloudformation_json(
    cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> Any:
    properties = cloudformation_json["Properties"]
    return ecs_backends[account_id][region_name].register_task_definition(
        family=properties.get("Family", resource_name),
        container_definitions=remap_nested_keys(properties.get("ContainerDefinitions", []), pascal_to_camelcase),
        volumes=remap_nested_keys(properties.get("Volumes", []), pascal_to_camelcase),
        network_mode=properties.get("NetworkMode"),
        requires_compatibilities=properties.get("RequiresCompatibilities"),
        cpu=properties.get("Cpu"),
        memory=properties.get("Memory"),
        task_role_arn=properties.get("TaskRoleArn"),
        execution_role_arn=properties.get("ExecutionRoleArn"),
        runtime_platform=remap_nested_keys(properties.get("RuntimePlatform"), pascal_to_camelcase)
        if properties.get("RuntimePlatform")
        else None,
    )


def install() -> None:
    _originals["create"] = TaskDefinition.__dict__["create_from_cloudformation_json"]
    TaskDefinition.create_from_cloudformation_json = classmethod(_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    if "create" in _originals:
        TaskDefinition.create_from_cloudformation_json = _originals.pop("create")  # type: ignore[method-assign]
