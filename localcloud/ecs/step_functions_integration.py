"""Step Functions' optimized ECS integration (`arn:aws:states:::ecs:runTask` and `.sync`), as AWS runs it.

moto's integration cannot run: its base class leaves request and response normalisation empty, so the
state's PascalCase parameters (`Cluster`, `TaskDefinition`, ...) reach boto3 unconverted and fail
validation, and the code that reads the answer (`response["Tasks"][0]["ClusterArn"]`) finds camelCase
keys (the root cause of moto issue #10076). Its `.sync` also returns a stopped task whatever its
containers' exit codes were. Here, as on AWS:

- parameters are converted to the API's names through botocore's shape of the call;
- answers are returned in Step Functions' casing: PascalCase keys, timestamps in epoch milliseconds;
- `.sync` waits until the task is STOPPED; it succeeds with the task's description when every essential
  container exited 0, and fails with `States.TaskFailed` otherwise, the cause being the stopped task's
  description as JSON (what the Step Functions console shows);
- a refused call fails the state with `ECS.<error code>` and AWS's cause wording, e.g.
  `ECS.InvalidParameterException`; a RunTask answer with failures fails a `.sync` state with
  `AmazonECS.Unknown`.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from localcloud.ecs import task_runs

_ECS_TASK_MODULE = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs"
_originals: dict[str, Any] = {}


@functools.cache
def _ecs_service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ecs")


def step_functions_cased(value: Any) -> Any:
    """An ECS answer as Step Functions returns it: PascalCase keys, timestamps in epoch milliseconds."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): step_functions_cased(v) for k, v in value.items()}
    if isinstance(value, list):
        return [step_functions_cased(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def failed_essential_containers(task: dict[str, Any]) -> list[str]:
    """Names of the stopped task's essential containers that did not exit 0 (no exit code: never ran)."""
    essential = task_runs.essential_container_names(str(task.get("TaskArn")))
    return [
        str(c.get("Name"))
        for c in task.get("Containers", [])
        if (essential is None or c.get("Name") in essential) and c.get("ExitCode") != 0
    ]


def _normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    action = service_action_name or self.resource.api_action
    operation = _ecs_service_model().operation_model(action[:1].upper() + action[1:])
    self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    if isinstance(response, dict):  # in place: moto's callers read the dict they passed
        cased = step_functions_cased(response)
        response.clear()
        response.update(cased)


def _failure(self: Any, env: Any, error: str, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name: Any = (
        StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
        if error == "States.TaskFailed"
        else CustomErrorName(error)
    )
    failure: Exception = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )
    )
    return failure


def _build_sync_resolver(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> Callable[[], Any]:
    module = importlib.import_module(_ECS_TASK_MODULE)  # its client factory signs as the state machine's role
    ecs = module.boto_client_for(
        service="ecs", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    submitted: dict[str, Any] = env.stack.pop()
    if submitted.get("Failures"):
        raise _failure(self, env, "AmazonECS.Unknown", json.dumps(submitted["Failures"], separators=(",", ":")))
    task_arn, cluster_arn = submitted["Tasks"][0]["TaskArn"], submitted["Tasks"][0]["ClusterArn"]

    def resolve() -> dict[str, Any] | None:
        described = ecs.describe_tasks(cluster=cluster_arn, tasks=[task_arn])
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            return None
        task: dict[str, Any] = step_functions_cased(described["tasks"][0])
        if failed_essential_containers(task):
            cause = json.dumps(task, sort_keys=True, separators=(",", ":"))
            raise _failure(self, env, "States.TaskFailed", cause)
        return task

    return resolve


def _from_error(self: Any, env: Any, ex: Exception) -> Any:
    if isinstance(ex, ClientError):
        error = ex.response["Error"]
        metadata = ex.response["ResponseMetadata"]
        details = "; ".join(
            [
                "Service: AmazonECS",
                f"Status Code: {metadata.get('HTTPStatusCode')}",
                f"Error Code: {error['Code']}",
                f"Request ID: {metadata.get('RequestId')}",
                "Proxy: null",
            ]
        )
        failure = _failure(self, env, f"ECS.{error['Code']}", f"{error.get('Message', '')} ({details})")
        return failure.failure_event  # type: ignore[attr-defined]
    return _originals["_from_error"](self, env, ex)


_REPLACED = {
    "_normalise_parameters": _normalise_parameters,
    "_normalise_response": _normalise_response,
    "_build_sync_resolver": _build_sync_resolver,
    "_from_error": _from_error,
}


def install() -> None:
    cls = importlib.import_module(_ECS_TASK_MODULE).StateTaskServiceEcs
    for name, replacement in _REPLACED.items():
        _originals[name] = getattr(cls, name)
        _originals[f"own:{name}"] = name in vars(cls)  # defined on the class, or inherited
        setattr(cls, name, replacement)


def uninstall() -> None:
    cls = importlib.import_module(_ECS_TASK_MODULE).StateTaskServiceEcs
    for name in _REPLACED:
        if name not in _originals:
            continue
        original, own = _originals.pop(name), _originals.pop(f"own:{name}")
        if own:
            setattr(cls, name, original)
        else:
            delattr(cls, name)
