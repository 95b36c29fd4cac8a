"""Where each candidate's fit runs: in the fit Lambda, or in an ECS Fargate task when the training set
outgrows the Lambda's limits. Decided once per run, in prepare, from the sizes it measured.

The rule (README, "Training past Lambda"): from the training rows (train + validation) and the
encoded features, each candidate gets an estimate of its fit's peak memory and its fit time:

- memory, MiB = 400 (Python, numpy, scikit-learn, scipy, the process) + 4 x the stored splits (the
  splits read once, train and validation concatenated again for a search, a float64 working copy
  in the linear solvers) + for a random forest its trees (about 80 bytes a node; an unbounded tree
  has about 1.3 nodes per training row, a tree of depth d at most 2^(d+1) nodes), counted twice
  because the fitted model is pickled in memory;
- time, seconds = cells (rows x features) x the estimator's cost per cell (measured on this
  machine's one core, 20,000 x 20: logistic regression 0.03 µs, ridge 0.005, random forest 26 per
  100 unbounded trees and 15 per 100 trees of depth <= 6, gradient boosting 44 per 100 stages,
  histogram gradient boosting 0.94 per 100 iterations; linear models are given 0.5 µs so that a slow
  convergence is not underestimated) x the fits it makes (each setting of its search, then one refit).

A candidate runs on Fargate when `fargate.always` is set, when the training rows exceed
`fargate.above_rows`, when its memory estimate exceeds `fargate.above_megabytes` (default 2,400 MB:
80 % of the fit function's 3,008 MB) or when its time estimate exceeds `fargate.above_minutes`
(default 10: two thirds of Lambda's 15 minutes). The estimates are coarse, by design on the high
side: a fit that fits Lambda but is sent to Fargate costs a minute of start-up and a few cents; one
that does not fit Lambda but is kept there fails its candidate.

A Fargate candidate whose memory estimate is over the task's memory (`fargate.memory`) is failed at
placement, without a task: started, it would be killed (exit code 137) after minutes of start-up and
fitting. Its reason names the estimate, the task's size and the smallest Fargate size that holds the
estimate. The task is not enlarged on its own: the config's size is what the user pays for, so the
user raises it (or samples the data).

pydantic only: the config imports `FargateConfig`, and prepare (numpy) calls `place_fits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops.training.config_base import ConfigModel
from mlops.training.search_space import Candidate, Range

RunsOn = Literal["lambda", "fargate"]

MIB = 1024 * 1024
BASE_MIB = 400.0
SPLIT_COPIES = 4
NODE_BYTES = 80
NODES_PER_ROW = 1.3  # an unbounded tree on a bootstrap sample (about 63 % distinct rows)
# Measured cost per cell (row x feature) of one fit, in microseconds, single-threaded (see above).
_MICROSECONDS_PER_CELL: Mapping[str, float] = {
    "logistic_regression": 0.5,
    "linear_regression": 0.5,
    "ridge": 0.5,
    "random_forest": 26.0,
    "gradient_boosting": 44.0,
    "hist_gradient_boosting": 0.94,
}
_SHALLOW_FOREST_MICROSECONDS = 15.0  # per 100 trees of depth <= 6
_SHALLOW_DEPTH = 6
# Ensembles scale with their size: trees, stages or iterations, per 100 (scikit-learn's default).
_SIZE_PARAM: Mapping[str, str] = {
    "random_forest": "n_estimators",
    "gradient_boosting": "n_estimators",
    "hist_gradient_boosting": "max_iter",
}
DEFAULT_SIZE = 100

# Fargate's task sizes: CPU units -> the memory (MiB) each takes (Amazon ECS Developer Guide, "Task CPU
# and memory"; the same table RegisterTaskDefinition and RunTask's overrides accept).
FARGATE_MEMORY_MIB: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


class FargateConfig(ConfigModel):
    """When a candidate's fit leaves the fit Lambda for an ECS Fargate task (arm64), and the task's size."""

    always: bool = Field(default=False, description="every candidate on Fargate, whatever its size")
    above_rows: int | None = Field(
        default=None, ge=0, description="training rows (train + validation) above which every candidate runs on Fargate"
    )
    above_megabytes: float = Field(
        default=2400, gt=0, description="a candidate whose estimated fit memory (MiB) exceeds this runs on Fargate"
    )
    above_minutes: float = Field(
        default=10, gt=0, description="a candidate whose estimated fit time exceeds this runs on Fargate"
    )
    cpu: int = Field(
        default=2048,
        description="task CPU units (1024 = 1 vCPU); a fit uses every vCPU for the estimator (a forest's trees, "
        "histogram gradient boosting), a search's trials one after another",
    )
    memory: int = Field(default=16384, description="task memory in MiB, a size Fargate runs with `cpu`")

    @model_validator(mode="after")
    def _a_size_fargate_runs(self) -> FargateConfig:
        sizes = FARGATE_MEMORY_MIB.get(self.cpu)
        if sizes is None:
            raise ValueError(f"cpu {self.cpu} is not a Fargate size; one of {', '.join(map(str, FARGATE_MEMORY_MIB))}")
        if self.memory not in sizes:
            runs = (
                f"Fargate runs {self.cpu} CPU units with {sizes[0]} to {sizes[-1]} MiB"
                f"{'' if len(sizes) <= 4 else f' in steps of {sizes[1] - sizes[0]}'}"
            )
            written = self.model_fields_set
            if "memory" not in written:  # the user wrote cpu alone: the default memory is what fails
                raise ValueError(
                    f"fargate.memory defaults to {self.memory} MiB, which does not go with cpu {self.cpu}: "
                    f"{runs}; set memory to one of {', '.join(map(str, sizes))}"
                )
            if "cpu" not in written:  # memory alone: the default cpu is what fails
                fitting = [str(cpu) for cpu, memories in FARGATE_MEMORY_MIB.items() if self.memory in memories]
                raise ValueError(
                    f"fargate.cpu defaults to {self.cpu}, which does not go with memory {self.memory} MiB: {runs}; "
                    + (
                        f"set cpu to {' or '.join(fitting)}"
                        if fitting
                        else "no Fargate size has that memory (see the table in the Amazon ECS guide)"
                    )
                )
            raise ValueError(f"{runs}, not {self.memory}")
        return self


class FitEstimate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(description="training rows: train + validation")
    features: int = Field(description="encoded features")
    fits: int = Field(description="fits the candidate makes: each search setting, then the refit")
    memory_mib: float
    minutes: float


class FitPlacement(BaseModel):
    """One candidate's place, as prepare decided it: what the Map's Choice state reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    runs_on: RunsOn
    reason: str
    estimate: FitEstimate
    cpu: str = Field(description="Fargate task CPU units, as RunTask's override takes them (text)")
    memory: str = Field(description="Fargate task memory in MiB, as text")
    memory_mib: int = Field(description="the same memory as a number: the container's hard limit")
    input_key: str | None = Field(default=None, description="the Fargate task's input payload, in the artifacts bucket")
    task_fits: bool = Field(
        default=True,
        description="false: the fit's memory estimate is over the task's memory, so the candidate fails "
        "without a task being started (`reason` says which size would hold it)",
    )


