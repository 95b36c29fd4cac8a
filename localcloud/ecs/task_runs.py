"""A task that RunTask starts runs: its containers as processes, its state as DescribeTasks shows it.

moto's RunTask records a task that stays RUNNING (or steps towards STOPPED each time it is described)
and runs nothing. Here each RunTask (from boto3, the AWS CLI or a Step Functions state) starts a thread
per task that, as ECS and Fargate do:

1. opens each container's `awslogs` stream with the execution role (a refusal stops the task with
   stopCode `TaskFailedToStart` and a ResourceInitializationError, before anything runs);
2. starts every container's command (`container_launch`) in a fresh working directory, with the
   definition's and the overrides' variables, the region, `AWS_ENDPOINT_URL` of the local cloud,
   PYTHONPATH (below), and the task role's temporary credentials (assumed through moto's STS with the
   task id as session name, so IAM enforcement holds the process to the role's policies; a task
   without a task role gets no credentials, as on ECS);
3. holds each container to its memory limit (`container_process`);
4. when an essential container exits, stops the others (SIGTERM, SIGKILL after their stopTimeout);
5. records the stopped task: lastStatus STOPPED, stopCode `EssentialContainerExited` and stoppedReason
   "Essential container in task exited", each container's exitCode, and "OutOfMemoryError: Container
   killed due to memory usage" as the reason of a container killed over its limit. StopTask stops the
   containers the same way, with stopCode `UserInitiated` and the caller's reason.

PYTHONPATH of a task: its own `PYTHONPATH` variable if it sets one, then the directory holding the
`localcloud` package (the repository root), then the local cloud's own PYTHONPATH entries, made absolute.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from localcloud import iam
from localcloud.ecs import endpoint, refusals
from localcloud.ecs.awslogs import AwsLogsStream, LogDriverRefused, stream_name
from localcloud.ecs.container_launch import (
    CannotStartContainer,
    ContainerLaunch,
    container_launches,
    executable_argv,
)
from localcloud.ecs.container_process import ContainerExit, ContainerProcess
from localcloud.ecs.fargate_run_task_crashes import with_default_security_group

log = logging.getLogger(__name__)

ESSENTIAL_EXITED = ("EssentialContainerExited", "Essential container in task exited")
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
DEFAULT_STOP_TIMEOUT_S = 30
_REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ContainerState:
    """A container as DescribeTasks shows it (attributes named as moto's serializer reads them)."""

    container_arn: str
    task_arn: str
    name: str
    image: str
    cpu: str
    memory: str | None
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    health_status: str = "UNKNOWN"
    network_interfaces: list[dict[str, str]] = field(default_factory=list)


@dataclass
class TaskRun:
    """One task this local cloud is running."""

    task: Any  # moto.ecs.models.Task
    launches: list[ContainerLaunch]
    execution_role_arn: str | None
    task_role_arn: str | None
    processes: dict[str, ContainerProcess] = field(default_factory=dict)
    stop_reason: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)


_runs: dict[str, TaskRun] = {}
_runs_lock = threading.Lock()
_originals: dict[str, Any] = {}


def essential_container_names(task_arn: str) -> set[str] | None:
    """The essential containers of a task run here (None: not run here, every container counts)."""
    run = _runs.get(task_arn)
    return None if run is None else {launch.name for launch in run.launches if launch.essential}


def wait_for(task_arn: str, timeout: float) -> bool:
    run = _runs.get(task_arn)
    return run is None or run.finished.wait(timeout)


def task_python_path(task_environment: dict[str, str]) -> str:
    entries = [task_environment.get("PYTHONPATH", ""), str(_REPOSITORY_ROOT)]
    entries += [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(e for e in entries if e))


def _now() -> datetime:
    return datetime.now(UTC)


# -- moto's backend, wrapped ------------------------------------------------------------------------
def _register_task_definition(
    self: Any, family: str, container_definitions: list[dict[str, Any]], *args: Any, **kwargs: Any
) -> Any:
    refusals.refuse_task_definition(kwargs, container_definitions)
    return _originals["register_task_definition"](self, family, container_definitions, *args, **kwargs)


