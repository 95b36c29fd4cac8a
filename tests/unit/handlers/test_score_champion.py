"""The score-champion step as the pipeline calls it after prepare: the serving champion answers the
run's test rows, so the gate compares challenger and champion on the same rows; a champion that
cannot be scored is reported, never the run's end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.handlers.pipeline import ARTIFACTS, DATASET, TrainingRun, first_step, new_run, step
from tests.unit.handlers.support import QUIET, loaded
from tests.unit.serving.support import breast_cancer

pytestmark = QUIET


@pytest.fixture(scope="module")
def modules() -> Iterator[tuple[Any, Any]]:
    with loaded("handlers.training") as training, loaded("handlers.score_champion") as score_champion:
        yield training, score_champion


@pytest.fixture
def run(modules: tuple[Any, Any]) -> Iterator[TrainingRun]:
    training, score_champion = modules
    run = new_run()
    scoring = score_champion.ScoreChampionServices(run.artifacts, run.services.models)
    with training.services.replaced(run.services), score_champion.services.replaced(scoring):
        yield run


def _prepared(modules: tuple[Any, Any]) -> dict[str, Any]:
    payload = step(modules[0], "prepare", first_step({"dataset": DATASET}))
    payload.pop("candidates")
    return payload


def _promote(run: TrainingRun, *, with_artifacts: bool = True) -> None:
    champion = breast_cancer()
    if with_artifacts:
        for key, body in champion.artifacts.items():
            run.s3.put_object(Bucket=ARTIFACTS, Key=key, Body=body)
    run.models.records[(DATASET, 1)] = {**champion.record, "model": DATASET}
    run.models.aliases[(DATASET, "champion")] = {"version": 1}


def test_without_a_champion_there_is_nothing_to_compare(modules: tuple[Any, Any], run: TrainingRun) -> None:
    outcome = step(modules[1], "handler", {"run": _prepared(modules)})
    assert outcome == {"champion_version": None, "rows_scored": 0, "basis": "no champion"}


def test_the_champion_answers_every_test_row(modules: tuple[Any, Any], run: TrainingRun) -> None:
    _promote(run)
    payload = _prepared(modules)
    outcome = step(modules[1], "handler", {"run": payload})
    assert outcome["champion_version"] == 1 and outcome["rows_scored"] > 0
    assert outcome["basis"].startswith(f"champion v1 on {outcome['rows_scored']:,} of this run's ")
    assert (ARTIFACTS, f"{payload['prefix']}champion_scores.npz") in run.s3.objects


def test_a_champion_that_cannot_be_loaded_is_reported_not_fatal(modules: tuple[Any, Any], run: TrainingRun) -> None:
    _promote(run, with_artifacts=False)
    outcome = step(modules[1], "handler", {"run": _prepared(modules)})
    assert (outcome["champion_version"], outcome["rows_scored"]) == (1, 0)
    assert "not scored: it could not be scored" in outcome["basis"]
