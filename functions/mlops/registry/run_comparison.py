"""Training runs as a reviewer compares them: one run's record (what it trained on, the candidate it
chose with its hyperparameters, the test metrics and gates of the version it registered), two runs
side by side with every difference marked, and a dataset's runs found by metric and hyperparameter.

The core of `GET /v1/runs`, `/v1/runs/{run_id}` and `/v1/runs/{run_id}/compare/{other_run_id}` (and
so of `mlops runs search` and `mlops runs compare`, which call them). A run's facts live in two
items the pipeline writes: the run item (candidates, data, status) and the version it registered
(test metrics, gates, the chosen parameters); `RunRecord.from_items` joins them. Pure but for
`recorded_run` and `dataset_runs`, which read them through the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from mlops.registry.errors import RegistryError
from mlops.registry.limits import readable_tags
from mlops.registry.run_query import RunFilter, RunsQueryError, best_first, sort_key, sorted_rows, unknown_metric
from mlops.registry.views import plain
from mlops.training.metric_names import CLASSIFICATION, METRIC_DIRECTIONS, METRIC_PROBLEM_TYPES

Side = Literal["a", "b"]
SORT_FIELDS = ("started", "version")  # besides the metrics, what a search sorts by (newest, highest first)
MAX_SEARCH_RUNS = 2000  # run items a search reads for one dataset (newest first)
MAX_SEARCH_LIMIT = 500  # runs one answer of GET /v1/runs holds at most (its `limit`)


@dataclass(frozen=True)
class CandidateOutcome:
    """One candidate of a run: its validation figures and the parameters it was fitted with."""

    name: str
    estimator: str
    status: str
    validation_metrics: Mapping[str, float | None] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class GateOutcome:
    name: str
    passed: bool
    observed: float | None
    threshold: float | None
    message: str


@dataclass(frozen=True)
class DataVersionUsed:
    """A dataset version the run combined: its rows, and those dropped as already in an older one."""

    version: str
    rows: int
    duplicates: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One training run as the registry knows it. `hyperparameters` are the chosen candidate's (its
    fixed parameters merged with the best its search found), `searched` names those the search chose;
    `metrics` and `gates` are the registered version's (none for a run that registered nothing)."""

    run_id: str
    dataset: str | None
    model: str | None
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None
    failure_reason: str | None = None
    code_version: str | None = None
    version: int | None = None
    version_status: str | None = None
    selected: str | None = None
    estimator: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    searched: tuple[str, ...] = ()
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    gates_passed: bool | None = None
    gates: tuple[GateOutcome, ...] = ()
    data_policy: str | None = None
    training_rows: int | None = None
    dataset_versions: tuple[DataVersionUsed, ...] = ()
    split_rows: Mapping[str, int] = field(default_factory=dict)
    candidates: tuple[CandidateOutcome, ...] = ()

    @classmethod
    def from_items(cls, run: Mapping[str, Any], version: Mapping[str, Any] | None = None) -> RunRecord:
        """From the run item and, if it registered one, its version item (either as stored, with
        Decimals, or as the API shows them)."""
        record: dict[str, Any] = plain(dict(run))
        registered: dict[str, Any] = plain(dict(version)) if version else {}
        candidates = tuple(_candidate(c) for c in record.get("candidates") or [])
        selected = readable_tags(registered.get("tags")).get("selected_candidate") or record.get("selected")
        chosen: dict[str, Any] = next((c for c in record.get("candidates") or [] if c.get("name") == selected), {})
        params = registered.get("params") if registered else chosen.get("params")
        gates = registered.get("gates") or {}
        data = record.get("training_data") or registered.get("training_data") or {}
        number = record.get("version", record.get("registered_version"))
        return cls(
            run_id=str(record.get("run_id") or ""),
            dataset=record.get("dataset") or registered.get("dataset"),
            model=record.get("model") or registered.get("model"),
            status=str(record.get("status") or "unknown"),
            started_at=record.get("started_at"),
            finished_at=record.get("finished_at"),
            reason=record.get("reason"),
            failure_reason=record.get("failure_reason"),
            code_version=record.get("code_version"),
            version=int(number) if number is not None else None,
            version_status=registered.get("status"),
            selected=selected,
            estimator=registered.get("estimator") or chosen.get("estimator"),
            hyperparameters=dict(params or {}),
            searched=tuple(sorted((chosen.get("best_params") or {}).keys())),
            metrics={str(k): _number(v) for k, v in (registered.get("metrics") or {}).items()},
            gates_passed=gates.get("passed"),
            gates=tuple(
                GateOutcome(
                    name=str(g.get("name")),
                    passed=bool(g.get("passed")),
                    observed=_number(g.get("observed")),
                    threshold=_number(g.get("threshold")),
                    message=str(g.get("message") or ""),
                )
                for g in gates.get("results") or []
            ),
            data_policy=data.get("policy"),
            training_rows=data.get("rows"),
            dataset_versions=tuple(
                DataVersionUsed(str(v.get("version")), int(v.get("rows") or 0), int(v.get("duplicates") or 0))
                for v in data.get("versions") or []
            ),
            split_rows={str(k): int(v) for k, v in (record.get("rows") or {}).items()},
            candidates=candidates,
        )

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["searched"] = list(self.searched)
        return document

    def value(self, column: str) -> Any:
        """What a search filters and sorts on: a metric, or `started`/`version`."""
        if column == "started":
            return self.started_at
        if column == "version":
            return self.version
        return self.metrics.get(column)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _candidate(item: Mapping[str, Any]) -> CandidateOutcome:
    return CandidateOutcome(
        name=str(item.get("name")),
        estimator=str(item.get("estimator") or ""),
        status=str(item.get("status") or ""),
        validation_metrics={str(k): _number(v) for k, v in (item.get("validation_metrics") or {}).items()},
        params=dict(item.get("params") or {}),
        error=item.get("error"),
    )