def _trials(candidate: Candidate) -> int:
    search = candidate.search
    if search is None:
        return 0
    if search.grid is not None:
        count = 1
        for options in search.grid.values():
            count *= max(1, len(options))
        return count
    assert search.random is not None
    return search.random.n_iter


def _largest(candidate: Candidate, param: str, default: Any) -> Any:
    """The largest value `param` takes in the candidate's fixed params or search (None: unbounded)."""
    values: list[Any] = []
    if param in candidate.params:
        values.append(candidate.params[param])
    search = candidate.search
    if search is not None and search.grid is not None and param in search.grid:
        values += list(search.grid[param])
    elif search is not None and search.random is not None and param in search.random.params:
        space = search.random.params[param]
        values += [space.high] if isinstance(space, Range) else list(space)
    if not values:
        return default
    if any(v is None for v in values):
        return None
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return max(numbers) if numbers else default


def estimate_fit(candidate: Candidate, rows: int, features: int, split_bytes: int) -> FitEstimate:
    """The candidate's fit memory and time on `rows` x `features` (the rule in this module's docstring)."""
    estimator = candidate.estimator
    size_param = _SIZE_PARAM.get(estimator)
    size = float(_largest(candidate, size_param, DEFAULT_SIZE) or DEFAULT_SIZE) if size_param else float(DEFAULT_SIZE)
    scale = size / DEFAULT_SIZE if size_param else 1.0
    memory = BASE_MIB + SPLIT_COPIES * split_bytes / MIB
    per_cell = _MICROSECONDS_PER_CELL[estimator]
    if estimator == "random_forest":
        depth = _largest(candidate, "max_depth", None)
        nodes = NODES_PER_ROW * rows
        if depth is not None:
            nodes = min(nodes, 2.0 ** (int(depth) + 1))
            if int(depth) <= _SHALLOW_DEPTH:
                per_cell = _SHALLOW_FOREST_MICROSECONDS
        memory += 2 * size * nodes * NODE_BYTES / MIB
    fits = _trials(candidate) + 1
    seconds = rows * features * per_cell * scale * fits / 1e6
    return FitEstimate(
        rows=rows, features=features, fits=fits, memory_mib=round(memory, 1), minutes=float(f"{seconds / 60:.3g}")
    )


def _why_fargate(config: FargateConfig, estimate: FitEstimate) -> str | None:
    if config.always:
        return "fargate.always is set"
    if config.above_rows is not None and estimate.rows > config.above_rows:
        return f"{estimate.rows:,} training rows, over fargate.above_rows ({config.above_rows:,})"
    if estimate.memory_mib > config.above_megabytes:
        return (
            f"estimated fit memory {estimate.memory_mib:,.0f} MiB, over fargate.above_megabytes "
            f"({config.above_megabytes:,g})"
        )
    if estimate.minutes > config.above_minutes:
        return f"estimated fit time {estimate.minutes:,.3g} min, over fargate.above_minutes ({config.above_minutes:g})"
    return None


