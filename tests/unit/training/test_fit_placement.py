"""Where a candidate's fit runs: the fit Lambda while its estimated memory and time fit, an ECS Fargate
task past them, and the config's `fargate` section refusing a task size Fargate does not run."""

from __future__ import annotations

import pytest

from mlops.training.config import ConfigError, config_from_dict
from mlops.training.fit_placement import FargateConfig, FitPlacement, estimate_fit, place_fits, smallest_task
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
    big_task = FargateConfig(cpu=8192, memory=45056)
    logistic, forest = _place([LOGISTIC, UNBOUNDED_FOREST], big_task, rows=1_000_000)
    assert logistic.runs_on == "lambda"
    assert forest.runs_on == "fargate" and forest.task_fits
    assert "over fargate.above_megabytes" in forest.reason, "200 unbounded trees on 1M rows hold tens of GB"
    assert forest.input_key == "models/m/runs/r/fargate/deep.json"
    assert (forest.cpu, forest.memory, forest.memory_mib) == ("8192", "45056", 45056)


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


def test_a_fargate_fit_estimated_over_the_task_memory_fails_without_a_task_naming_a_size_that_holds_it() -> None:
    # 100 unbounded trees on 20,000 rows of 20 features: about 800 MiB estimated, past a 512 MiB task.
    forest = Candidate(name="hog", estimator="random_forest", params={"n_estimators": 100})
    (placement,) = _place([forest], FargateConfig(always=True, cpu=256, memory=512), rows=20_000)
    assert placement.runs_on == "fargate" and not placement.task_fits
    assert placement.input_key is None, "no task, so no task input"
    estimate = f"{placement.estimate.memory_mib:,.0f} MiB"
    assert placement.reason == (
        f"fargate.always is set; not started: its estimated fit memory ({estimate}) is over the Fargate "
        "task's 512 MiB (fargate.memory, with cpu 256); the smallest size that holds it: "
        "fargate: {cpu: 256, memory: 1024}"
    )
    (fits,) = _place([forest], FargateConfig(always=True, cpu=256, memory=1024), rows=20_000)
    assert fits.task_fits and fits.input_key == "models/m/runs/r/fargate/hog.json"


def test_a_fit_no_fargate_task_holds_says_so() -> None:
    (placement,) = _place([UNBOUNDED_FOREST], FargateConfig(), rows=10_000_000)
    assert not placement.task_fits
    assert "over Fargate's largest task (122,880 MiB): sample the training set" in placement.reason


def test_the_smallest_task_is_the_least_memory_then_the_fewest_cpus() -> None:
    assert smallest_task(5194) == (1024, 6144)
    assert smallest_task(512) == (256, 512)
    assert smallest_task(122_881) is None


def test_a_lambda_fit_is_never_refused_for_the_task_size() -> None:
    (placement,) = _place([LOGISTIC], FargateConfig(cpu=256, memory=512), rows=50_000)
    assert placement.runs_on == "lambda" and placement.task_fits


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"cpu": 3000}, "cpu 3000 is not a Fargate size"),
        ({"cpu": 256, "memory": 4096}, "Fargate runs 256 CPU units with 512 to 2048 MiB, not 4096"),
        (
            {"cpu": 256},
            "fargate.memory defaults to 16384 MiB, which does not go with cpu 256: Fargate runs 256 CPU units "
            "with 512 to 2048 MiB; set memory to one of 512, 1024, 2048",
        ),
        (
            {"memory": 512},
            "fargate.cpu defaults to 2048, which does not go with memory 512 MiB: Fargate runs 2048 CPU units "
            "with 4096 to 16384 MiB in steps of 1024; set cpu to 256",
        ),
        ({"memory": 3000}, "no Fargate size has that memory"),
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