# -- two runs side by side ------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparedValue:
    """One line of a comparison: a section (run, data, hyperparameters, metrics, gates, candidates),
    what is compared, each run's value, whether they differ and, for a metric, which run is better."""

    section: str
    name: str
    a: Any
    b: Any
    differs: bool
    better: Side | None = None


@dataclass(frozen=True)
class RunComparison:
    a: RunRecord
    b: RunRecord
    same_dataset: bool
    notes: tuple[str, ...]
    rows: tuple[ComparedValue, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "a": self.a.as_json(),
            "b": self.b.as_json(),
            "same_dataset": self.same_dataset,
            "notes": list(self.notes),
            "differences": sum(r.differs for r in self.rows),
            "rows": [asdict(r) for r in self.rows],
        }


def _better(metric: str, a: Any, b: Any) -> Side | None:
    if metric not in METRIC_DIRECTIONS or _number(a) is None or _number(b) is None or a == b:
        return None
    return "a" if (a > b) == best_first(metric) else "b"


def _line(section: str, name: str, a: Any, b: Any, *, metric: bool = False) -> ComparedValue:
    return ComparedValue(section, name, a, b, a != b, _better(name, a, b) if metric else None)


def _keyed(section: str, a: Mapping[str, Any], b: Mapping[str, Any], *, metric: bool = False) -> list[ComparedValue]:
    return [_line(section, k, a.get(k), b.get(k), metric=metric) for k in sorted({*a, *b})]


def _gate_text(gate: GateOutcome | None) -> str | None:
    if gate is None:
        return None
    observed = "n/a" if gate.observed is None else f"{gate.observed:.6g}"
    return f"{'pass' if gate.passed else 'FAIL'} ({observed})"


def _candidate_value(candidate: CandidateOutcome | None) -> Any:
    if candidate is None:
        return None
    if candidate.status != "succeeded":
        return {"status": candidate.status, "error": candidate.error}
    return {"estimator": candidate.estimator, **dict(sorted(candidate.validation_metrics.items()))}


def comparison_notes(a: RunRecord, b: RunRecord) -> list[str]:
    """What a reader must know before reading the figures: different datasets first."""
    notes = []
    if a.dataset != b.dataset:
        notes.append(
            f"the runs trained on different datasets ({a.dataset or 'unknown'} and {b.dataset or 'unknown'}): "
            "their metrics were measured on different data and do not compare"
        )
    elif {v.version for v in a.dataset_versions} != {v.version for v in b.dataset_versions}:
        notes.append(
            "the runs trained on different dataset versions: their test splits differ, so a small difference "
            "in a metric may be the data's, not the model's"
        )
    notes += [
        f"run {r.run_id} registered no version ({r.status}): it has no test metrics or gates"
        for r in (a, b)
        if r.version is None
    ]
    return notes


def compare_runs(a: RunRecord, b: RunRecord) -> RunComparison:
    rows = [
        _line("run", "dataset", a.dataset, b.dataset),
        _line("run", "status", a.status, b.status),
        _line("run", "version", a.version, b.version),
        _line("run", "version status", a.version_status, b.version_status),
        _line("run", "reason", a.reason, b.reason),
        _line("run", "started", a.started_at, b.started_at),
        _line("run", "code version", a.code_version, b.code_version),
        _line("data", "policy", a.data_policy, b.data_policy),
        _line("data", "rows", a.training_rows, b.training_rows),
        *_keyed(
            "data", {f"{s} rows": n for s, n in a.split_rows.items()}, {f"{s} rows": n for s, n in b.split_rows.items()}
        ),
        *_keyed(
            "data versions",
            {v.version: v.rows for v in a.dataset_versions},
            {v.version: v.rows for v in b.dataset_versions},
        ),
        _line("chosen", "candidate", a.selected, b.selected),
        _line("chosen", "estimator", a.estimator, b.estimator),
        *_keyed("hyperparameters", a.hyperparameters, b.hyperparameters),
        *_keyed("metrics", a.metrics, b.metrics, metric=True),
        _line("gates", "all passed", a.gates_passed, b.gates_passed),
        *_keyed("gates", {g.name: _gate_text(g) for g in a.gates}, {g.name: _gate_text(g) for g in b.gates}),
        *_keyed(
            "candidates",
            {c.name: _candidate_value(c) for c in a.candidates},
            {c.name: _candidate_value(c) for c in b.candidates},
        ),
    ]
    notes = comparison_notes(a, b)
    return RunComparison(a, b, a.dataset == b.dataset, tuple(notes), tuple(rows))


