"""The parity step as the pipeline calls it after export: the ONNX model answers as scikit-learn did,
or the pipeline is told to try the next-ranked candidate; the gate reads what parity measured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.handlers.pipeline import ARTIFACTS, TrainingRun, exported, new_run, step
from tests.unit.handlers.support import QUIET, loaded
from tests.unit.serving.support import diabetes

pytestmark = QUIET


@pytest.fixture(scope="module")
def modules() -> Iterator[tuple[Any, Any]]:
    with loaded("handlers.training") as training, loaded("handlers.parity") as parity:
        yield training, parity


@pytest.fixture
def run(modules: tuple[Any, Any]) -> Iterator[TrainingRun]:
    training, parity = modules
    run = new_run()
    with training.services.replaced(run.services), parity.services.replaced(run.artifacts):
        yield run


def test_the_exported_model_holds_parity_and_the_gate_reads_its_latency(
    modules: tuple[Any, Any], run: TrainingRun
) -> None:
    training, parity = modules
    payload, evaluation, export = exported(training)
    checked = step(parity, "handler", {"run": payload, "evaluation": evaluation, "export": export})
    assert checked["parity_passed"] is True and checked["try_next"] is False, checked
    assert (ARTIFACTS, f"{payload['prefix']}latency.json") in run.s3.objects
    gates = step(training, "gate", {"run": payload})
    assert gates["passed"] is True, gates


def test_a_model_that_answers_otherwise_sends_the_pipeline_to_the_next_candidate(
    modules: tuple[Any, Any], run: TrainingRun
) -> None:
    training, parity = modules
    payload, evaluation, export = exported(training)
    other = next(body for key, body in diabetes().artifacts.items() if key.endswith("model.onnx"))
    run.s3.put_object(Bucket=ARTIFACTS, Key=f"{payload['prefix']}model.onnx", Body=other)
    checked = step(parity, "handler", {"run": payload, "evaluation": evaluation, "export": export})
    assert checked["parity_passed"] is False
    assert (checked["try_next"], checked["next_attempt"]) == (True, 1)
    assert evaluation["ranked"][0] in checked["parity_message"]
