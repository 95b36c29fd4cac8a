"""What one container of a task runs here: its command, environment, memory limit and log settings.

The local cloud runs no images: a container's `entryPoint` + `command` run as a process on this
machine. A first word `python`, `python3` or `python3.N` means the interpreter running the local
cloud (`sys.executable`), so `["python", "-m", "some.module", ...]` runs the project's code with the
project's packages; any other first word is looked up on PATH. The image is recorded, never pulled.

ECS's own rules for a task's overrides (RunTask `overrides.containerOverrides`, matched to a container by
name): a `command` replaces the definition's command; `environment` entries replace the definition's
variables of the same name and add the others; `memory` replaces the container's hard limit.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from localcloud.ecs.fargate_sizes import memory_mib

_PYTHON_NAMES = {"python", "python3", f"python3.{sys.version_info.minor}"}


class CannotStartContainer(Exception):  # noqa: N818  (named as ECS names the error)
    """The container cannot start here; the message follows ECS's CannotStartContainerError reasons."""


@dataclass(frozen=True)
class AwsLogs:
    """The `awslogs` log driver's options: where a container's output goes in CloudWatch Logs."""

    group: str
    stream_prefix: str | None
    region: str | None
    create_group: bool


@dataclass(frozen=True)
class ContainerLaunch:
    """One container, resolved: the argv to run, its variables, its memory limit in MiB (None: no limit)."""

    name: str
    image: str
    essential: bool
    cpu: int
    argv: tuple[str, ...]
    environment: dict[str, str]
    memory_limit_mib: int | None
    awslogs: AwsLogs | None
    unsupported: tuple[str, ...] = field(default=())


def environment_list(entries: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(e["name"]): str(e.get("value", "")) for e in entries or [] if "name" in e}


def container_launches(
    container_definitions: list[dict[str, Any]],
    overrides: dict[str, Any] | None,
    task_memory: str | int | None,
) -> list[ContainerLaunch]:
    """Each container of the task definition with the run's overrides applied as ECS applies them."""
    by_name = {o.get("name"): o for o in (overrides or {}).get("containerOverrides") or []}
    launches = []
    for definition in container_definitions:
        override = by_name.get(definition.get("name"), {})
        command = override.get("command") or definition.get("command") or []
        argv = tuple(str(a) for a in (definition.get("entryPoint") or []) + list(command))
        environment = environment_list(definition.get("environment")) | environment_list(override.get("environment"))
        hard_limits = [
            m
            for m in (memory_mib(override.get("memory") or definition.get("memory")), memory_mib(task_memory))
            if m is not None
        ]
        launches.append(
            ContainerLaunch(
                name=str(definition.get("name")),
                image=str(definition.get("image")),
                essential=bool(definition.get("essential", True)),
                cpu=int(definition.get("cpu") or 0),
                argv=argv,
                environment=environment,
                memory_limit_mib=min(hard_limits) if hard_limits else None,
                awslogs=_awslogs(definition.get("logConfiguration")),
                unsupported=tuple(k for k in ("secrets", "environmentFiles") if definition.get(k)),
            )
        )
    return launches


def _awslogs(configuration: dict[str, Any] | None) -> AwsLogs | None:
    if not configuration or configuration.get("logDriver") != "awslogs":
        return None
    options = configuration.get("options") or {}
    return AwsLogs(
        group=str(options.get("awslogs-group", "")),
        stream_prefix=options.get("awslogs-stream-prefix"),
        region=options.get("awslogs-region"),
        create_group=str(options.get("awslogs-create-group", "false")).lower() == "true",
    )


def executable_argv(launch: ContainerLaunch, path: str) -> list[str]:
    """The argv to start: `python*` is this interpreter, anything else is found on PATH, as Docker finds it."""
    if launch.unsupported:
        raise CannotStartContainer(
            f"the local cloud does not supply {', '.join(launch.unsupported)} to container {launch.name}"
        )
    if not launch.argv:
        raise CannotStartContainer(
            f"container {launch.name} has no entryPoint or command; the local cloud runs no image "
            f"({launch.image}), so it has no default command to run"
        )
    first, rest = launch.argv[0], list(launch.argv[1:])
    if first in _PYTHON_NAMES:
        return [sys.executable, *rest]
    found = first if os.sep in first and os.access(first, os.X_OK) else shutil.which(first, path=path)
    if found is None:
        raise CannotStartContainer(
            f'failed to create containerd task: exec: "{first}": executable file not found in $PATH: unknown'
        )
    return [found, *rest]