# -- a dataset's runs, searched ---------------------------------------------------------------------
@dataclass(frozen=True)
class RunSearch:
    """Which of a dataset's runs to show, and in which order (`sort`: a metric or started/version, a
    leading `-` the other way round; default newest first)."""

    dataset: str
    metrics: tuple[RunFilter, ...] = ()
    params: tuple[RunFilter, ...] = ()
    sort: str | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort is not None:
            column, _ = sort_key(self.sort)
            if column not in METRIC_DIRECTIONS and column not in SORT_FIELDS:
                raise RunsQueryError(
                    f"sort {self.sort!r}: {unknown_metric(column)}, or {' or '.join(SORT_FIELDS)}"
                    if column
                    else f"sort {self.sort!r}: name a metric or {' or '.join(SORT_FIELDS)}"
                )

    @property
    def order(self) -> str:
        """The order in words, e.g. 'sorted by roc_auc, worst first': `-auc` means "the other way
        round" here, not "descending" as elsewhere, so the answer says which it was."""
        if self.sort is None:
            return "newest first"
        column, flipped = sort_key(self.sort)
        if column in METRIC_DIRECTIONS:
            return f"sorted by {column}, {'worst' if flipped else 'best'} first"
        return f"sorted by {column}, {'lowest' if flipped else 'highest'} first"

    def matches(self, run: RunRecord) -> bool:
        return all(f.holds(run.metrics.get(f.column)) for f in self.metrics) and all(
            f.holds(run.hyperparameters.get(f.column), present=f.column in run.hyperparameters) for f in self.params
        )

    def apply(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        kept = [r for r in runs if self.matches(r)]
        if self.sort is None:
            ordered = sorted(kept, key=lambda r: r.started_at or "", reverse=True)
        else:
            column, flipped = sort_key(self.sort)
            descending = best_first(column) if column in METRIC_DIRECTIONS else True
            ordered = sorted_rows(kept, column, RunRecord.value, descending=descending != flipped)
        return ordered[: self.limit]


def absent_metrics(dataset: str, metrics: Sequence[RunFilter], searched: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a search matched nothing when it named a metric no searched run has (`rmse` on a
    classification dataset): `searched` is each run's metrics. None when every named metric is there
    or no run was searched (nothing to say about metrics then)."""
    had = sorted({name for run in searched for name, value in run.items() if value is not None})
    missing = list(dict.fromkeys(f.column for f in metrics if f.column not in had))
    if not searched or not missing:
        return None
    named = ", ".join(f"{m} ({_metric_kind(m)})" for m in missing)
    return f"no run of {dataset} has {named}; its runs have {', '.join(had) or 'no test metrics'}"


def _metric_kind(metric: str) -> str:
    kinds = METRIC_PROBLEM_TYPES.get(metric, CLASSIFICATION)
    if "regression" in kinds:
        return "a regression metric"
    return "a binary classification metric" if kinds == ("binary",) else "a classification metric"


class RunItems(Protocol):
    """What the registry (mlops.registry.models.ModelRegistry) answers that runs are read from."""

    def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    def get_version(self, name: str, version: int) -> dict[str, Any] | None: ...

    def runs_for_dataset(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]: ...

    def list_versions(
        self, name: str, *, status: str | None = None, limit: int = 50, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]: ...


def recorded_run(registry: RunItems, run_id: str) -> RunRecord:
    """One run with the version it registered; not_found names the run."""
    item = registry.get_run(run_id)
    if item is None:
        raise RegistryError(
            "not_found", f"no training run {run_id!r} (a run is recorded once its first step has read its data)"
        )
    run = RunRecord.from_items(item)
    version = registry.get_version(run.model, run.version) if run.model and run.version is not None else None
    return RunRecord.from_items(item, version) if version else run


def dataset_runs(registry: RunItems, dataset: str) -> list[RunRecord]:
    """Every recorded run of a dataset (the newest MAX_SEARCH_RUNS), each with its version: one
    listing of each model's versions rather than a read per run."""
    items = registry.runs_for_dataset(dataset, limit=MAX_SEARCH_RUNS)
    versions: dict[tuple[str, int], dict[str, Any]] = {}
    for model in sorted({str(i["model"]) for i in items if i.get("model")}):
        token: str | None = None
        while True:
            page, token = registry.list_versions(model, limit=100, next_token=token)
            versions.update({(model, int(v["version"])): v for v in page})
            if token is None:
                break
    records = []
    for item in items:
        number = item.get("version", item.get("registered_version"))
        found = versions.get((str(item.get("model")), int(number))) if number is not None else None
        records.append(RunRecord.from_items(item, found))
    return records
