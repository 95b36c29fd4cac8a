"""Starting a training run: one function for every trigger (a new dataset version, drift or a
schedule, an operator's `mlops train`, the demo), so they agree on how a run is named and on what a
second start of the same run does: it finds the run already started, which is how a retried
delivery stays idempotent (Step Functions refuses a second execution of one name for 90 days).

boto3 and the standard library only: the ingest and drift functions carry no training layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops.names import IMPORTED_FORMATS

# Step Functions' execution names: 1-80 characters; this alphabet is safe in S3 keys and log names too.
MAX_RUN_ID = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

Trigger = Literal["ingest", "retrain", "train", "import"]

# Why a run started, as its lineage names it: the reason's own prefix says so for the runs the
# platform starts itself (mlops.monitoring.retraining writes "drift: ...", "performance: ...",
# "schedule: ...", ingestion "new dataset version ..."); any other reason is a person's (`mlops train`).
RUN_TRIGGERS: dict[str, str] = {
    "drift:": "drift",
    "performance:": "performance",
    "schedule:": "schedule",
    "new dataset version": "new_data",
}
MANUAL = "manual"
IMPORTED = "imported"  # a model trained elsewhere (`mlops models import`): its run's trigger, whatever its reason


def run_trigger(reason: str) -> str:
    """`drift`, `performance`, `schedule`, `new_data` or `manual`: what started a run with this reason."""
    return next((trigger for prefix, trigger in RUN_TRIGGERS.items() if reason.startswith(prefix)), MANUAL)


class TrainingRequestError(ValueError):
    """A training request the pipeline cannot start from; the message names the field."""


# The one candidate of a run that registers a model trained elsewhere.
IMPORTED_CANDIDATE = "imported"


def no_params_text(estimator: str | None) -> str:
    """What to show for a version or run that recorded no hyperparameters: a trained candidate ran
    with its estimator's defaults; an imported model's are not known (an ONNX file carries none)."""
    if estimator == "imported ONNX":
        return "not known (imported ONNX)"
    if (estimator or "").startswith("imported"):
        return "not known (imported)"
    return "the estimator's defaults"


@dataclass(frozen=True)
class ImportedFile:
    """A model trained elsewhere, uploaded by `mlops models import`: the run evaluates, checks and
    registers it instead of fitting the config's candidates."""

    key: str  # in the artifacts bucket (mlops.names.import_key)
    sha256: str
    file_name: str  # as the operator named it, for the lineage
    format: str  # one of mlops.names.IMPORTED_FORMATS

    @classmethod
    def from_event(cls, event: Any) -> ImportedFile:
        fields = ("key", "sha256", "file_name", "format")
        if not isinstance(event, Mapping) or not all(isinstance(event.get(f), str) and event.get(f) for f in fields):
            raise TrainingRequestError(f"imported must be an object of text fields {', '.join(fields)}")
        if event["format"] not in IMPORTED_FORMATS:
            raise TrainingRequestError(f"imported.format must be one of {', '.join(IMPORTED_FORMATS)}")
        if not re.fullmatch(r"[0-9a-f]{64}", event["sha256"]):
            raise TrainingRequestError("imported.sha256 must be 64 lowercase hex digits")
        return cls(*(str(event[f]) for f in fields))

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "sha256": self.sha256, "file_name": self.file_name, "format": self.format}


@dataclass(frozen=True)
class TrainingRequest:
    """What a run is asked to do: the execution's input, and the first step's event."""

    dataset: str
    reason: str = "requested"
    # A full version hash: train on this one version, not on what the config's `data` policy chooses.
    dataset_version: str | None = None
    # What started an automatic run, as fields the run record keeps beside the reason (a performance
    # check: its id, the metric, the versions assessed, the feedback upload and its dataset version).
    cause: Mapping[str, str] = field(default_factory=dict)
    # A model trained elsewhere: the run's one candidate (`mlops models import`).
    imported: ImportedFile | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> TrainingRequest:
        dataset = event.get("dataset")
        if not isinstance(dataset, str) or not dataset:
            raise TrainingRequestError('the training request names no dataset: start it with {"dataset": "<name>"}')
        version = event.get("dataset_version")
        if version is not None and (not isinstance(version, str) or not version):
            raise TrainingRequestError("dataset_version must be a version hash (text), or left out")
        cause = event.get("cause") or {}
        if not isinstance(cause, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in cause.items()
        ):
            raise TrainingRequestError("cause must be an object of text fields, or left out")
        imported = ImportedFile.from_event(event["imported"]) if event.get("imported") is not None else None
        return cls(dataset, str(event.get("reason") or "requested"), version, dict(cause), imported)

    def to_json(self) -> str:
        body: dict[str, Any] = {"dataset": self.dataset, "reason": self.reason}
        if self.dataset_version:
            body["dataset_version"] = self.dataset_version
        if self.cause:
            body["cause"] = dict(self.cause)
        if self.imported:
            body["imported"] = self.imported.to_json()
        return json.dumps(body)


@dataclass(frozen=True)
class StartedRun:
    run_id: str  # the execution's name, which the registry's run record is keyed by
    execution_arn: str
    already_started: bool  # an execution of this name existed: a retried trigger, not a new run


def run_id(trigger: Trigger, subject: str, key: str) -> str:
    """`<trigger>-<subject>-<key>`: the same key gives the same run (a new version's hash prefix, the
    hour of a drift check), so a trigger that fires twice starts one run; `mlops train` passes a
    time and a random suffix for a new run each time."""
    return _UNSAFE.sub("-", f"{trigger}-{subject}-{key}")[:MAX_RUN_ID]


def start_training(sfn: Any, state_machine_arn: str, request: TrainingRequest, run: str) -> StartedRun:
    """Start the pipeline for `request` as execution `run`, or find it already started.

    Step Functions answers a repeated start of a running standard execution with the same name and
    input with the original response, and any other repeat with ExecutionAlreadyExists
    (StartExecution, Step Functions API reference); both give the one run."""
    try:
        response = sfn.start_execution(stateMachineArn=state_machine_arn, name=run, input=request.to_json())
    except sfn.exceptions.ExecutionAlreadyExists:
        return StartedRun(run, execution_arn(state_machine_arn, run), already_started=True)
    return StartedRun(run, str(response["executionArn"]), already_started=False)


def execution_arn(state_machine_arn: str, run: str) -> str:
    """The ARN Step Functions gives execution `run` of a standard state machine."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{run}"
