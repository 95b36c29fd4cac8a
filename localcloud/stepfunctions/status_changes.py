"""What Step Functions publishes about executions, which moto does not: AWS/States metrics and the
"Step Functions Execution Status Change" events that EventBridge rules (and alarms) react to."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from moto.stepfunctions.parser.backend import execution as execution_module

from localcloud import eventbridge
from localcloud.cloudwatch import store_metric_data

log = logging.getLogger(__name__)

_METRIC_BY_STATUS = {
    "RUNNING": "ExecutionsStarted",
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
_original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated
_original_start = execution_module.Execution.start


def _millis(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def _status(execution: Any) -> str:
    status = execution.exec_status
    return str(getattr(status, "value", status))


def _publish(execution: Any) -> None:
    status = _status(execution)
    now = datetime.now(UTC)
    metric = _METRIC_BY_STATUS.get(status)
    if metric:
        store_metric_data(
            execution.account_id,
            execution.region_name,
            "AWS/States",
            [
                {
                    "MetricName": metric,
                    "Value": 1.0,
                    "Unit": "Count",
                    "Timestamp": now,
                    "Dimensions": [{"Name": "StateMachineArn", "Value": execution.state_machine_arn}],
                }
            ],
        )
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(getattr(execution, "start_date", None)),
        "stopDate": _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": execution.output
        if isinstance(execution.output, str) or execution.output is None
        else json.dumps(execution.output),
        "error": execution.error,
        "cause": execution.cause,
    }
    eventbridge.deliver(
        {
            "Source": "aws.states",
            "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail),
            "Resources": [execution.exec_arn],
        },
        account_id=execution.account_id,
        region=execution.region_name,
    )


def _terminated(self: Any) -> None:
    _original_terminated(self)
    try:
        _publish(self.execution)
    except Exception:  # reporting must never change how the execution ended
        log.exception("could not publish the end of %s", self.execution.exec_arn)


def _start(self: Any) -> None:
    _original_start(self)
    try:
        _publish(self)
    except Exception:
        log.exception("could not publish the start of %s", self.exec_arn)


def install() -> None:
    execution_module.BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]
    execution_module.Execution.start = _start  # type: ignore[method-assign]


def uninstall() -> None:
    execution_module.BaseExecutionWorkerCommunication.terminated = _original_terminated  # type: ignore[method-assign]
    execution_module.Execution.start = _original_start  # type: ignore[method-assign]