def _run_task(
    self: Any,
    cluster_str: str,
    task_definition_str: str,
    count: int,
    overrides: dict[str, Any] | None,
    started_by: str,
    tags: list[dict[str, str]] | None,
    launch_type: str | None,
    networking_configuration: dict[str, Any] | None = None,
    group: str | None = None,
    platform_version: str | None = None,
    capacity_provider_strategy: list[dict[str, Any]] | None = None,
) -> list[Any]:
    refusals.refuse_run_task(self.account_id, self.region_name, overrides, networking_configuration)
    networking_configuration = with_default_security_group(self.account_id, self.region_name, networking_configuration)
    tasks: list[Any] = _originals["run_task"](
        self,
        cluster_str,
        task_definition_str,
        count,
        overrides,
        started_by,
        tags,
        launch_type,
        networking_configuration,
        group,
        platform_version,
        capacity_provider_strategy,
    )
    definition = self.describe_task_definition(task_definition_str)
    for task in tasks:
        _start(task, definition, overrides, launch_type)
    return tasks


def _stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
    task_id = task_str.rsplit("/", maxsplit=1)[-1]
    run = next((r for arn, r in list(_runs.items()) if arn.endswith(task_id)), None)
    if run is None or run.finished.is_set():
        return _originals["stop_task"](self, cluster_str, task_str, reason)
    run.stop_reason = reason or "Task stopped by user"
    run.task.desired_status = "STOPPED"
    for process in list(run.processes.values()):
        process.signal(signal.SIGTERM)
    return run.task


# -- one task's life --------------------------------------------------------------------------------
def _start(task: Any, definition: Any, overrides: dict[str, Any] | None, launch_type: str | None) -> None:
    task.advance = lambda: None  # the state below is the task's real one; moto's ticking would fake it
    task.status = "PROVISIONING"
    task.created_at = _now()
    task.cpu, task.memory = definition.cpu, definition.memory
    task.version = 1
    if launch_type == "FARGATE":
        task.platform_version = task.platform_version or "1.4.0"
    launches = container_launches(definition.container_definitions, overrides, definition.memory)
    task.containers = [
        ContainerState(
            container_arn=f"{task.task_arn.replace(':task/', ':container/')}/{index}-{launch.name}",
            task_arn=task.task_arn,
            name=launch.name,
            image=launch.image,
            cpu=str(
                next((d.get("cpu", 0) for d in definition.container_definitions if d.get("name") == launch.name), 0)
            ),
            memory=str(launch.memory_limit_mib) if launch.memory_limit_mib else None,
        )
        for index, launch in enumerate(launches)
    ]
    run = TaskRun(
        task=task,
        launches=launches,
        execution_role_arn=getattr(definition, "execution_role_arn", None),
        task_role_arn=getattr(definition, "task_role_arn", None),
    )
    with _runs_lock:
        _runs[task.task_arn] = run
    threading.Thread(target=_run, args=(run,), daemon=True, name=f"ecs-task-{task.id}").start()


def _run(run: TaskRun) -> None:
    task = run.task
    workdir = Path(tempfile.mkdtemp(prefix=f"ecs-task-{task.id}-"))
    streams: dict[str, AwsLogsStream] = {}
    try:
        url = endpoint.task_endpoint_url()
        for launch in run.launches:
            if launch.awslogs is not None:
                stream = AwsLogsStream(
                    _logs_client(run, url, launch.awslogs.region or task.region_name),
                    launch.awslogs,
                    stream_name(launch.awslogs, launch.name, task.id),
                )
                stream.open()
                streams[launch.name] = stream
        argvs = {launch.name: executable_argv(launch, os.environ.get("PATH", os.defpath)) for launch in run.launches}
    except (LogDriverRefused, CannotStartContainer) as refused:
        prefix = "" if isinstance(refused, LogDriverRefused) else "CannotStartContainerError: "
        _record_stop(run, "TaskFailedToStart", f"{prefix}{refused}", {})
        shutil.rmtree(workdir, ignore_errors=True)
        return
    except Exception as exc:  # never leave a task RUNNING forever: its caller would wait on it
        log.exception("task %s could not start", task.task_arn)
        _record_stop(run, "TaskFailedToStart", f"InternalError: {exc}", {})
        shutil.rmtree(workdir, ignore_errors=True)
        return
    try:
        exits = _run_containers(run, argvs, streams, workdir, url)
        for stream in streams.values():
            stream.flush()
        if run.stop_reason is not None:
            _record_stop(run, "UserInitiated", run.stop_reason, exits)
        else:
            _record_stop(run, *ESSENTIAL_EXITED, exits)
    except Exception as exc:
        log.exception("task %s failed while running", task.task_arn)
        _record_stop(run, "TaskFailedToStart", f"InternalError: {exc}", {})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_containers(
    run: TaskRun, argvs: dict[str, list[str]], streams: dict[str, AwsLogsStream], workdir: Path, url: str
) -> dict[str, ContainerExit]:
    task = run.task
    credentials = iam.role_credentials(task._account_id, run.task_role_arn, task.id) if run.task_role_arn else None
    for launch in run.launches:
        stream = streams.get(launch.name)
        run.processes[launch.name] = ContainerProcess(
            argvs[launch.name],
            _container_environment(run, launch, workdir, url, credentials),
            workdir,
            launch.memory_limit_mib,
            on_line=stream.add if stream is not None else (lambda line, at: None),
        )
    started = _now()
    task.started_at, task.status = started, "RUNNING"
    for container in task.containers:
        container.last_status = "RUNNING"
    exits: dict[str, ContainerExit] = {}
    essential_done = threading.Event()

    def wait(launch: ContainerLaunch) -> None:
        exits[launch.name] = run.processes[launch.name].wait()
        if launch.essential:
            essential_done.set()

    waiters = [threading.Thread(target=wait, args=(launch,), daemon=True) for launch in run.launches]
    for waiter in waiters:
        waiter.start()
    essential_done.wait()
    task.stopping_at = _now()
    for name, process in run.processes.items():  # the task stops: every other container with it
        if name not in exits:
            process.signal(signal.SIGTERM)
    deadline = time.monotonic() + DEFAULT_STOP_TIMEOUT_S
    for waiter in waiters:
        waiter.join(max(0.0, deadline - time.monotonic()))
    for name, process in run.processes.items():
        if name not in exits:
            process.signal(signal.SIGKILL)
    for waiter in waiters:
        waiter.join()
    return exits


