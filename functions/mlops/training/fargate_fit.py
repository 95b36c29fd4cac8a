"""A candidate fitted in an ECS Fargate task, as the Map collects it: the same outcome the fit Lambda
returns, read from what the task stored, or the task's failure with its last log lines.

Step Functions' `ecs:runTask.sync` answers with the stopped task's description (PascalCase keys,
times in epoch milliseconds); when an essential container exits non-zero it fails the state with
`States.TaskFailed`, whose cause is that description as JSON. Either way this module turns it into
the outcome `evaluate` reads (`mlops.training.run.fit_outcome`'s shape) plus where the fit ran.

No scikit-learn and no AWS SDK: the handler hands in the bucket and a reader of the task's log lines,
so the function that runs this needs only the Powertools layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mlops.buckets import ArtifactsBucket
from mlops.names import FIT_TASK_CONTAINER, FIT_TASK_LOG_PREFIX
from mlops.training.fit_placement import fit_outcome

LAST_LOG_LINES = 20
MAX_REASON_CHARS = 3000

LogTail = Callable[[str, int], list[str]]  # (log stream, lines) -> the stream's last lines, oldest first


def log_stream(task_arn: str) -> str:
    """The `awslogs` stream of the fit container of a task: `<prefix>/<container>/<task id>`."""
    return f"{FIT_TASK_LOG_PREFIX}/{FIT_TASK_CONTAINER}/{task_arn.rsplit('/', 1)[-1]}"


def _seconds(task: Mapping[str, Any]) -> float | None:
    """The task's life from creation to stop: what Fargate bills (from the image pull to the stop)."""
    created, stopped = task.get("CreatedAt"), task.get("StoppedAt")
    if not isinstance(created, int | float) or not isinstance(stopped, int | float):
        return None
    return round((stopped - created) / 1000.0, 3)


def _task_from_cause(cause: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) and "TaskArn" in parsed else None


def _fit_container(task: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = task.get("Containers") or []
    return next((c for c in containers if c.get("Name") == FIT_TASK_CONTAINER), containers[0] if containers else {})


def task_outcome(
    run_payload: dict[str, Any],
    candidate: Mapping[str, Any],
    task: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None,
    artifacts: ArtifactsBucket,
    log_tail: LogTail,
) -> dict[str, Any]:
    """The Map's outcome for a candidate fitted on Fargate: `task` is `.sync`'s answer when the task
    succeeded, `error` the state's caught error (`Error`, `Cause`) when it did not."""
    name = str(candidate["name"])
    if error is None and task is not None:
        stored = json.loads(artifacts.get(f"{run_payload['prefix']}candidates/{name}.json"))
        return {
            **fit_outcome(stored),
            "runs_on": "fargate",
            "task_arn": task.get("TaskArn"),
            "seconds": _seconds(task),
        }
    error = error or {}
    cause = str(error.get("Cause") or "")
    stopped = _task_from_cause(cause)
    if stopped is None:  # RunTask itself was refused (no capacity, a bad parameter, access denied)
        reason = f"{error.get('Error') or 'States.TaskFailed'}: {cause or 'the Fargate task did not run'}"
        return {"name": name, "status": "failed", "reason": reason[:MAX_REASON_CHARS], "runs_on": "fargate"}
    arn = str(stopped["TaskArn"])
    container = _fit_container(stopped)
    parts = [f"the Fargate task {arn} stopped: {stopped.get('StoppedReason') or stopped.get('StopCode') or 'stopped'}"]
    if container.get("ExitCode") is not None:
        parts.append(f"its container exited with code {container['ExitCode']}")
    if container.get("Reason"):
        parts.append(str(container["Reason"]))
    lines = log_tail(log_stream(arn), LAST_LOG_LINES)
    reason = "; ".join(parts)
    reason += ". Its last log lines:\n" + "\n".join(lines) if lines else ". It wrote no log lines."
    if len(reason) > MAX_REASON_CHARS:  # keep the end: the error is in the last lines
        reason = reason[:300] + "\n…\n" + reason[-(MAX_REASON_CHARS - 305) :]
    return {
        "name": name,
        "status": "failed",
        "reason": reason,
        "runs_on": "fargate",
        "task_arn": arn,
        "seconds": _seconds(stopped),
    }
