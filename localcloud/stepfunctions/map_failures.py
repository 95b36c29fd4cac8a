"""The errors a Distributed Map fails with, built once: the Map Run's own and the execution's."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails


def map_run_failure(env: Any, error_type: StatesErrorNameType, cause: str) -> FailureEventException:
    """The Map Run failed (reader, writer, threshold): a Catch on the Map state may take it."""
    error = StatesErrorName(typ=error_type)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error,
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(
                mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.error_name, cause=cause)
            ),
        )
    )


def runtime_failure(env: Any, cause: str) -> FailureEventException:
    """`States.Runtime`: the execution cannot go on as written."""
    error = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error,
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(
                executionFailedEventDetails=ExecutionFailedEventDetails(error=error.error_name, cause=cause)
            ),
        )
    )
