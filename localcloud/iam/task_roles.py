"""Step Functions signs the tasks it runs (Lambda invokes, SNS publishes, ...) with the state machine's role.

moto's Step Functions interpreter makes each task's client through `boto_client_for`, with whatever
keys the process holds; here that client signs as the execution's role (assumed through moto's STS),
found from the execution whose state runs on this thread.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from localcloud.iam.credentials import role_credentials

_originals: dict[str, Any] = {}


def _execution_role() -> tuple[str, str] | None:
    """(account, role ARN) of the execution whose state is running on this thread."""
    frame = sys._getframe(1)
    while frame is not None:
        env = frame.f_locals.get("env")
        states = getattr(env, "states", None)
        if states is not None:
            execution = states.context_object.context_object_data.get("Execution", {})
            role = execution.get("RoleArn")
            if role:
                return str(role).split(":")[4], str(role)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    client = _originals["boto_client_for"](region, service, state_credentials)
    found = _execution_role()
    if found is None:
        return client
    account, role = found
    credentials = role_credentials(account, role, "states-execution")
    import boto3

    factory: Any = boto3.client  # the stubs type client() per service literal; this takes any name
    return factory(
        service,
        region_name=region,
        endpoint_url=client.meta.endpoint_url if not _in_process() else None,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        config=client.meta.config,
    )


def _in_process() -> bool:
    from moto.core.models import botocore_stubber

    return bool(botocore_stubber.enabled)


_BOTO_CLIENT_FOR_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


def install() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    _originals["boto_client_for"] = boto_client.boto_client_for
    for name in _BOTO_CLIENT_FOR_USERS:
        module = importlib.import_module(name)
        module.boto_client_for = _boto_client_for  # type: ignore[attr-defined]


def uninstall() -> None:
    for name in _BOTO_CLIENT_FOR_USERS:
        module = importlib.import_module(name)
        module.boto_client_for = _originals["boto_client_for"]  # type: ignore[attr-defined]
    _originals.clear()