def _container_environment(
    run: TaskRun, launch: ContainerLaunch, workdir: Path, url: str, credentials: Any
) -> dict[str, str]:
    region = run.task.region_name
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE" if run.task.launch_type == "FARGATE" else "AWS_ECS_EC2",
        "AWS_ENDPOINT_URL": url,
    }
    if credentials is not None:
        environment |= {
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_SESSION_TOKEN": credentials.token,
        }
    environment |= launch.environment
    environment["PYTHONPATH"] = task_python_path(launch.environment)
    return environment


def _logs_client(run: TaskRun, url: str, region: str) -> Any:
    """CloudWatch Logs as the log driver reaches it: signed with the execution role (else the operator)."""
    task = run.task
    if run.execution_role_arn:
        keys = iam.role_credentials(task._account_id, run.execution_role_arn, task.id)
        access, secret, token = keys.access_key, keys.secret_key, keys.token
    else:
        access, secret, token = "testing", "testing", None
    factory: Any = boto3.session.Session().client
    return factory(
        "logs",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def _record_stop(run: TaskRun, stop_code: str, reason: str, exits: dict[str, ContainerExit]) -> None:
    task, now = run.task, _now()
    task.stopping_at = getattr(task, "stopping_at", None) or now
    task.execution_stopped_at = now
    task.stopped_at = now
    task.stop_code, task.stopped_reason, task.desired_status = stop_code, reason, "STOPPED"
    for attachment in task.attachments:  # Fargate releases the task's network interface
        attachment["status"] = "DELETED"
    for container in task.containers:
        container.last_status = "STOPPED"
        ended = exits.get(container.name)
        if ended is not None:
            container.exit_code = ended.exit_code
            container.reason = OUT_OF_MEMORY if ended.out_of_memory else None
    task.status = "STOPPED"
    run.finished.set()


# -- switching it on --------------------------------------------------------------------------------
def install() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    for name, replacement in (
        ("register_task_definition", _register_task_definition),
        ("run_task", _run_task),
        ("stop_task", _stop_task),
    ):
        _originals[name] = getattr(EC2ContainerServiceBackend, name)
        setattr(EC2ContainerServiceBackend, name, replacement)


def uninstall(timeout: float = 30.0) -> None:
    """Stop every task still running (as StopTask would), then restore moto."""
    from moto.ecs.models import EC2ContainerServiceBackend

    with _runs_lock:
        running = [r for r in _runs.values() if not r.finished.is_set()]
    for run in running:
        run.stop_reason = "the local cloud stopped"
        for process in list(run.processes.values()):
            process.signal(signal.SIGKILL)
    for run in running:
        run.finished.wait(timeout)
    for name, original in _originals.items():
        setattr(EC2ContainerServiceBackend, name, original)
    _originals.clear()
    with _runs_lock:
        _runs.clear()
