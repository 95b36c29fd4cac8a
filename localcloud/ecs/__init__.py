"""ECS in the local cloud: RunTask runs the task's containers as processes, and Step Functions'
`ecs:runTask.sync` waits for them, as on Fargate.

What moto lacks: moto's RunTask records a task and runs nothing (its task steps towards STOPPED each
time it is described, whatever happened), crashes on a Fargate task whose containers have no memory of
their own or whose VPC has no DNS hostnames, accepts any Fargate size, any overrides and unknown
subnets; and Step Functions' ECS integration fails on the parameters' casing (moto #10076) and never
fails a `.sync` state. Here:

- `task_runs`: each task's containers run as processes on this machine (`container_launch`: how a
  command is resolved without an image; `container_process`: memory limit and exit codes), with the
  task role's credentials, and DescribeTasks shows the task as ECS does once it stops;
- `awslogs`: their output in CloudWatch Logs, as the `awslogs` driver writes it;
- `refusals` and `fargate_sizes`: what ECS refuses at RegisterTaskDefinition and RunTask;
- `step_functions_integration`: `arn:aws:states:::ecs:runTask(.sync)` as Step Functions runs it;
- `endpoint`: where a task's process reaches the local cloud (in-process, a moto server started on a
  loopback port for tasks, sharing moto's state); `fargate_run_task_crashes`: moto's two crashes mended;
- `cloudformation_task_definition`: a template's task definition registered with all its properties
  (moto drops its roles, CPU, network mode, compatibilities and platform).

How it is installed: `install(endpoint_url=...)` wraps moto's ECS backend (RegisterTaskDefinition,
RunTask, StopTask) and Step Functions' ECS task class; `uninstall()` kills the tasks still running,
restores moto and stops the tasks' server.
"""

from localcloud.ecs import (
    cloudformation_task_definition,
    endpoint,
    fargate_run_task_crashes,
    step_functions_integration,
    task_runs,
)
from localcloud.ecs.container_process import ContainerExit
from localcloud.ecs.task_runs import OUT_OF_MEMORY, task_python_path, wait_for

_installed = False


def install(endpoint_url: str | None = None) -> None:
    global _installed
    endpoint.configure(endpoint_url)
    if _installed:
        return
    fargate_run_task_crashes.install()
    cloudformation_task_definition.install()
    task_runs.install()
    step_functions_integration.install()
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    step_functions_integration.uninstall()
    task_runs.uninstall()
    cloudformation_task_definition.uninstall()
    fargate_run_task_crashes.uninstall()
    endpoint.stop()
    _installed = False


__all__ = ["OUT_OF_MEMORY", "ContainerExit", "install", "task_python_path", "uninstall", "wait_for"]
