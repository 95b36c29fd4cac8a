"""The training pipeline's step functions as Step Functions calls them: the payload each returns is
the next one's input, and a training request the pipeline cannot use fails the first step with a
message naming what to fix. Buckets are dicts, the registry fakes; the data is breast cancer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from mlops.training.data import TrainingInputError
from mlops.training.explain_export import registered_explanation
from tests.unit.handlers.pipeline import ARTIFACTS, DATASET, RUN, TrainingRun, first_step, new_run, step
from tests.unit.handlers.support import QUIET, emitted, loaded

pytestmark = QUIET


@pytest.fixture(scope="module")
def training() -> Iterator[Any]:
    with loaded("handlers.training") as module:
        yield module


@pytest.fixture
def run(training: Any) -> Iterator[TrainingRun]:
    run = new_run()
    with training.services.replaced(run.services):
        yield run


def test_the_steps_hand_each_other_their_payloads(
    training: Any, run: TrainingRun, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = step(training, "prepare", first_step({"dataset": DATASET, "reason": "first model"}))
    candidates = payload.pop("candidates")
    assert [c["name"] for c in candidates] == ["logreg", "rf"]
    assert (payload["run_id"], payload["model"], payload["dataset_version"]) == (RUN, DATASET, run.version)
    assert run.models.runs[RUN]["reason"] == "first model"
    fitted = [step(training, "fit_candidate", {"run": payload, "candidate": c}) for c in candidates]
    assert [f["status"] for f in fitted] == ["succeeded", "succeeded"]
    assert emitted(capsys.readouterr().out) == {}  # the fit times are logged and in the run record (issue #21)
    evaluation = step(training, "evaluate", {"run": payload, "candidates": fitted})
    assert evaluation["selected"] in ("logreg", "rf")
    assert [c["name"] for c in run.models.runs[RUN]["candidates"]] == ["logreg", "rf"]
    step(training, "export", {"run": payload})
    assert (ARTIFACTS, f"{payload['prefix']}model.onnx") in run.s3.objects
    # The explanation next to it is recorded for the model it was made from, and for no other (a
    # parity retry's next candidate writes its own).
    selected = run.s3.json(ARTIFACTS, f"{payload['prefix']}selected.json")
    stored = run.s3.objects[(ARTIFACTS, f"{payload['prefix']}explanation.npz")]
    recorded = registered_explanation(run.artifacts, payload["prefix"], selected["model_sha256"])
    assert recorded == {
        "explanation.npz": {"key": f"{payload['prefix']}explanation.npz", "sha256": hashlib.sha256(stored).hexdigest()}
    }
    assert registered_explanation(run.artifacts, payload["prefix"], "another model") == {}


def test_a_request_naming_one_version_trains_on_it(training: Any, run: TrainingRun) -> None:
    payload = step(training, "prepare", first_step({"dataset": DATASET, "dataset_version": run.version}))
    assert payload["dataset_version"] == run.version
    assert run.models.runs[RUN]["reason"] == "requested"


def test_the_run_record_keeps_what_started_it(training: Any, run: TrainingRun) -> None:
    cause = {"trigger": "performance", "check": "2026-12-01T12:00:00+00:00", "feedback_key": "raw/d/feedback-x.csv"}
    step(training, "prepare", first_step({"dataset": DATASET, "reason": "performance: accuracy …", "cause": cause}))
    assert run.models.runs[RUN]["cause"] == cause


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"reason": "no dataset"}, 'the training request names no dataset: start it with {"dataset": "<name>"}'),
        ({"dataset": DATASET, "dataset_version": 7}, "dataset_version must be a version hash (text), or left out"),
        ({"dataset": DATASET, "dataset_version": "f" * 64}, f"dataset '{DATASET}' has no version {'f' * 64}"),
        ({"dataset": "other"}, "no training config for dataset 'other': upload one to configs/other.yaml"),
    ],
    ids=["no-dataset", "version-not-text", "unknown-version", "no-config"],
)
def test_a_request_the_pipeline_cannot_use_fails_the_first_step_saying_why(
    training: Any, run: TrainingRun, request_body: dict[str, Any], message: str
) -> None:
    with pytest.raises(TrainingInputError) as failed:
        step(training, "prepare", first_step(request_body))
    assert str(failed.value) == message
    assert run.models.runs == {}
