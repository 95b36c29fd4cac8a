"""The failure recorder as the pipeline's catch calls it: the run is marked failed with the reason
a person can act on, and the team is mailed; a run that failed before its first step ran gets a
record too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from mlops.registry.models import ModelRegistry
from tests.unit.handlers.pipeline import FakeModels
from tests.unit.handlers.support import QUIET, Context, FakeSns, emitted, loaded

pytestmark = QUIET
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
RUN = "train-churn-20261123T120000-abc123"


@pytest.fixture(scope="module")
def training_failure() -> Iterator[Any]:
    with loaded("handlers.training_failure") as module:
        yield module


@pytest.fixture
def recorder(training_failure: Any) -> Iterator[tuple[FakeModels, FakeSns]]:
    models, sns = FakeModels(), FakeSns()
    services = training_failure.TrainingFailureServices(cast(ModelRegistry, models), sns, TOPIC)
    with training_failure.services.replaced(services):
        yield models, sns


def _lambda_error(kind: str, message: str) -> dict[str, str]:
    """How Step Functions hands on a Lambda function's error: its JSON error payload as the cause."""
    return {"Error": kind, "Cause": json.dumps({"errorType": kind, "errorMessage": message})}


def test_a_step_that_failed_marks_the_run_failed_and_mails_the_reason(
    training_failure: Any, recorder: tuple[FakeModels, FakeSns], capsys: pytest.CaptureFixture[str]
) -> None:
    models, sns = recorder
    models.start_run(RUN, {"dataset": "churn", "started_at": "2026-11-23T12:00:00+00:00"})
    state = {
        "run": {"run_id": RUN, "dataset": "churn", "model": "churn"},
        "error": _lambda_error("TrainingInputError", "no version accepted since 2026-12-01 (data.since)"),
    }
    outcome = training_failure.record_failure({"state": state, "execution_name": RUN}, Context())
    reason = "TrainingInputError: no version accepted since 2026-12-01 (data.since)"
    assert outcome == {"run_id": RUN, "status": "failed", "reason": reason}
    assert (models.runs[RUN]["status"], models.runs[RUN]["failure_reason"]) == ("failed", reason)
    [mail] = sns.published
    assert (mail["TopicArn"], mail["Subject"]) == (TOPIC, "Training failed for dataset churn")
    assert reason in mail["Message"]
    assert emitted(capsys.readouterr().out) == {}  # the state machine's ExecutionsFailed alarms (issue #21)


def test_a_run_that_failed_before_its_first_step_gets_a_record(
    training_failure: Any, recorder: tuple[FakeModels, FakeSns]
) -> None:
    models, sns = recorder
    state = {"dataset": "churn", "reason": "drift: dataset drift", "error": {"Error": "States.Timeout"}}
    outcome = training_failure.record_failure({"state": state, "execution_name": RUN}, Context())
    assert outcome["reason"] == "States.Timeout"
    assert models.runs[RUN]["reason"] == "drift: dataset drift" and models.runs[RUN]["status"] == "failed"
    assert sns.published[0]["Subject"] == "Training failed for dataset churn"
