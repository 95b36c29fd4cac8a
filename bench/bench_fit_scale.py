"""How the platform's candidate fits grow with the rows, and an estimate of the issue's "a 50M-row fit
on one 16 vCPU task in <= 30 minutes" (issue #20), from fits measured here.

Data: `make_classification` (20 features, 10 informative, seed 0) at 100,000, 300,000 and 1,000,000
training rows (quick: 5,000 to 20,000), float64 as the splits hold them.

Measured: one *unit fit* of each default candidate's estimator (`default_candidates("binary")`, built
by the platform's own `build_estimator`: the scaler, the seed, its defaults), with its largest grid
setting and a few of its trees or stages, scaled to the candidate's size afterwards (fit time grows
linearly with trees, stages and iterations): logistic regression whole (C=1); random forest 4 trees
of depth 6 (of 200); histogram gradient boosting 10 iterations, 31 leaves, no early stopping (of at
most 100: counting its binning ten times, so on the high side); gradient boosting 1 stage of depth
3 (of 100). Each with one thread (`n_jobs=1`, `threadpool_limits(1)`: how `fit_candidate` fits today)
and with two (n_jobs=2, two OpenMP/BLAS threads, in a process of its own with
OMP_WAIT_POLICY=PASSIVE; scikit-learn's GradientBoosting has no threads, so it is measured once).
Each fit once, timed twice: wall time and the process's CPU time. This machine is shared (its load
average, in the data, is often 5-10 on 2 cores), so a fit's wall time is mostly waiting: one
thread's time is taken as its CPU time (its time on a core of its own).

The estimate, per candidate, at 50,000,000 training rows on one Fargate task of 16 vCPU (arm64):
- *scaling*: time = c x g(rows), g linear for logistic regression and histogram gradient boosting
  (a pass over the rows per iteration; bins are found on a 200,000-row sample), n log n for random
  forest and gradient boosting (the exact splitter sorts each node's rows); c by least squares over
  the measured sizes. The free power-law exponent is reported beside it as a check.
- *fits*: each grid setting, then the refit (as `fit_candidate` runs them), at the largest setting.
- *cores*: today `fit_candidate` fits on one core whatever the task's size (n_jobs=1, one OpenMP
  thread): the first estimate. The second assumes the fit used the 16 vCPU: the serial fraction f
  from a 1 -> 2 thread speedup s (Amdahl: f = 2/s - 1), then 1 / (f + (1 - f)/16); or, when
  better, the grid settings side by side on one core each and the refit on all. On a busy machine
  the wall-time speedup mostly measures preemption (an OpenMP thread that waits at a barrier for a
  preempted one), so s is taken from the work: 2 x CPU(one thread) / CPU(two threads), the speedup
  two cores of their own would give if the threads' extra work is all the parallel cost (a spinning
  OpenMP thread counts as extra work). The wall-time speedup and its estimate are in the data.
- *Graviton*: no arm64 here; a Graviton vCPU is assumed 1.25x slower than this x86_64 vCPU for these
  fits (an assumption, not a measurement).
- *memory*: the platform's own rule (`fit_placement.estimate_fit`: 400 MiB + 4 x the stored splits +
  the forest's trees), the splits being 62.5M rows x (20 float64 features + label) for 50M training
  rows (train + validation = 80 %); the task's memory is the smallest Fargate size at 16 vCPU (32 to
  120 GB) that holds it.
- *cost*: $0.032 per vCPU-hour and $0.0036 per GB-hour (arm64), per second with a 1-minute minimum,
  for the fit plus 90 s of start-up (the issue's 30-90 s, billed from the image pull).

    python -m bench fit_scale            # full run (about 70 s of CPU: 6 min at load 12 on 2 cores)
    python -m bench fit_scale --quick    # 5,000-20,000 rows: checks the harness
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from bench.figures import Figure
from mlops.training.candidates import MODEL_STEP, build_estimator
from mlops.training.fit_placement import FARGATE_MEMORY_MIB, estimate_fit
from mlops.training.search_space import Candidate, default_candidates

BENCHMARK = "fit_scale"
FEATURES = 20
SIZES = (100_000, 300_000, 1_000_000)
QUICK_SIZES = (5_000, 10_000, 20_000)
TARGET_ROWS = 50_000_000  # training rows: train + validation, as fit_placement counts them
TRAINING_SHARE = 0.8  # of the dataset's rows (the default split: test 20 %)
TARGET_VCPU = 16
TARGET_MINUTES = 30.0
VCPU_HOUR = 0.032  # Fargate arm64, the figures
GB_HOUR = 0.0036
MINIMUM_SECONDS = 60
STARTUP_SECONDS = 90
GRAVITON_SLOWDOWN = 1.25  # assumed, see the docstring
MIB = 1024 * 1024

Scaling = Literal["linear", "n log n"]


@dataclass(frozen=True)
class Unit:
    """What is fitted for an estimator, and how it scales to the candidate's full fit."""

    estimator: str
    scaling: Scaling
    params: dict[str, Any]  # set on the platform's pipeline for the unit fit
    unit_size: int  # trees, stages or iterations fitted in the unit (1: the whole fit)
    size_param: str | None  # the parameter the unit's size stands for
    threads: bool  # has n_jobs or OpenMP threads


