"""Three crashes of moto 5.2.5's RunTask for a Fargate task, mended so the call answers as ECS does.

- A container with no `memory` of its own (a Fargate definition sizes the task, not each container)
  makes moto's resource sum add None: RunTask answers HTTP 500. Such a container counts as 0 MiB here.
- moto's task reads `privateDnsName` from the network interface it creates, which moto sets only in
  a VPC with DNS hostnames enabled: RunTask answers HTTP 500 in any other VPC. The name is derived
  from the private address, as EC2 derives it.
- An `awsvpcConfiguration` without `securityGroups` (optional: "If you don't specify a security group,
  the default security group for the VPC is used", API reference, AwsVpcConfiguration) raises KeyError;
  the subnet's VPC default group is filled in (`with_default_security_group`).
"""

from __future__ import annotations

from typing import Any

_originals: dict[str, Any] = {}


def _calculate_task_resource_requirements(task_definition: Any) -> dict[str, Any]:
    definitions = task_definition.container_definitions
    sized = [dict(d) for d in definitions]
    for definition in sized:
        if all(definition.get(k) is None for k in ("memory", "Memory", "memoryReservation", "MemoryReservation")):
            definition["memory"] = 0
    task_definition.container_definitions = sized
    try:
        result: dict[str, Any] = _originals["requirements"](task_definition)
        return result
    finally:
        task_definition.container_definitions = definitions


def with_default_security_group(account_id: str, region: str, network: dict[str, Any] | None) -> Any:
    """The network configuration, with the VPC's default security group when it names none."""
    vpc_configuration = (network or {}).get("awsvpcConfiguration")
    if not vpc_configuration or vpc_configuration.get("securityGroups") or not vpc_configuration.get("subnets"):
        return network
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account_id][region]
    vpc_id = ec2.get_subnet(vpc_configuration["subnets"][0]).vpc_id
    default = ec2.get_default_security_group(vpc_id)
    groups = [default.id] if default is not None else []
    return {**(network or {}), "awsvpcConfiguration": {**vpc_configuration, "securityGroups": groups}}


class _PrivateDnsName:
    """`NetworkInterface.private_dns_name`: the value moto set, else the name EC2 gives the address."""

    def __get__(self, interface: Any, owner: type | None = None) -> Any:
        if interface is None:
            return self
        if "private_dns_name" in interface.__dict__:
            return interface.__dict__["private_dns_name"]
        from moto.ec2.utils import generate_dns_from_ip

        return generate_dns_from_ip(interface.private_ip_address)

    def __set__(self, interface: Any, value: Any) -> None:
        interface.__dict__["private_dns_name"] = value


def install() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.models import EC2ContainerServiceBackend

    _originals["requirements"] = EC2ContainerServiceBackend._calculate_task_resource_requirements
    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
        _calculate_task_resource_requirements
    )
    _originals["dns_name"] = vars(NetworkInterface).get("private_dns_name")
    NetworkInterface.private_dns_name = _PrivateDnsName()  # type: ignore[attr-defined]


def uninstall() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.models import EC2ContainerServiceBackend

    if "requirements" in _originals:
        EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
            _originals.pop("requirements")
        )
        if _originals.get("dns_name") is None:
            del NetworkInterface.private_dns_name  # type: ignore[attr-defined]
        else:
            NetworkInterface.private_dns_name = _originals["dns_name"]  # type: ignore[attr-defined]
        _originals.pop("dns_name", None)
