"""What `mlops train` prints when a run ends: the registration's message, and each candidate that
failed while the run went on without it (a fit killed on Fargate is otherwise one state among many)."""

from __future__ import annotations

import json
from typing import Any, cast

from mlopsctl.target import Target
from mlopsctl.training_runs import training_outcome

RUN_ID = "train-loans-20261205T120000-abc123"
TASK_REASON = (
    "the Fargate task arn:aws:ecs:us-east-1:1:task/fit/0a stopped: Essential container in task exited; "
    "its container exited with code 137. Its last log lines:\nline 1\nMemoryError"
)
RUN_RECORD = {
    "status": "succeeded",
    "model": "loans",
    "version": 3,
    "prefix": "models/loans/runs/r/",
    "candidates": [
        {"name": "logistic", "estimator": "logistic_regression", "status": "succeeded"},
        {"name": "badforest", "estimator": "random_forest", "status": "failed", "error": TASK_REASON},
    ],
}
MESSAGE = (
    "Model loans version 3: registered and promoted to champion.\nSelected candidate: logistic (logistic_regression)."
)


class FakeTarget:
    """The deployment as `training_outcome` reads it: the run record in the registry table, and no gates.json."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def output(self, name: str) -> str:
        return name

    def resource(self, service: str) -> FakeTarget:
        return self

    def Table(self, name: str) -> FakeTarget:
        return self

    def get_item(self, Key: dict[str, str]) -> dict[str, Any]:  # noqa: N803  (boto3's name)
        assert Key == {"pk": f"RUN#{RUN_ID}", "sk": "META"}
        return {"Item": self.record}

    def client(self, service: str) -> FakeTarget:
        return self

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        raise KeyError(kwargs["Key"])  # no gates.json: the summary is the message alone


def test_the_closing_summary_names_a_candidate_that_failed() -> None:
    execution = {
        "status": "SUCCEEDED",
        "output": json.dumps({"registration": {"status": "registered", "promoted": True, "message": MESSAGE}}),
    }
    document, text = training_outcome(cast(Target, FakeTarget(RUN_RECORD)), execution, RUN_ID)
    assert text == (
        MESSAGE + "\nFailed candidate: badforest (random_forest): the Fargate task arn:aws:ecs:us-east-1:1:task/fit/0a "
        "stopped: Essential container in task exited; its container exited with code 137. Its last log lines:"
        f"\n(`mlops runs {RUN_ID}` shows each candidate's whole reason)"
    )
    assert document["failed_candidates"] == [{"name": "badforest", "estimator": "random_forest", "reason": TASK_REASON}]


def test_a_run_whose_candidates_all_succeeded_adds_nothing() -> None:
    record = {
        **RUN_RECORD,
        "candidates": [{"name": "logistic", "estimator": "logistic_regression", "status": "succeeded"}],
    }
    execution = {"status": "SUCCEEDED", "output": json.dumps({"registration": {"message": MESSAGE}})}
    document, text = training_outcome(cast(Target, FakeTarget(record)), execution, RUN_ID)
    assert text == MESSAGE and document["failed_candidates"] == []