UNITS = {
    "logistic_regression": Unit("logistic_regression", "linear", {"C": 1.0}, 1, None, True),
    "random_forest": Unit(
        "random_forest", "n log n", {"n_estimators": 4, "max_depth": 6, "min_samples_leaf": 1}, 4, "n_estimators", True
    ),
    "hist_gradient_boosting": Unit(
        "hist_gradient_boosting",
        "linear",
        {"max_iter": 10, "max_leaf_nodes": 31, "learning_rate": 0.1, "early_stopping": False},
        10,
        "max_iter",
        True,
    ),
    "gradient_boosting": Unit(
        "gradient_boosting",
        "n log n",
        {"n_estimators": 1, "max_depth": 3, "learning_rate": 0.1},
        1,
        "n_estimators",
        False,
    ),
}
FULL_SIZE = {"random_forest": 200, "hist_gradient_boosting": 100, "gradient_boosting": 100}  # the defaults' sizes


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # the process's, all threads


@dataclass
class Measured:
    """Unit fits of one estimator per size: one thread and two."""

    unit: Unit
    one: dict[int, Timed] = field(default_factory=dict)
    two: dict[int, Timed] = field(default_factory=dict)

    @property
    def seconds(self) -> dict[int, float]:
        """One thread's seconds per size: its CPU time, its time on a core of its own."""
        return {rows: timed.cpu for rows, timed in self.one.items()}

    def speedups(self) -> tuple[float, float] | None:
        """(work, wall) speedups of two threads over one at the largest size; None without threads."""
        if not self.two:
            return None
        largest = max(self.two)
        one, two = self.one[largest], self.two[largest]
        return min(2.0, 2 * one.cpu / two.cpu), one.wall / two.wall


