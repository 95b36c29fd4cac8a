"""Where a candidate's fit runs: the fit Lambda while its estimated memory and time fit, an ECS Fargate
task past them, and the config's `fargate` section refusing a task size Fargate does not run."""

from __future__ import annotations

import pytest

from mlops.training.config import ConfigError, config_from_dict
from mlops.training.fit_placement import FargateConfig, FitPlacement, estimate_fit, place_fits
from mlops.training.search_space import Candidate

LOGISTIC = Candidate(name="logistic", estimator="logistic_regression", params={"C": 1.0})
FOREST = Candidate(name="forest", estimator="random_forest", params={"n_estimators": 30, "max_depth": 6})
UNBOUNDED_FOREST = Candidate(name="deep", estimator="random_forest", params={"n_estimators": 200})
GRID_FOREST = Candidate.model_validate(
    {"name": "grid", "estimator": "random_forest", "search": {"grid": {"max_depth": [4, 6], "n_estimators": [50, 300]}}}
)
KEY = "models/m/runs/r/fargate/{name}.json"


def _place(candidates: list[Candidate], config: FargateConfig, rows: int, features: int = 20) -> list[FitPlacement]:
    return place_fits(candidates, config, rows=rows, features=features, split_bytes=rows * features * 4, input_key=KEY)


def test_a_small_training_set_stays_in_the_fit_lambda() -> None:
    placements = _place([LOGISTIC, FOREST], FargateConfig(), rows=50_000)
    assert [p.runs_on for p in placements] == ["lambda", "lambda"]
    assert all(p.input_key is None for p in placements)
    assert placements[0].reason.startswith("fits the fit Lambda: estimated")


def test_a_forest_on_a_million_rows_leaves_lambda_and_a_logistic_regression_does_not() -> None:
    logistic, forest = _place([LOGISTIC, UNBOUNDED_FOREST], FargateConfig(), rows=1_000_000)
    assert logistic.runs_on == "lambda"
    assert forest.runs_on == "fargate"
    assert "over fargate.above_megabytes" in forest.reason, "200 unbounded trees on 1M rows hold tens of GB"
    assert forest.input_key == "models/m/runs/r/fargate/deep.json"
    assert (forest.cpu, forest.memory, forest.memory_mib) == ("2048", "16384", 16384)


def test_a_long_search_leaves_lambda_by_its_time_estimate() -> None:
    (placement,) = _place([GRID_FOREST], FargateConfig(), rows=400_000)
    assert placement.estimate.fits == 5, "four grid settings and the refit"
    assert placement.runs_on == "fargate"
    assert "over fargate.above_minutes" in placement.reason


def test_the_estimates_grow_with_the_data_and_with_the_search() -> None:
    small, large = (estimate_fit(FOREST, rows, 20, rows * 80) for rows in (10_000, 1_000_000))
    assert large.memory_mib > small.memory_mib and large.minutes > 50 * small.minutes
    assert estimate_fit(GRID_FOREST, 10_000, 20, 800_000).minutes > estimate_fit(FOREST, 10_000, 20, 800_000).minutes


def test_the_thresholds_and_always_are_the_users_to_set() -> None:
    assert [p.runs_on for p in _place([LOGISTIC], FargateConfig(always=True), rows=100)] == ["fargate"]
    assert _place([LOGISTIC], FargateConfig(always=True), rows=100)[0].reason == "fargate.always is set"
    by_rows = _place([LOGISTIC], FargateConfig(above_rows=99), rows=100)[0]
    assert by_rows.runs_on == "fargate" and "over fargate.above_rows (99)" in by_rows.reason
    # A threshold between the two candidates' time estimates splits them (as the local test does).
    low = estimate_fit(LOGISTIC, 455, 30, 455 * 120).minutes
    high = estimate_fit(FOREST, 455, 30, 455 * 120).minutes
    assert low < high
    split = _place([LOGISTIC, FOREST], FargateConfig(above_minutes=(low + high) / 2), rows=455, features=30)
    assert [p.runs_on for p in split] == ["lambda", "fargate"]


def test_a_fargate_estimate_over_the_task_memory_says_to_raise_it() -> None:
    (placement,) = _place([UNBOUNDED_FOREST], FargateConfig(cpu=1024, memory=2048), rows=1_000_000)
    assert "over fargate.memory (2048 MiB): raise it" in placement.reason


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"cpu": 3000}, "cpu 3000 is not a Fargate size"),
        ({"cpu": 256, "memory": 4096}, "Fargate runs 256 CPU units with 512 to 2048 MiB, not 4096"),
        ({"cpu": 2048, "memory": 4000}, "4096 to 16384 MiB in steps of 1024, not 4000"),
        ({"above_minutes": 0}, "fargate.above_minutes"),
        ({"memory_gb": 4}, "fargate.memory_gb"),
    ],
)
def test_the_config_refuses_a_task_size_fargate_does_not_run(section: dict[str, object], message: str) -> None:
    config = {
        "dataset": "d",
        "problem_type": "binary",
        "label": "y",
        "candidates": [{"name": "lr", "estimator": "logistic_regression"}],
        "fargate": section,
    }
    with pytest.raises(ConfigError) as caught:
        config_from_dict(config)
    assert message in str(caught.value)