def place_fits(
    candidates: Sequence[Candidate],
    config: FargateConfig,
    *,
    rows: int,
    features: int,
    split_bytes: int,
    input_key: str,
) -> list[FitPlacement]:
    """Each candidate's place, in the config's order. `input_key` names a Fargate task's input payload
    (formatted with the candidate's name)."""
    placements = []
    for candidate in candidates:
        estimate = estimate_fit(candidate, rows, features, split_bytes)
        why = _why_fargate(config, estimate)
        if why is None:
            reason = (
                f"fits the fit Lambda: estimated {estimate.memory_mib:,.0f} MiB and {estimate.minutes:,.3g} min "
                f"on {rows:,} rows x {features} features"
            )
        else:
            reason = why
        task_fits = why is None or estimate.memory_mib <= config.memory
        if not task_fits:
            reason += "; " + too_big_for_the_task(estimate, config)
        placements.append(
            FitPlacement(
                name=candidate.name,
                runs_on="lambda" if why is None else "fargate",
                reason=reason,
                estimate=estimate,
                cpu=str(config.cpu),
                memory=str(config.memory),
                memory_mib=config.memory,
                input_key=None if why is None or not task_fits else input_key.format(name=candidate.name),
                task_fits=task_fits,
            )
        )
    return placements


def fargate_threads(config: FargateConfig) -> int:
    """The threads a Fargate fit uses: the task's vCPUs (1024 CPU units each), at least one."""
    return max(1, config.cpu // 1024)


def smallest_task(memory_mib: float) -> tuple[int, int] | None:
    """The smallest Fargate size (cpu units, memory MiB) whose memory holds `memory_mib`: the least
    memory, then the fewest CPU units (the cheapest); None past Fargate's largest task."""
    sizes = [(memory, cpu) for cpu, memories in FARGATE_MEMORY_MIB.items() for memory in memories]
    fitting = sorted((memory, cpu) for memory, cpu in sizes if memory >= memory_mib)
    return (fitting[0][1], fitting[0][0]) if fitting else None


def too_big_for_the_task(estimate: FitEstimate, config: FargateConfig) -> str:
    """Why a candidate is failed before its task starts: a task killed for its memory (exit code 137)
    after minutes of start-up and fitting tells the user less, later, and costs the task's time."""
    text = (
        f"not started: its estimated fit memory ({estimate.memory_mib:,.0f} MiB) is over the Fargate task's "
        f"{config.memory:,} MiB (fargate.memory, with cpu {config.cpu})"
    )
    smallest = smallest_task(estimate.memory_mib)
    if smallest is None:
        largest = max(max(m) for m in FARGATE_MEMORY_MIB.values())
        return text + (
            f", and over Fargate's largest task ({largest:,} MiB): sample the training set or bound the "
            "candidate (fewer trees, a max_depth)"
        )
    cpu, memory = smallest
    return text + f"; the smallest size that holds it: fargate: {{cpu: {cpu}, memory: {memory}}}"


class FitRecord(BaseModel):
    """Where a candidate's fit ran, as the run record keeps it: the place prepare chose and why, the
    Fargate task that ran it, and how long its step took (the task's life from creation to stop, which
    Fargate bills; the fit itself for a Lambda)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    runs_on: RunsOn
    reason: str
    status: str
    task_arn: str | None = None
    seconds: float | None = None


def fit_outcome(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What the Map collects for a candidate (the evaluate step's input), from its stored result
    (`candidates/<name>.json`), wherever it was fitted."""
    return {
        "name": stored["name"],
        "status": stored["status"],
        "reason": stored.get("error"),
        "validation_metrics": stored.get("validation_metrics") or {},
        "fit_seconds": stored.get("fit_seconds", 0.0),
    }


def fit_records(placements: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]]) -> list[FitRecord]:
    """One record per candidate the Map reported, from prepare's placements and the fits' outcomes."""
    placed = {str(p["name"]): p for p in placements}
    records = []
    for outcome in outcomes:
        name = str(outcome.get("name"))
        placement = placed.get(name, {})
        seconds = outcome.get("seconds", outcome.get("fit_seconds"))
        records.append(
            FitRecord(
                name=name,
                runs_on=outcome.get("runs_on") or placement.get("runs_on") or "lambda",
                reason=str(placement.get("reason") or "placed before placements were recorded"),
                status=str(outcome.get("status") or "failed"),
                task_arn=outcome.get("task_arn"),
                seconds=float(seconds) if seconds is not None else None,
            )
        )
    return records


def imported_fit(config: FargateConfig, *, rows: int, features: int) -> FitPlacement:
    """The place of an imported model's candidate: the fit Lambda, which loads and scores it (nothing
    is fitted; the file is at most mlops.names.MAX_IMPORT_BYTES)."""
    from mlops.training.start import IMPORTED_CANDIDATE

    return FitPlacement(
        name=IMPORTED_CANDIDATE,
        runs_on="lambda",
        reason="an imported model: loaded, checked and scored in the fit Lambda, nothing fitted",
        estimate=FitEstimate(rows=rows, features=features, fits=0, memory_mib=0.0, minutes=0.0),
        cpu=str(config.cpu),
        memory=str(config.memory),
        memory_mib=config.memory,
    )
