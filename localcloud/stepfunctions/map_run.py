"""A Distributed Map's run: items (batched), child executions, the failure threshold, the results.

moto runs each item as a child and then returns every output, a failed child's as `null`, so a Map
whose children all failed succeeds. Here each child's outcome (status, error, cause, times) is kept;
`ItemSelector` then `ItemBatcher` shape the children's inputs; once the failed items pass the
tolerance no further child starts (those items stay PENDING) and the Map fails with
`States.ExceedToleratedFailureThreshold`; the results go to S3 when the state has a `ResultWriter`
(`result_writer`), whether the run succeeded or not. Without one, the Map's output lists each child's
output in item order, and for a child that did not succeed its execution record, as Step Functions
returns it.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

from localcloud.stepfunctions.item_batcher import BatchingError, batch_items
from localcloud.stepfunctions.map_definition import MapSettings, settings_of
from localcloud.stepfunctions.map_failures import map_run_failure, runtime_failure
from localcloud.stepfunctions.result_writer import write_results
from localcloud.stepfunctions.tolerated_failures import EXCEEDED_CAUSE, FailureTolerance

# Children run on threads; AWS runs up to 10,000 at once, which would be 10,000 threads here. The
# outcomes do not depend on how many run at once, only the wall time does.
WORKER_THREADS = 32
_UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ChildOutcome:
    """How one child execution ended (PENDING: it never started, the Map Run failed first)."""

    index: int
    input: Any
    items: int
    status: str
    name: str = ""
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start: datetime | None = None
    stop: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in _UNSUCCESSFUL


class ToleratingJobPool(JobPool):  # type: ignore[misc]
    """moto's job pool, keeping each child's outcome and starting no child once the tolerance is passed."""

    def __init__(
        self,
        job_program: Any,
        job_inputs: list[Any],
        item_counts: list[int],
        tolerance: Callable[[], FailureTolerance],
    ) -> None:
        super().__init__(job_program=job_program, job_inputs=job_inputs)
        self._inputs = list(job_inputs)
        self._item_counts = item_counts
        self._total_items = sum(item_counts)
        self._tolerance = tolerance
        self._outcomes: dict[int, ChildOutcome] = {}
        self._started = 0
        self._failed_items = 0
        self._record_lock = threading.Lock()
        self.exceeded = False

    def item_count(self, index: int) -> int:
        return self._item_counts[index]

    def next_job(self) -> Any:
        with self._mutex:
            if self.exceeded or self._worker_exception is not None or not self._open_jobs:
                return None
            self._started += 1
            return self._open_jobs.pop()

    def record(self, outcome: ChildOutcome) -> None:
        with self._record_lock:
            self._outcomes[outcome.index] = outcome
            if outcome.failed:
                self._failed_items += outcome.items
                if self._tolerance().exceeded(self._failed_items, self._total_items):
                    self.exceeded = True

    def _is_terminated(self) -> bool:
        expected = self._started if self.exceeded else self._jobs_number
        return len(self._closed_jobs) >= expected or self._worker_exception is not None

    def outcomes(self) -> list[ChildOutcome]:
        """Every child in item order; one that never started is PENDING."""
        with self._record_lock:
            return [
                self._outcomes.get(index) or ChildOutcome(index, child_input, self._item_counts[index], "PENDING")
                for index, child_input in enumerate(self._inputs)
            ]


def _eval_job(self: Any, env: Any, job: Any) -> None:
    """moto's child run, keeping the child's outcome in the pool rather than only `None` on failure."""
    pool = self._job_pool
    items = pool.item_count(job.job_index) if isinstance(pool, ToleratingJobPool) else 1
    record = self._map_run_record
    record.item_counter.total.count(items)
    record.item_counter.running.count(items)
    record.execution_counter.total.count()
    record.execution_counter.running.count()
    outcome = ChildOutcome(job.job_index, job.job_input, items, "FAILED", name=str(uuid.uuid4()), start=_now())
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input)
        )
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)
        outcome.input = env.states.get_input()
        job.job_program.eval(env)
        end = env.program_state()
        if isinstance(end, ProgramError):
            outcome.error, outcome.cause = end.error.get("error"), end.error.get("cause")
        elif isinstance(end, ProgramStopped):
            outcome.status = "ABORTED"
        else:
            outcome.status, outcome.output = "SUCCEEDED", env.states.get_input()
    except EvalTimeoutError:
        outcome.status, outcome.error = "TIMED_OUT", "States.Timeout"
    except FailureEventException as failure:
        outcome.error, outcome.cause = failure.extract_error_cause_pair() or (None, None)
    except Exception as error:  # the child failed in the interpreter itself; say so rather than hang
        outcome.error, outcome.cause = "States.Runtime", f"{type(error).__name__}: {error}"
    finally:
        outcome.stop = _now()
        counters = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timed_out", "ABORTED": "aborted"}
        getattr(record.item_counter, counters[outcome.status]).count(items)
        getattr(record.execution_counter, counters[outcome.status]).count()
        if outcome.status == "SUCCEEDED":
            record.item_counter.results_written.count(items)
            record.execution_counter.results_written.count()
        record.item_counter.running.offset(-items)
        record.execution_counter.running.offset(-1)
        job.job_output = outcome.output
        if isinstance(pool, ToleratingJobPool):
            pool.record(outcome)


def execution_record(outcome: ChildOutcome, map_state_machine_arn: str) -> dict[str, Any]:
    """A child as Step Functions reports it in the results (the `NONE` transformation)."""
    if outcome.status == "PENDING":
        return {"Input": json.dumps(outcome.input), "InputDetails": {"Included": True}, "Status": "PENDING"}
    arn = map_state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + outcome.name
    body: dict[str, Any] = {
        "ExecutionArn": arn,
        "Input": json.dumps(outcome.input),
        "InputDetails": {"Included": True},
        "Name": outcome.name,
    }
    if outcome.status == "SUCCEEDED":
        body |= {
            "Output": json.dumps(outcome.output),
            "OutputDetails": {"Included": True},
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
        }
    else:
        body |= {
            "Error": outcome.error or "",
            "Cause": outcome.cause or "",
            "RedriveCount": 0,
            "RedriveStatus": "REDRIVABLE_BY_MAP_RUN",
        }

    def when(moment: datetime | None) -> str:
        return (moment or _now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return body | {
        "StartDate": when(outcome.start),
        "StateMachineArn": map_state_machine_arn,
        "Status": outcome.status,
        "StopDate": when(outcome.stop),
    }


def _selected(env: Any, selector: Any, index: int, item: Any) -> Any:
    """An item through the Map's ItemSelector (or Parameters), as a child would receive it unbatched."""
    frame = env.open_inner_frame()
    try:
        frame.states.context_object.context_object_data["Map"] = MapData(Item=ItemData(Index=index, Value=item))
        state_input = env.stack[-1]
        frame.states.reset(input_value=state_input)
        frame.stack.append(state_input)
        selector.eval(frame)
        return frame.stack[-1]
    finally:
        env.delete_frame(frame)


