"""The task sizes Fargate runs, and RegisterTaskDefinition's refusal of any other (moto accepts any).

AWS's table (Amazon ECS Developer Guide, "Task CPU and memory"; the API reference's
`RegisterTaskDefinition.memory`): 256 CPU units take 512, 1024 or 2048 MiB; 512 take 1-4 GB; 1024 take
2-8 GB; 2048 take 4-16 GB in 1 GB steps; 4096 take 8-30 GB in 1 GB steps; 8192 take 16-60 GB in 4 GB
steps; 16384 take 32-120 GB in 8 GB steps. Values may be written as units or MiB, or as `1 vCPU` and
`2 GB`, which ECS converts when it registers the definition.
"""

from __future__ import annotations

import re

_LISTED: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
}
_STEPPED: dict[int, tuple[int, int, int]] = {  # cpu: (lowest MiB, highest MiB, step MiB)
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def cpu_units(value: str | int | None) -> int | None:
    """CPU units from `1024` or `1 vCPU` (None when absent or unreadable)."""
    return _scaled(value, {"": 1, "vcpu": 1024})


def memory_mib(value: str | int | None) -> int | None:
    """MiB from `2048` or `2 GB` (None when absent or unreadable)."""
    return _scaled(value, {"": 1, "mib": 1, "mb": 1, "gb": 1024, "gib": 1024})


def _scaled(value: str | int | None, units: dict[str, int]) -> int | None:
    if value is None:
        return None
    match = _AMOUNT.match(str(value))
    if not match or match.group(2).lower() not in units:
        return None
    return int(float(match.group(1)) * units[match.group(2).lower()])


def is_fargate_size(cpu: int, memory: int) -> bool:
    if cpu in _LISTED:
        return memory in _LISTED[cpu]
    if cpu in _STEPPED:
        low, high, step = _STEPPED[cpu]
        return low <= memory <= high and (memory - low) % step == 0
    return False


def fargate_size_refusal(cpu: str | int | None, memory: str | int | None) -> str | None:
    """ECS's ClientException message for a Fargate task definition of this size, or None if Fargate runs it."""
    if cpu is None:
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory is None:
        return "Fargate requires that 'memory' be defined at the task level."
    units, mib = cpu_units(cpu), memory_mib(memory)
    if units is None:
        return "Invalid 'cpu' setting for task."
    if mib is None:
        return "Invalid 'memory' setting for task."
    if not is_fargate_size(units, mib):
        return (
            f"No Fargate configuration exists for given values: {units} CPU, {mib} memory. "
            "See the Amazon ECS documentation for the valid values."
        )
    return None