def data(rows: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    x, y = make_classification(n_samples=rows, n_features=FEATURES, n_informative=10, random_state=0)
    return x, y.astype(np.int64)


def unit_fit(unit: Unit, x: NDArray[Any], y: NDArray[Any], threads: int) -> Timed:
    """One unit fit with `threads` threads (n_jobs and OpenMP/BLAS), timed."""
    pipeline = build_estimator(unit.estimator, "binary", {}, seed=0)
    settings = {f"{MODEL_STEP}__{k}": v for k, v in unit.params.items()}
    if unit.estimator == "random_forest":
        settings[f"{MODEL_STEP}__n_jobs"] = threads
    pipeline.set_params(**settings)
    with threadpool_limits(limits=threads):
        started, cpu = time.perf_counter(), time.process_time()
        pipeline.fit(x, y)
        return Timed(time.perf_counter() - started, time.process_time() - cpu)


def two_threads(rows: int) -> dict[str, Timed]:
    """The estimators with threads, fitted on two (run in a process of its own, see `measure`)."""
    x, y = data(rows)
    return {name: unit_fit(unit, x, y, 2) for name, unit in UNITS.items() if unit.threads}


def measure(sizes: Sequence[int]) -> dict[str, Measured]:
    """One thread here; two in a fresh process whose OpenMP threads wait passively (OMP_WAIT_POLICY is
    read when the runtime loads): a thread spinning at a barrier while its partner is preempted would
    count as work on this busy machine, and a dedicated task has no such partner."""
    measured = {name: Measured(unit) for name, unit in UNITS.items()}
    for rows in sizes:
        x, y = data(rows)
        for found in measured.values():
            found.one[rows] = unit_fit(found.unit, x, y, 1)
    previous = os.environ.get("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for rows, fits in zip(sizes, pool.map(two_threads, sizes), strict=True):
                for name, timed in fits.items():
                    measured[name].two[rows] = timed
    finally:
        if previous is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = previous
    return measured


# -- the model ---------------------------------------------------------------------------------------


def growth(scaling: Scaling, rows: float) -> float:
    return rows * math.log2(rows) if scaling == "n log n" else rows


def fitted(scaling: Scaling, seconds: dict[int, float]) -> Callable[[float], float]:
    """seconds(rows) = c x growth(rows), c by least squares through the origin."""
    grown = {rows: growth(scaling, rows) for rows in seconds}
    c = sum(seconds[r] * grown[r] for r in seconds) / sum(g * g for g in grown.values())
    return lambda rows: c * growth(scaling, rows)


def exponent(seconds: dict[int, float]) -> float:
    """The power-law exponent b of seconds = a x rows^b, by least squares in log space."""
    rows = np.log(np.array(list(seconds), dtype=float))
    times = np.log(np.array(list(seconds.values()), dtype=float))
    return float(np.polyfit(rows, times, 1)[0])


def amdahl(speedup_two: float, cores: int) -> float:
    """The speedup on `cores` from the one measured on two: serial fraction f = 2/s - 1, in [0, 1]."""
    serial = min(1.0, max(0.0, 2.0 / speedup_two - 1.0)) if speedup_two > 0 else 1.0
    return 1.0 / (serial + (1.0 - serial) / cores)


def grid_settings(candidate: Candidate) -> int:
    search = candidate.search
    if search is None:
        return 0
    if search.grid is not None:
        return math.prod(max(1, len(options)) for options in search.grid.values())
    assert search.random is not None
    return search.random.n_iter


def fargate_memory_mib(needed_mib: float, cpu: int = TARGET_VCPU * 1024) -> int | None:
    """The smallest Fargate memory at `cpu` units that holds `needed_mib`; None past the largest."""
    return next((size for size in FARGATE_MEMORY_MIB[cpu] if size >= needed_mib), None)


def fargate_dollars(seconds: float, memory_mib: int, vcpu: int = TARGET_VCPU) -> float:
    """Per second, 1-minute minimum, start-up included (billed from the image pull to the stop)."""
    billed = max(MINIMUM_SECONDS, seconds + STARTUP_SECONDS)
    return (vcpu * VCPU_HOUR + memory_mib / 1024 * GB_HOUR) * billed / 3600


@dataclass(frozen=True)
class Estimate:
    """One candidate's fit at `rows` on the target task."""

    candidate: Candidate
    fits: int
    one_core_seconds: float  # today: one core, Graviton-adjusted
    all_cores_seconds: float  # if the fit used the task's vCPU (two threads' speedup from their work)
    all_cores_wall_seconds: float  # the same from the wall-time speedup measured on this busy machine
    how_parallel: str
    memory_mib: float
    task_memory_mib: int | None

    def dollars(self, seconds: float) -> float | None:
        return fargate_dollars(seconds, self.task_memory_mib) if self.task_memory_mib else None


def estimate(candidate: Candidate, measured: Measured, rows: float) -> Estimate:
    unit = measured.unit
    size_param = unit.size_param
    size = int(candidate.params.get(size_param, FULL_SIZE.get(unit.estimator, 1))) if size_param else 1
    per_fit = fitted(unit.scaling, measured.seconds)(rows) * size / unit.unit_size * GRAVITON_SLOWDOWN
    settings = grid_settings(candidate)
    fits = settings + 1
    speedups = measured.speedups()
    work, wall = speedups or (1.0, 1.0)

    def on_all_cores(speedup_two: float) -> tuple[float, str]:
        threaded = amdahl(speedup_two, TARGET_VCPU)
        each_fit_threaded = fits * per_fit / threaded
        side_by_side = math.ceil(settings / TARGET_VCPU) * per_fit + per_fit / threaded
        if settings and side_by_side < each_fit_threaded:
            return (
                side_by_side,
                f"{settings} grid settings side by side, one core each, then the refit ({threaded:.1f}x)",
            )
        return each_fit_threaded, f"every fit on {TARGET_VCPU} threads: {threaded:.1f}x (Amdahl)"

    all_cores, how = on_all_cores(work)
    all_cores_wall, _ = on_all_cores(wall)
    if speedups is None:
        how += ", no threads in scikit-learn's GradientBoosting"
    else:
        how += f"; two threads {work:.2f}x by their work, {wall:.2f}x by wall time here"
    dataset_rows = rows / TRAINING_SHARE
    split_bytes = int(dataset_rows * (FEATURES + 1) * 8)
    memory = estimate_fit(candidate, int(rows), FEATURES, split_bytes).memory_mib
    return Estimate(candidate, fits, fits * per_fit, all_cores, all_cores_wall, how, memory, fargate_memory_mib(memory))


def rows_within(candidate: Candidate, measured: Measured, minutes: float, *, all_cores: bool) -> float:
    """The training rows whose estimated fit takes `minutes` (bisection on the monotone estimate)."""

    def seconds(rows: float) -> float:
        found = estimate(candidate, measured, rows)
        return found.all_cores_seconds if all_cores else found.one_core_seconds

    low, high = 1e3, 1e11
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if seconds(middle) <= minutes * 60 else (low, middle)
    return low


def memory_ceiling(features: int = FEATURES) -> float:
    """Training rows whose fit the largest Fargate task (120 GB) holds by the platform's memory rule
    (a linear model's: no trees)."""
    largest = FARGATE_MEMORY_MIB[TARGET_VCPU * 1024][-1]
    candidate = Candidate(name="linear", estimator="logistic_regression")
    low, high = 1e3, 1e11
    for _ in range(60):
        rows = math.sqrt(low * high)
        split_bytes = int(rows / TRAINING_SHARE * (features + 1) * 8)
        fits = estimate_fit(candidate, int(rows), features, split_bytes).memory_mib <= largest
        low, high = (rows, high) if fits else (low, rows)
    return low


# -- the figures -------------------------------------------------------------------------------------


def candidates() -> list[Candidate]:
    """The four defaults, and two without a grid (`-single`: one fit each), which a big table needs."""
    defaults = default_candidates("binary")
    singles = [
        Candidate(name="hist_gradient_boosting-single", estimator="hist_gradient_boosting"),
        Candidate(name="logistic_regression-single", estimator="logistic_regression", params={"max_iter": 1000}),
    ]
    return [*defaults, *singles]


def _describe(measured: Measured) -> str:
    def listed(timed: dict[int, Timed]) -> str:
        return ", ".join(f"{rows:,}: {t.cpu:.2f} s CPU, {t.wall:.2f} s wall" for rows, t in timed.items())

    two = f"; two threads {listed(measured.two)}" if measured.two else ""
    return f"unit fit {measured.unit.params}; one thread {listed(measured.one)}{two}"


def _scaling_figure(measured: Measured, load: str) -> Figure:
    seconds = measured.seconds
    small, large = min(seconds), max(seconds)
    speedups = measured.speedups()
    speedup = f"; 1 -> 2 threads {speedups[0]:.2f}x by work, {speedups[1]:.2f}x by wall time" if speedups else ""
    return Figure(
        benchmark=BENCHMARK,
        figure=f"{measured.unit.estimator}: unit fit at {large:,} rows against {small:,} (one thread, CPU time)",
        value=seconds[large],
        unit="s",
        baseline=f"the same fit at {small:,} rows",
        baseline_value=seconds[small],
        ratio=seconds[large] / seconds[small],
        ratio_meaning=f"value / baseline ({large / small:g}x the rows)",
        data=f"model: {measured.unit.scaling}; free exponent {exponent(seconds):.2f}{speedup}; "
        f"{_describe(measured)}; load average {load}",
    )


def _estimate_figures(found: Estimate, measured: Measured, rows: int) -> list[Figure]:
    name = found.candidate.name
    memory = f"memory {found.memory_mib / 1024:,.1f} GiB by the platform's rule: a task of " + (
        f"{found.task_memory_mib // 1024} GB" if found.task_memory_mib else "none (over 120 GB)"
    )
    today = found.one_core_seconds / 60
    parallel = found.all_cores_seconds / 60
    within = rows_within(found.candidate, measured, TARGET_MINUTES, all_cores=False)
    within_all = rows_within(found.candidate, measured, TARGET_MINUTES, all_cores=True)
    fits = f"{found.fits} fit{'s' if found.fits > 1 else ''} ({grid_settings(found.candidate)} grid settings + refit)"
    fitting = found.task_memory_mib is not None
    figures = [
        Figure(
            benchmark=BENCHMARK,
            figure=f"{name}: {rows / 1e6:g}M-row fit on one {TARGET_VCPU} vCPU task, as fitted today (one core)",
            value=today,
            unit="min",
            target=f"<= {TARGET_MINUTES:g}",
            met=fitting and today <= TARGET_MINUTES,
            data=f"{fits}, {measured.unit.scaling}, x{GRAVITON_SLOWDOWN} for Graviton; {memory}; "
            f"30 min reached at {within / 1e6:.2g}M rows",
        ),
        Figure(
            benchmark=BENCHMARK,
            figure=f"{name}: the same fit if it used the task's {TARGET_VCPU} vCPU, at best (threads never wait)",
            value=parallel,
            unit="min",
            target=f"<= {TARGET_MINUTES:g}",
            met=fitting and parallel <= TARGET_MINUTES,
            data=f"{found.how_parallel} ({found.all_cores_wall_seconds / 60:,.0f} min by the latter, at worst); "
            f"30 min reached at {within_all / 1e6:.2g}M rows",
        ),
    ]
    today_dollars, parallel_dollars = found.dollars(found.one_core_seconds), found.dollars(found.all_cores_seconds)
    if today_dollars is not None and parallel_dollars is not None:
        figures.append(
            Figure(
                benchmark=BENCHMARK,
                figure=f"{name}: Fargate cost of that fit (16 vCPU, arm64), as fitted today",
                value=today_dollars,
                unit="$",
                data=f"{found.task_memory_mib // 1024 if found.task_memory_mib else 0} GB, {today:.0f} min + "
                f"{STARTUP_SECONDS} s start-up; ${parallel_dollars:.2f} if it used the {TARGET_VCPU} vCPU "
                f"({parallel:.0f} min)",
            )
        )
    return figures


def run(quick: bool) -> list[Figure]:
    measured = measure(QUICK_SIZES if quick else SIZES)
    load = f"{os.getloadavg()[0]:.1f}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    figures = [_scaling_figure(found, load) for found in measured.values()]
    estimates = [(c, estimate(c, measured[c.estimator], TARGET_ROWS)) for c in candidates()]
    for candidate, found in estimates:
        figures += _estimate_figures(found, measured[candidate.estimator], TARGET_ROWS)
    defaults = [(c, found) for c, found in estimates if c.name in {d.name for d in default_candidates("binary")}]
    first = min(
        defaults, key=lambda pair: rows_within(pair[0], measured[pair[0].estimator], TARGET_MINUTES, all_cores=False)
    )
    ceiling = rows_within(first[0], measured[first[0].estimator], TARGET_MINUTES, all_cores=False)
    made = [c.name for c, found in estimates if found.task_memory_mib and found.one_core_seconds <= TARGET_MINUTES * 60]
    made_parallel = [
        c.name for c, found in estimates if found.task_memory_mib and found.all_cores_seconds <= TARGET_MINUTES * 60
    ]
    figures.append(
        Figure(
            benchmark=BENCHMARK,
            figure=f"training rows past which the four default candidates no longer all fit in {TARGET_MINUTES:g} min "
            f"on one {TARGET_VCPU} vCPU task (as fitted today)",
            value=ceiling,
            unit="rows",
            data=f"the first to miss: {first[0].name}; within {TARGET_MINUTES:g} min at {TARGET_ROWS / 1e6:g}M rows "
            f"today: {', '.join(made) or 'none'}; if fits used the {TARGET_VCPU} vCPU: "
            f"{', '.join(made_parallel) or 'none'}; "
            f"120 GB holds {memory_ceiling() / 1e6:.0f}M training rows by the platform's memory rule; "
            f"peak memory of this run {peak:,.0f} MiB; load average {load}",
        )
    )
    return figures