def _child_inputs(
    env: Any, eval_input: Any, settings: MapSettings, items: list[Any]
) -> tuple[list[Any], list[int], Any]:
    """(child inputs, items per child, eval input for the workers) once items are selected and batched."""
    if settings.batching is None:
        return items, [1] * len(items), eval_input
    selector = eval_input.item_selector or eval_input.parameters
    if selector is not None:
        items = [_selected(env, selector, index, item) for index, item in enumerate(items)]
        eval_input = copy.copy(eval_input)
        eval_input.item_selector = eval_input.parameters = None  # already applied, item by item
    try:
        batches = batch_items(items, settings.batching, env.states.get_input())
    except BatchingError as error:
        raise runtime_failure(env, f"ItemBatcher: {error}") from error
    return list(batches), [len(batch["Items"]) for batch in batches], eval_input


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    items: list[Any] = env.stack.pop()
    settings = settings_of(self) or MapSettings()
    if settings.listed_max_items:
        items = items[: settings.listed_max_items]
    inputs, item_counts, eval_input = _child_inputs(env, eval_input, settings, items)
    record = eval_input.map_run_record

    def tolerance() -> FailureTolerance:  # read each time: UpdateMapRun may change it mid-run
        count, percentage = record.tolerated_failure_count, record.tolerated_failure_percentage
        return FailureTolerance(
            count=count if settings.count_given or count else None,
            percentage=percentage if settings.percentage_given or percentage else None,
        )

    pool = ToleratingJobPool(self._get_iteration_program(), inputs, item_counts, tolerance)
    limit = record.max_concurrency or len(inputs)
    for _ in range(min(len(inputs), limit, WORKER_THREADS)):
        self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
    pool.await_jobs()
    worker_exception = pool.get_worker_exception()
    if worker_exception is not None:
        raise worker_exception
    outcomes = pool.outcomes()
    written = None
    if settings.result_writer is not None:
        records = [(outcome.status, execution_record(outcome, record.map_state_machine_arn)) for outcome in outcomes]
        written = write_results(env, settings.result_writer, record.map_run_arn, records)
    if pool.exceeded:
        raise map_run_failure(env, StatesErrorNameType.StatesExceedToleratedFailureThreshold, EXCEEDED_CAUSE)
    if written is not None:
        env.stack.append(written)
        return
    env.stack.append(
        [
            outcome.output if outcome.status == "SUCCEEDED" else execution_record(outcome, record.map_state_machine_arn)
            for outcome in outcomes
        ]
    )


_original_map_run = DistributedIterationComponent._map_run
_original_eval_job = DistributedItemProcessorWorker._eval_job


def install() -> None:
    DistributedIterationComponent._map_run = _map_run
    DistributedItemProcessorWorker._eval_job = _eval_job


def uninstall() -> None:
    DistributedIterationComponent._map_run = _original_map_run
    DistributedItemProcessorWorker._eval_job = _original_eval_job
