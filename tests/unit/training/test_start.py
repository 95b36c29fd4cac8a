"""Every trigger starts a run through one function: one naming rule, one answer to a repeat."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops.training.start import (
    MAX_RUN_ID,
    TrainingRequest,
    TrainingRequestError,
    execution_arn,
    run_id,
    start_training,
)

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:training"


class ExecutionAlreadyExists(Exception):  # noqa: N818 (the name boto3 gives it)
    pass


class FakeStepFunctions:
    """Step Functions' refusal of a second execution of one name, and nothing else."""

    class exceptions:  # noqa: N801 (boto3's shape)
        ExecutionAlreadyExists = ExecutionAlreadyExists

    def __init__(self) -> None:
        self.started: dict[str, str] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803
        if name in self.started:
            raise ExecutionAlreadyExists(name)
        self.started[name] = input
        return {"executionArn": execution_arn(stateMachineArn, name)}


def test_a_repeated_trigger_finds_the_run_it_started() -> None:
    sfn = FakeStepFunctions()
    request = TrainingRequest("churn", "new dataset version 3f2a")
    name = run_id("ingest", "churn", "3f2a9c")
    first = start_training(sfn, MACHINE, request, name)
    again = start_training(sfn, MACHINE, request, name)
    assert (first.already_started, again.already_started) == (False, True)
    assert first.execution_arn == again.execution_arn == f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    assert json.loads(sfn.started[name]) == {"dataset": "churn", "reason": "new dataset version 3f2a"}


def test_run_ids_fit_step_functions_names() -> None:
    assert run_id("retrain", "churn", "20261123T12") == "retrain-churn-20261123T12"
    long = run_id("train", "d" * 70, "20261205T101500-abc123")
    assert len(long) == MAX_RUN_ID and long.startswith("train-ddd")
    assert run_id("ingest", "my data", "v/1") == "ingest-my-data-v-1"


def test_a_request_names_its_dataset_and_at_most_one_version() -> None:
    assert TrainingRequest.from_event({"dataset": "churn"}) == TrainingRequest("churn", "requested", None)
    pinned = TrainingRequest.from_event({"dataset": "churn", "reason": "r", "dataset_version": "ab" * 32})
    assert json.loads(pinned.to_json())["dataset_version"] == "ab" * 32
    with pytest.raises(TrainingRequestError, match="names no dataset"):
        TrainingRequest.from_event({"reason": "x"})
    with pytest.raises(TrainingRequestError, match="dataset_version"):
        TrainingRequest.from_event({"dataset": "churn", "dataset_version": 3})


def test_a_request_carries_what_started_it_as_text_fields() -> None:
    cause = {"trigger": "performance", "check": "2026-12-01T12:00:00+00:00", "feedback_key": "raw/d/feedback-d.csv"}
    request = TrainingRequest("churn", "performance: accuracy 0.71 past its floor 0.8", cause=cause)
    assert TrainingRequest.from_event(json.loads(request.to_json())) == request
    assert "cause" not in json.loads(TrainingRequest("churn", "drift: …").to_json()), "drift's requests are as before"
    with pytest.raises(TrainingRequestError, match="cause"):
        TrainingRequest.from_event({"dataset": "churn", "cause": {"check": 3}})


def test_an_import_request_names_its_file_by_hash_and_survives_the_round_trip() -> None:
    imported = {"key": "models/m/imports/" + "a" * 64 + "/model.onnx", "sha256": "a" * 64, "file_name": "lr.onnx"}
    request = TrainingRequest.from_event({"dataset": "m", "imported": {**imported, "format": "onnx"}})
    assert request.imported is not None and request.imported.file_name == "lr.onnx"
    assert TrainingRequest.from_event(json.loads(request.to_json())) == request
    with pytest.raises(TrainingRequestError, match=r"imported\.format must be one of onnx, joblib"):
        TrainingRequest.from_event({"dataset": "m", "imported": {**imported, "format": "pickle"}})
    with pytest.raises(TrainingRequestError, match="sha256 must be 64 lowercase hex digits"):
        TrainingRequest.from_event({"dataset": "m", "imported": {**imported, "sha256": "abc", "format": "onnx"}})
