"""The batch-scoring function as an uploader meets it: a file under batch/<model>/ gets its parts and
`_SUCCESS.json`, or a `_FAILED.json` saying why, and the function's own outputs are not scored again.
The raw bucket is a dict; the model is a real registered version."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.registry.versions import ModelVersion
from mlops.serving.batch import S3BatchStore
from mlops.serving.batch.parts import PartsRouting
from mlops.serving.models import ServedModels
from tests.unit.handlers.support import QUIET, Context, FakeS3, emitted, loaded, logged, s3_event
from tests.unit.serving.support import churn

pytestmark = QUIET
RAW = "raw"
INPUT = "batch/churn/march.csv"
OUTPUTS = "batch/churn/march.predictions/"
CSV = "id,age,income,member,city\n1,41,52000,true,Oslo\n2,,31000,false,Lyon\n3,35,40000,true,Paris\n"


@pytest.fixture(scope="module")
def batch_scoring() -> Iterator[Any]:
    with loaded("handlers.batch_scoring") as module:
        yield module


class Registry:
    def __init__(self, champion: int | None) -> None:
        self.champion = champion

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return {"champion": {"version": self.champion}} if name == "churn" and self.champion else {}

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        return {**churn().record, "version": version} if name == "churn" else None

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.get_version(name, version)
        return ModelVersion.from_item(item) if item else None


class UndeletableS3(FakeS3):
    """A bucket whose deletes are refused (a role without s3:DeleteObject)."""

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "DeleteObject")


@dataclass
class Scorer:
    module: Any
    s3: FakeS3

    def upload(self, key: str = INPUT, body: str = CSV) -> dict[str, Any]:
        self.s3.put_object(Bucket=RAW, Key=key, Body=body.encode())
        return s3_event(RAW, key, version_id=self.s3.versions[(RAW, key)])

    def call(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = self.module.handler(event, Context())["outcomes"]
        return outcomes

    def rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for key in self.s3.keys(RAW, OUTPUTS):
            if key.endswith(".csv"):
                rows += csv.DictReader(io.StringIO(self.s3.objects[(RAW, key)].decode()))
        return rows


def _scorer(module: Any, s3: FakeS3, champion: int | None = 1) -> Any:
    artifacts = churn().artifacts
    models = ServedModels(registry=Registry(champion), read_artifact=artifacts.__getitem__)
    store = S3BatchStore(s3, RAW, on_delete_failure=module._delete_failed)
    return module.services.replaced(module.BatchScoringServices(store, models, RAW, 2, "serving"))


@pytest.fixture
def scorer(batch_scoring: Any) -> Iterator[Scorer]:
    s3 = FakeS3()
    with _scorer(batch_scoring, s3):
        yield Scorer(batch_scoring, s3)


def test_a_file_is_scored_into_parts_and_a_success_marker(scorer: Scorer, capsys: pytest.CaptureFixture[str]) -> None:
    [outcome] = scorer.call(scorer.upload())
    assert outcome["status"] == "scored", outcome
    assert (outcome["rows"], outcome["rows_scored"], outcome["rows_with_errors"], outcome["parts"]) == (3, 2, 1, 2)
    rows = scorer.rows()
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["prediction"] != "" and rows[2]["prediction"] == ""
    assert "city" in rows[2]["error"]
    success = scorer.s3.json(RAW, OUTPUTS + "_SUCCESS.json")
    assert success["status"] == "succeeded" and success["source"]["key"] == INPUT
    # A scored file emits no metric (only a failure does, for its alarm); its figures are logged.
    assert emitted(capsys.readouterr().out) == {}


def test_the_functions_own_outputs_and_other_buckets_are_not_scored(
    scorer: Scorer, caplog: pytest.LogCaptureFixture
) -> None:
    scorer.call(scorer.upload())
    parts = scorer.s3.keys(RAW, OUTPUTS)
    assert scorer.call(s3_event(RAW, *parts)) == []
    assert scorer.call(s3_event("some-other-bucket", INPUT)) == []
    assert logged(caplog, "event from a bucket this function does not score")
    assert scorer.s3.keys(RAW, OUTPUTS) == parts


def test_a_redelivered_event_is_not_scored_twice(scorer: Scorer) -> None:
    event = scorer.upload()
    scorer.call(event)
    writes = scorer.s3.writes
    [outcome] = scorer.call(event)
    assert outcome["status"] == "already_scored"
    assert scorer.s3.writes == writes


def test_a_model_without_a_champion_gets_a_failure_marker_and_the_invocation_succeeds(
    batch_scoring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = FakeS3()
    with _scorer(batch_scoring, s3, champion=None):
        scorer = Scorer(batch_scoring, s3)
        [outcome] = scorer.call(scorer.upload())
    assert outcome["status"] == "failed" and "no_champion" in outcome["summary"]
    failed = s3.json(RAW, OUTPUTS + "_FAILED.json")
    assert failed["code"] == "no_champion" and "promote a version first" in failed["message"]
    # the one metric a batch file still emits, with exactly the dimension its alarm watches
    (metric,) = emitted(capsys.readouterr().out)["BatchFilesFailed"]
    assert {k for k in metric if k not in ("BatchFilesFailed", "_aws")} == {"service"}


def test_a_stale_output_that_cannot_be_deleted_is_logged_and_the_file_still_scored(
    batch_scoring: Any, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = UndeletableS3()
    with _scorer(batch_scoring, s3):
        scorer = Scorer(batch_scoring, s3)
        scorer.call(scorer.upload())
        [outcome] = scorer.call(scorer.upload(body=CSV.replace("Paris", "Oslo")))  # a new version of the file
    assert outcome["status"] == "scored" and outcome["rows_with_errors"] == 0
    [record] = logged(caplog, "could not delete a stale batch output")
    assert record.__dict__["key"] == OUTPUTS + "_SUCCESS.json"


class StepFunctions:
    """Step Functions' StartExecution: an execution name is used once (a second start is refused)."""

    class exceptions:  # noqa: N801 - botocore's shape
        class ExecutionAlreadyExists(Exception):  # noqa: N818 - botocore's name
            pass

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:  # noqa: N803
        if name in self.started:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.started[name] = json.loads(input)
        return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"}


def test_a_file_past_the_threshold_starts_the_state_machine_with_the_champion_pinned(
    batch_scoring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3, sfn = FakeS3(), StepFunctions()
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:batch-parts"
    with _scorer(batch_scoring, s3) as current:
        routing = PartsRouting(len(CSV) - 1, 1 << 30, partial(batch_scoring._start_parts, sfn, machine))
        with batch_scoring.services.replaced(replace(current, parts=routing)):
            scorer = Scorer(batch_scoring, s3)
            event = scorer.upload()
            [outcome] = scorer.call(event)
            [again] = scorer.call(event)  # redelivered while the run is going: no second run
    assert outcome["status"] == again["status"] == "in_parts" and outcome["version"] == 1
    [(name, started)] = sfn.started.items()
    assert name in again["summary"] and name in outcome["summary"]
    run = started["run"]
    assert (run["version"], run["onnx_sha256"]) == (1, churn().record["onnx_sha256"])
    assert run["upload"]["key"] == INPUT and run["size"] == len(CSV) and run["chunk_rows"] == 2
    assert not s3.keys(RAW, OUTPUTS), "the state machine writes the outputs"
    assert emitted(capsys.readouterr().out) == {}  # issue #21: the log entry says it, no metric
