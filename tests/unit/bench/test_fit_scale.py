"""The fit-scale estimate's arithmetic (scaling, Amdahl, Fargate size and price), and its quick run:
the figures the README quotes for "a 50M-row fit on one 16 vCPU task" come from these."""

from __future__ import annotations

import math

import pytest

from bench import bench_fit_scale as fit_scale
from mlops.training.search_space import Candidate, Search


def test_a_curve_that_grows_as_n_log_n_is_extrapolated_exactly() -> None:
    seconds = {rows: 3e-8 * rows * math.log2(rows) for rows in (100_000, 300_000, 1_000_000)}
    curve = fit_scale.fitted("n log n", seconds)
    assert curve(50_000_000) == pytest.approx(3e-8 * 50_000_000 * math.log2(50_000_000))
    assert fit_scale.exponent(seconds) == pytest.approx(1 + 1 / math.log(300_000), abs=0.005), "1 + 1/ln n"
    linear = fit_scale.fitted("linear", {rows: 2e-6 * rows for rows in (1_000, 4_000)})
    assert linear(50_000_000) == pytest.approx(100.0)


def test_amdahl_takes_the_serial_fraction_from_two_threads() -> None:
    assert fit_scale.amdahl(2.0, 16) == pytest.approx(16.0)
    assert fit_scale.amdahl(1.0, 16) == pytest.approx(1.0)
    assert fit_scale.amdahl(1.5, 16) == pytest.approx(1 / (1 / 3 + (2 / 3) / 16))  # f = 2/1.5 - 1
    assert fit_scale.amdahl(0.5, 16) == pytest.approx(1.0), "slower on two threads: no gain, never a loss"


def test_fargate_size_and_price_follow_the_issue_figures() -> None:
    # Fargate at 16 vCPU runs 32-120 GB in 8 GB steps (ECS Developer Guide, "Task CPU and memory").
    assert fit_scale.fargate_memory_mib(39.5 * 1024) == 40 * 1024
    assert fit_scale.fargate_memory_mib(121 * 1024) is None
    # 400 MiB + 4 x the splits (62.5M rows of 21 float64 per 50M training rows) within 120 GB.
    assert fit_scale.memory_ceiling() == pytest.approx((120 * 1024 - 400) * 2**20 / (4 * 21 * 8 / 0.8), rel=1e-3)
    # $0.032 per vCPU-hour, $0.0036 per GB-hour, per second: 30 min + 90 s start-up at 120 GB.
    assert fit_scale.fargate_dollars(1800, 120 * 1024) == pytest.approx((16 * 0.032 + 120 * 0.0036) * 1890 / 3600)
    assert fit_scale.fargate_dollars(0, 32 * 1024) == pytest.approx((16 * 0.032 + 32 * 0.0036) * 90 / 3600)


def _measured(estimator: str, per_row: float, speedup_two: float | None) -> fit_scale.Measured:
    unit = fit_scale.UNITS[estimator]
    found = fit_scale.Measured(unit)
    for rows in (10_000, 20_000):
        found.one[rows] = fit_scale.Timed(wall=per_row * rows, cpu=per_row * rows)
        if speedup_two is not None:
            cpu = 2 * per_row * rows / speedup_two
            found.two[rows] = fit_scale.Timed(wall=cpu / 2, cpu=cpu)
    return found


def test_a_grid_candidate_is_estimated_per_fit_and_on_all_cores_the_faster_way() -> None:
    candidate = Candidate(
        name="boosted", estimator="gradient_boosting", search=Search(grid={"learning_rate": [0.05, 0.1]})
    )
    measured = _measured("gradient_boosting", 1e-6, None)  # one stage: 1 µs a row, no threads
    found = fit_scale.estimate(candidate, measured, 1_000_000)
    per_fit = fit_scale.fitted("n log n", measured.seconds)(1_000_000) * 100 * fit_scale.GRAVITON_SLOWDOWN
    assert found.fits == 3 and found.one_core_seconds == pytest.approx(3 * per_fit)
    # No threads: the two grid settings side by side, then the refit, each on one core.
    assert found.all_cores_seconds == pytest.approx(2 * per_fit) and "side by side" in found.how_parallel
    assert found.task_memory_mib is not None and found.task_memory_mib >= found.memory_mib


def test_a_forest_that_doubles_on_two_threads_is_sixteen_times_faster_on_sixteen() -> None:
    candidate = Candidate(name="forest", estimator="random_forest", params={"n_estimators": 100})
    found = fit_scale.estimate(candidate, _measured("random_forest", 1e-6, 2.0), 1_000_000)
    assert found.fits == 1 and found.all_cores_seconds == pytest.approx(found.one_core_seconds / 16)


def test_the_quick_run_gives_every_candidate_its_estimate_and_cost() -> None:
    figures = {f.figure: f for f in fit_scale.run(quick=True)}
    for candidate in fit_scale.candidates():
        today = figures[f"{candidate.name}: 50M-row fit on one 16 vCPU task, as fitted today (one core)"]
        used = figures[f"{candidate.name}: the same fit if it used the task's 16 vCPU, at best (threads never wait)"]
        assert today.met == (today.value <= 30) and used.value <= today.value
        assert figures[f"{candidate.name}: Fargate cost of that fit (16 vCPU, arm64), as fitted today"].value > 0
    summary = next(f for f in figures.values() if f.figure.startswith("training rows past which"))
    assert summary.value > 0 and "the first to miss" in summary.data
