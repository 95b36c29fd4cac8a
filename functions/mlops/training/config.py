"""The training configuration: which data, which candidates, how to choose among them and what a
model must achieve before it is registered. Data with one schema (published as JSON Schema), so a
pipeline run is fully described by a dataset version plus this file.

Imports only pydantic and PyYAML: the CLI, the CDK app and every handler can validate a config
without loading scikit-learn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from mlops.monitoring.config import DriftConfig

# Re-exported: the training config is where the rest of the code looks for them.
from mlops.training.metric_names import CLASSIFICATION as CLASSIFICATION  # noqa: PLC0414
from mlops.training.metric_names import DEFAULT_SELECTION_METRIC as DEFAULT_SELECTION_METRIC  # noqa: PLC0414
from mlops.training.metric_names import METRIC_DIRECTIONS as METRIC_DIRECTIONS  # noqa: PLC0414
from mlops.training.metric_names import METRIC_PROBLEM_TYPES as METRIC_PROBLEM_TYPES  # noqa: PLC0414
from mlops.training.metric_names import Direction as Direction  # noqa: PLC0414
from mlops.training.metric_names import MetricName as MetricName  # noqa: PLC0414
from mlops.training.metric_names import ProblemType as ProblemType  # noqa: PLC0414
from mlops.training.metric_names import SelectionMetric as SelectionMetric  # noqa: PLC0414

EstimatorName = Literal[
    "logistic_regression", "linear_regression", "ridge", "random_forest", "hist_gradient_boosting", "gradient_boosting"
]
# What a datetime feature derives (the same names as mlops.serving.date_parts.DATE_PARTS, which computes them).
DatetimePart = Literal["year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since"]


ESTIMATOR_PROBLEM_TYPES: dict[str, tuple[ProblemType, ...]] = {
    "logistic_regression": CLASSIFICATION,
    "linear_regression": ("regression",),
    "ridge": ("regression",),
    "random_forest": ("binary", "multiclass", "regression"),
    "hist_gradient_boosting": ("binary", "multiclass", "regression"),
    "gradient_boosting": ("binary", "multiclass", "regression"),
}

# Parameters set by the platform (determinism, one core per Lambda) or meaningless for a one-shot fit.
RESERVED_PARAMS: dict[str, str] = {
    "random_state": "set by the platform from split.seed",
    "n_jobs": "set by the platform to 1 (one Lambda, one core)",
    "verbose": "set by the platform",
    "warm_start": "not supported: every fit starts from scratch",
    "init": "not supported: an estimator object cannot be configured as data",
}
# Parameters whose values are not scalars, or that would bypass the platform's feature encoding.
UNSUPPORTED_PARAMS: dict[str, str] = {
    "categorical_features": "not supported: categorical columns are one-hot encoded by the platform",
    "monotonic_cst": "not supported in v1 (needs a list per feature)",
    "interaction_cst": "not supported in v1 (needs lists of features)",
}
_FOREST = (
    "bootstrap ccp_alpha criterion max_depth max_features max_leaf_nodes max_samples min_impurity_decrease "
    "min_samples_leaf min_samples_split min_weight_fraction_leaf n_estimators oob_score"
)
_HGB = (
    "early_stopping l2_regularization learning_rate loss max_bins max_depth max_features max_iter max_leaf_nodes "
    "min_samples_leaf n_iter_no_change scoring tol validation_fraction"
)
_GB = (
    "ccp_alpha criterion learning_rate loss max_depth max_features max_leaf_nodes min_impurity_decrease "
    "min_samples_leaf min_samples_split min_weight_fraction_leaf n_estimators n_iter_no_change subsample tol "
    "validation_fraction"
)
# Configurable parameters per (estimator, is_classifier); a test keeps this in step with scikit-learn.
ESTIMATOR_PARAMS: dict[tuple[str, bool], frozenset[str]] = {
    ("logistic_regression", True): frozenset(
        [
            "C",
            "class_weight",
            "dual",
            "fit_intercept",
            "intercept_scaling",
            "l1_ratio",
            "max_iter",
            "penalty",
            "solver",
            "tol",
        ]
    ),
    ("linear_regression", False): frozenset(["copy_X", "fit_intercept", "positive", "tol"]),
    ("ridge", False): frozenset(["alpha", "copy_X", "fit_intercept", "max_iter", "positive", "solver", "tol"]),
    ("random_forest", True): frozenset([*_FOREST.split(), "class_weight"]),
    ("random_forest", False): frozenset(_FOREST.split()),
    ("hist_gradient_boosting", True): frozenset([*_HGB.split(), "class_weight"]),
    ("hist_gradient_boosting", False): frozenset([*_HGB.split(), "quantile"]),
    ("gradient_boosting", True): frozenset(_GB.split()),
    ("gradient_boosting", False): frozenset([*_GB.split(), "alpha"]),
}


class ConfigError(ValueError):
    """A training config (or the data it names) is unusable; the message names every bad field."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "training config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {path}: {message}" if path else f"  {message}" for path, message in problems)
        super().__init__(f"invalid {source}:\n{lines}")


def is_classification(problem_type: ProblemType) -> bool:
    return problem_type in CLASSIFICATION


def higher_is_better(metric: str) -> bool:
    return METRIC_DIRECTIONS[metric] == "max"


def _json_scalar(value: Any) -> Any:
    """Parameter values are JSON scalars: anything else cannot round-trip through Step Functions."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise PydanticCustomError(
        "param_value", "must be a string, number, boolean or null, not {kind}", {"kind": type(value).__name__}
    )


ParamValue = Annotated[
    Any,
    BeforeValidator(_json_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
ValueList = Annotated[list[ParamValue], Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    """A continuous (or integer, when both bounds are integers) search range."""

    low: int | float
    high: int | float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError("low must be less than high")
        if self.log and self.low <= 0:
            raise ValueError("log ranges need low > 0")
        return self

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


def _values_or_range(value: Any) -> Any:
    """One error per bad search space (not one per union member), naming what is expected."""
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("search_space", "give at least one value")
        return [_json_scalar(v) for v in value]
    if isinstance(value, dict):
        try:
            return Range.model_validate(value)
        except ValidationError as exc:
            text = "; ".join(f"{_path(tuple(e['loc'])) or 'range'}: {e['msg']}" for e in exc.errors())
            raise PydanticCustomError("search_space", "{text}", {"text": text.replace("Value error, ", "")}) from None
    raise PydanticCustomError(
        "search_space",
        "must be a list of values or a range {{low, high, log}}, not {kind}",
        {"kind": type(value).__name__},
    )


_SCALAR_SCHEMA = {"type": ["string", "number", "boolean", "null"]}
SearchSpace = Annotated[
    list[Any] | Range,
    BeforeValidator(_values_or_range),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": _SCALAR_SCHEMA, "minItems": 1},
                {
                    "type": "object",
                    "properties": {"low": {"type": "number"}, "high": {"type": "number"}, "log": {"type": "boolean"}},
                    "required": ["low", "high"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class RandomSearch(_Model):
    n_iter: int = Field(ge=1, le=1000)
    params: dict[str, SearchSpace] = Field(min_length=1, description="a list of values, or a range {low, high, log}")


class Search(_Model):
    """Exactly one of a grid (every combination) or a random search (n_iter draws)."""

    grid: dict[str, ValueList] | None = None
    random: RandomSearch | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Search:
        if (self.grid is None) == (self.random is None):
            raise ValueError("give exactly one of 'grid' or 'random'")
        if self.grid is not None and not self.grid:
            raise ValueError("grid needs at least one parameter")
        return self

    @property
    def param_names(self) -> list[str]:
        if self.grid is not None:
            return list(self.grid)
        assert self.random is not None
        return list(self.random.params)


class Candidate(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="unique; used in keys and state names")
    estimator: EstimatorName
    params: dict[str, ParamValue] = Field(default_factory=dict, description="fixed parameters")
    search: Search | None = None


class SplitConfig(_Model):
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    stratify: bool | None = Field(
        default=None,
        description="default: true for classification (by class), false for regression (true: by label deciles)",
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.test_fraction + self.validation_fraction > 0.8:
            raise ValueError("test_fraction + validation_fraction must leave at least 20 % for training")
        return self


class Bound(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class QualityGates(_Model):
    absolute: dict[MetricName, Bound] = Field(default_factory=dict, description="test-set metric bounds")
    max_regression: dict[MetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="how much worse than the current champion a metric may be, in its units"
    )
    max_segment_gap: float | None = Field(
        default=None,
        ge=0,
        description="how much worse the worst segment's selection metric may be than the overall one",
    )
    min_segment_rows: int = Field(default=30, ge=1, description="segments with fewer test rows are reported, not gated")
    latency_budget_ms_per_row: float | None = Field(default=None, gt=0, description="onnxruntime p99 per row")
    min_improvement_over_baseline: float | None = Field(
        default=0.0,
        ge=0,
        description="how much better than a trivial model (class prior / mean) the selection metric must be, in "
        "its units; 0: strictly better; null: not gated",
    )
    baseline_confidence: float | None = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="the gain over the trivial model must hold at this confidence (a paired bootstrap over the "
        "test rows): a model no better than noise does not pass by luck; null: the observed gain decides",
    )
    allow_single_class_predictions: bool = Field(
        default=False, description="false: a classifier predicting one class for every test row fails"
    )


class ParityConfig(_Model):
    max_abs_probability_diff: float = Field(default=1e-4, ge=0)
    max_relative_regression_diff: float = Field(default=1e-4, ge=0)
    min_label_agreement: float = Field(default=0.999, ge=0, le=1)


class DatetimeEncoding(_Model):
    """Which numbers a datetime feature becomes: the model sees these parts, the client sends the date."""

    parts: list[DatetimePart] | None = Field(
        default=None,
        min_length=1,
        description="default: year, month, day_of_week, days_since, and hour when the training values have "
        "times; day_of_week counts Monday 0 to Sunday 6, days_since counts (fractional) days from reference",
    )
    reference: date | None = Field(
        default=None, description="the zero of days_since; default: the earliest date in the training split"
    )

    @model_validator(mode="after")
    def _distinct(self) -> DatetimeEncoding:
        if self.parts is not None and len(set(self.parts)) != len(self.parts):
            raise ValueError("list each part once")
        return self


class EncodingConfig(_Model):
    max_categories: int = Field(
        default=50, ge=1, le=1000, description="per string/category feature; rarer values share one '__other__' column"
    )
    max_distinct_values: int = Field(
        default=1000, ge=1, description="a string/category column with more distinct values is free text: not a feature"
    )
    datetime: DatetimeEncoding = Field(default_factory=DatetimeEncoding, description="for every datetime feature")
    datetime_columns: dict[str, DatetimeEncoding] = Field(
        default_factory=dict, description="per datetime column, instead of `datetime`"
    )

    def datetime_encoding(self, column: str) -> DatetimeEncoding:
        return self.datetime_columns.get(column, self.datetime)


class ServingConfig(_Model):
    """How the predict API treats requests for this model: read from the deployed config at serve time
    (within the predict function's config cache time), so `mlops config deploy` changes it for the live
    version; each version keeps the copy it was trained with, used when no config is deployed."""

    out_of_range: Literal["reject", "warn"] = Field(
        default="reject", description="a number outside the data contract's min/max: 400, or answered with a warning"
    )
    unseen_category: Literal["reject", "warn"] = Field(
        default="reject",
        description="a category outside the contract's allowed values (or, without them, never seen in training)",
    )
    capture_sample_rate: float | None = Field(
        default=None, ge=0, le=1, description="share of requests captured for drift checks; default: the deployment's"
    )


class MonitoringConfig(_Model):
    """How this model's traffic is checked for drift (stored with each version)."""

    every_hours: float = Field(
        default=24, ge=0, description="check at most this often; 0: at every firing of the drift schedule"
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)


class RetrainingConfig(_Model):
    """When monitoring may start this pipeline by itself; absent: drift is reported, nothing retrains."""

    on_drift: bool = Field(default=True, description="start a run when a drift check finds dataset drift")
    every_days: float | None = Field(
        default=None, gt=0, description="also start a run when the dataset has had none for this long"
    )
    cooldown_hours: float = Field(default=24, ge=0, description="at least this long between automatic runs")
    max_runs_per_day: int = Field(default=1, ge=1, description="automatic runs in any 24 hours")


# The prepare function (1,769 MB) combines the chosen versions in memory: above this many rows
# (before duplicates are dropped) a run is refused rather than killed for lack of memory.
DEFAULT_MAX_TRAINING_ROWS = 1_000_000
DATA_USES = ("all", "latest")
# A dataset version is the sha256 hex of its content; a config may name it by a prefix of 12 or more.
VERSION_PREFIX_MIN = 12


def _since(value: Any) -> Any:
    """An ISO date (midnight UTC) or date-time (UTC when it names no zone)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "since",
                "{value} is not an ISO date (e.g. 2026-11-01 or 2026-11-01T08:00:00+00:00)",
                {"value": repr(value)},
            ) from None
    else:
        raise PydanticCustomError(
            "since", "must be an ISO date such as 2026-11-01, not {kind}", {"kind": type(value).__name__}
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "version_id",
            "{value} was read as a {kind}: quote the version id",
            {"value": value, "kind": type(value).__name__},
        )
    if not re.fullmatch(rf"[0-9a-f]{{{VERSION_PREFIX_MIN},64}}", value):
        raise PydanticCustomError(
            "version_id",
            "{value} is not a dataset version: give its id (64 hex digits) or its first 12 or more",
            {"value": repr(value)},
        )
    return value


VersionId = Annotated[
    str, BeforeValidator(_version_id), WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{12,64}$"})
]
Since = Annotated[
    datetime,
    BeforeValidator(_since),
    WithJsonSchema({"type": "string", "description": "ISO date (midnight UTC) or date-time"}),
]


def _data_shorthand(value: Any) -> Any:
    """`data: all` and `data: latest` are short for `data: {use: all}` and `data: {use: latest}`."""
    if isinstance(value, str):
        if value not in DATA_USES:
            raise PydanticCustomError(
                "data",
                "must be all, latest, {since: <ISO date>} or {versions: [<version id>, ...]}, not {value}",
                {"value": repr(value)},
            )
        return {"use": value}
    return value


class DataPolicy(_Model):
    """Which accepted dataset versions a run trains on: rows uploaded in parts, or again, are one table.

    A `dataset_version` named in the training request (`mlops train --dataset-version`) wins over it.
    """

    use: Literal["all", "latest"] | None = Field(
        default=None,
        description="all (the default): every accepted version, a row already in an older version counted once; "
        "latest: the newest version only",
    )
    since: Since | None = Field(default=None, description="the versions accepted at or after this date")
    versions: list[VersionId] | None = Field(
        default=None, min_length=1, description="these versions (ids, or prefixes of 12 or more hex digits)"
    )
    max_rows: int = Field(
        default=DEFAULT_MAX_TRAINING_ROWS,
        ge=1,
        description="refuse a run whose chosen versions hold more rows (before duplicates are dropped): prepare "
        "holds them all in memory",
    )

    @model_validator(mode="after")
    def _one_choice(self) -> DataPolicy:
        given = [name for name in ("use", "since", "versions") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of use, since or versions, not {' and '.join(given)}")
        if self.versions is not None and len(set(self.versions)) != len(self.versions):
            raise ValueError("versions lists a version twice")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [{"type": "string", "enum": list(DATA_USES)}, handler(core_schema)]}

    @property
    def choice(self) -> Literal["all", "latest", "since", "versions"]:
        if self.versions is not None:
            return "versions"
        if self.since is not None:
            return "since"
        return self.use or "all"

    def describe(self) -> str:
        """The policy in the config's own words, for the run's record and report."""
        if self.since is not None:
            return f"since: {self.since.isoformat()}"
        if self.versions is not None:
            return f"versions: [{', '.join(v[:12] for v in self.versions)}]"
        return self.choice


def match_versions(wanted: Sequence[str], known: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The full ids of `data.versions` among a dataset's `known` versions, and a problem (by field)
    for each one that names no version or more than one."""
    matched: list[str] = []
    problems: list[tuple[str, str]] = []
    for i, prefix in enumerate(wanted):
        hits = [version for version in known if version.startswith(prefix)]
        if len(hits) == 1:
            matched.append(hits[0])
        elif not hits:
            problems.append((f"data.versions[{i}]", f"no accepted dataset version {prefix!r}"))
        else:
            problems.append(
                (f"data.versions[{i}]", f"{prefix!r} names {len(hits)} versions ({', '.join(h[:16] for h in hits)})")
            )
    return matched, problems


class TrainingConfig(_Model):
    """One training pipeline run, as data."""

    dataset: str = Field(min_length=1)
    problem_type: ProblemType
    label: str = Field(min_length=1)
    features: list[str] | None = Field(
        default=None,
        description="default: every column except the label and the segment column; a datetime column becomes "
        "the numbers encoding.datetime names",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="columns never to train on when features are left to the default (ids, free text, leaks); "
        "unique columns, text whose values all differ and text over encoding.max_distinct_values are left out "
        "anyway, each with its reason in the run's report",
    )
    segment_column: str | None = None
    data: Annotated[DataPolicy, BeforeValidator(_data_shorthand)] = Field(
        default_factory=DataPolicy,
        description="which accepted dataset versions to train on: all (default), latest, {since: <ISO date>} or "
        "{versions: [...]}; a dataset_version in the training request wins",
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    encoding: EncodingConfig = Field(default_factory=EncodingConfig)
    candidates: list[Candidate] = Field(min_length=1)
    selection_metric: SelectionMetric | None = Field(
        default=None, description="default: roc_auc (binary), f1_macro (multiclass), rmse (regression)"
    )
    quality_gates: QualityGates = Field(default_factory=QualityGates)
    parity: ParityConfig = Field(default_factory=ParityConfig)
    promotion: Literal["auto", "manual"] = "manual"
    retraining: RetrainingConfig | None = None
    serving: ServingConfig = Field(default_factory=ServingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @property
    def metric(self) -> SelectionMetric:
        """The selection metric, resolved."""
        return self.selection_metric or DEFAULT_SELECTION_METRIC[self.problem_type]

    @property
    def stratify(self) -> bool:
        return self.split.stratify if self.split.stratify is not None else is_classification(self.problem_type)

    @property
    def seed(self) -> int:
        return self.split.seed

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        problems = semantic_problems(self)
        if problems:
            raise PydanticCustomError("config", "\n".join(f"{p}: {m}" for p, m in problems))
        return self


def semantic_problems(config: TrainingConfig) -> list[tuple[str, str]]:
    """What the field types cannot say: combinations valid for the problem type, names that exist."""
    problems: list[tuple[str, str]] = []
    kind = config.problem_type
    classifier = is_classification(kind)
    if config.selection_metric is not None and kind not in METRIC_PROBLEM_TYPES[config.selection_metric]:
        problems.append(("selection_metric", f"{config.selection_metric!r} is not a {kind} metric"))
    for section in ("absolute", "max_regression"):
        for metric in getattr(config.quality_gates, section):
            if kind not in METRIC_PROBLEM_TYPES[metric]:
                problems.append((f"quality_gates.{section}.{metric}", f"{metric!r} is not a {kind} metric"))
    if config.features is not None:
        seen: set[str] = set()
        for i, name in enumerate(config.features):
            if name == config.label:
                problems.append((f"features[{i}]", f"{name!r} is the label"))
            if name in seen:
                problems.append((f"features[{i}]", f"{name!r} is listed twice"))
            seen.add(name)
        if not config.features:
            problems.append(("features", "list at least one feature, or omit the field to use every column"))
    if config.segment_column is not None and config.segment_column == config.label:
        problems.append(("segment_column", "must not be the label"))
    for i, name in enumerate(config.exclude):
        if name == config.label:
            problems.append((f"exclude[{i}]", f"{name!r} is the label"))
        elif config.features is not None and name in config.features:
            problems.append((f"exclude[{i}]", f"{name!r} is also listed under features"))
    names: set[str] = set()
    for i, cand in enumerate(config.candidates):
        where = f"candidates[{i}]"
        if cand.name in names:
            problems.append((f"{where}.name", f"duplicate candidate name {cand.name!r}"))
        names.add(cand.name)
        if kind not in ESTIMATOR_PROBLEM_TYPES[cand.estimator]:
            allowed = ", ".join(e for e, kinds in ESTIMATOR_PROBLEM_TYPES.items() if kind in kinds)
            problems.append(
                (f"{where}.estimator", f"{cand.estimator!r} is not a {kind} estimator (use one of {allowed})")
            )
            continue
        known = ESTIMATOR_PARAMS[(cand.estimator, classifier)]
        searched = cand.search.param_names if cand.search else []
        section = "grid" if cand.search and cand.search.grid is not None else "random.params"
        for path, name in [(f"{where}.params.{n}", n) for n in cand.params] + [
            (f"{where}.search.{section}.{n}", n) for n in searched
        ]:
            if name in RESERVED_PARAMS:
                problems.append((path, RESERVED_PARAMS[name]))
            elif name in UNSUPPORTED_PARAMS:
                problems.append((path, UNSUPPORTED_PARAMS[name]))
            elif name not in known:
                problems.append((path, f"unknown parameter of {cand.estimator} (known: {', '.join(sorted(known))})"))
        for name in searched:
            if name in cand.params:
                problems.append((f"{where}.search.{section}.{name}", "also fixed in params; fix it or search it"))
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors as (field path, message), e.g. `candidates[1].search.grid.max_depth`."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "config" and not loc:
            for line in message.splitlines():
                path, _, text = line.partition(": ")
                problems.append((path, text))
            continue
        if err["type"] == "missing":
            message = "required field missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append((_path(loc) or ("''" if loc else ""), message))  # '': a field named by an empty key
    return problems


class _Loader(yaml.SafeLoader):
    """YAML with 1.2-style floats (`1e-4` is a number, not a string) and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if not isinstance(key, Hashable):  # `? [a, b]`
                raise yaml.constructor.ConstructorError(None, None, "a key is a list or a mapping", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Dates stay text, so that the config's validation (not the YAML parser) names a bad one's field.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_training_config(text: str, *, source: str = "training config") -> TrainingConfig:
    """Parse YAML or JSON and validate; raises ConfigError naming every bad field of `source`."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: also an integer past the digit limit
        raise ConfigError([("", f"not valid YAML/JSON: {exc}")], source) from exc
    if not isinstance(data, dict):
        raise ConfigError([("", "expected a mapping at the top level")], source)
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc), source) from exc


def config_from_dict(data: dict[str, Any], *, source: str = "training config") -> TrainingConfig:
    """Validate an already-parsed config (e.g. from a Step Functions input)."""
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc), source) from exc


def default_candidates(problem_type: ProblemType) -> list[Candidate]:
    """Four standard candidates with small grids: a linear baseline and three tree ensembles.

    Small on purpose: one Lambda (15 min, one core) fits each, including the search.
    """
    if is_classification(problem_type):
        linear = Candidate(
            name="logistic_regression",
            estimator="logistic_regression",
            params={"max_iter": 1000},
            search=Search(grid={"C": [0.1, 1.0, 10.0]}),
        )
    else:
        linear = Candidate(name="ridge", estimator="ridge", search=Search(grid={"alpha": [0.1, 1.0, 10.0]}))
    return [
        linear,
        Candidate(
            name="random_forest",
            estimator="random_forest",
            params={"n_estimators": 200},
            # Depth drives serving latency: 200 unbounded trees on 50,000 rows are a 27 MB graph
            # answering one row in ~130 µs; depth 6 answers in ~28 µs (see README, training benchmark).
            # Raise max_depth in a dataset's config when accuracy matters more than latency.
            search=Search(grid={"max_depth": [4, 6], "min_samples_leaf": [1, 5]}),
        ),
        Candidate(
            name="hist_gradient_boosting",
            estimator="hist_gradient_boosting",
            search=Search(grid={"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]}),
        ),
        Candidate(
            name="gradient_boosting",
            estimator="gradient_boosting",
            params={"n_estimators": 100},
            search=Search(grid={"learning_rate": [0.05, 0.1], "max_depth": [2, 3]}),
        ),
    ]


def default_config(dataset: str, label: str, problem_type: ProblemType) -> TrainingConfig:
    """A sensible starting point: the four standard candidates, default split, parity and no gates."""
    return TrainingConfig(
        dataset=dataset, label=label, problem_type=problem_type, candidates=default_candidates(problem_type)
    )


_FEATURE_TYPES = ("int", "float", "bool", "string", "category", "datetime")  # mlops.training.features


def contract_problems(
    config: TrainingConfig,
    columns: Mapping[str, str],
    *,
    dataset: str,
    allowed_values: Mapping[str, Sequence[Any]] | None = None,
    unique: Collection[str] = (),
) -> list[tuple[str, str]]:
    """What in `config` the dataset's deployed contract (`columns`: name -> type; a column's
    `allowed_values` and the columns it marks `unique`) cannot give it, by field: checked when the
    config is deployed, before a run finds out an hour later."""
    problems: list[tuple[str, str]] = []
    listing = ", ".join(columns) or "none"
    if config.dataset != dataset:
        problems.append(("dataset", f"{config.dataset!r}, but the contract is for {dataset!r}"))
    label_type = columns.get(config.label)
    if label_type is None:
        problems.append(("label", f"no column {config.label!r} in the contract (columns: {listing})"))
    elif config.problem_type == "regression" and label_type not in ("int", "float"):
        problems.append(("label", f"regression needs an int or float label; {config.label!r} is {label_type}"))
    elif label_type == "datetime":
        problems.append(("label", f"{config.label!r} is a datetime column, not classes"))
    elif config.problem_type != "regression" and config.label in unique:
        problems.append(
            ("label", f"the contract marks {config.label!r} unique: each row its own class, an identifier, not a label")
        )
    elif config.problem_type != "regression" and label_type != "bool" and (allowed_values or {}).get(config.label):
        classes = list((allowed_values or {})[config.label])
        shown = ", ".join(map(str, classes[:10])) + (", …" if len(classes) > 10 else "")
        if config.problem_type == "binary" and len(classes) != 2:
            fix = "multiclass" if len(classes) > 2 else "another label"
            problems.append(
                (
                    "problem_type",
                    f"binary needs exactly 2 classes; the contract allows {len(classes)} for {config.label!r} "
                    f"({shown}): use problem_type {fix}",
                )
            )
        elif config.problem_type == "multiclass" and len(classes) < 2:
            problems.append(
                ("label", f"the contract allows one value for {config.label!r} ({shown}): nothing to learn")
            )
    if config.segment_column is not None:
        segment_type = columns.get(config.segment_column)
        if segment_type is None:
            problems.append(
                ("segment_column", f"no column {config.segment_column!r} in the contract (columns: {listing})")
            )
        elif segment_type in ("float", "datetime"):
            problems.append(
                ("segment_column", f"{config.segment_column!r} is a {segment_type} column; segments are groups")
            )
    for i, name in enumerate(config.exclude):
        if name not in columns:
            problems.append((f"exclude[{i}]", f"no column {name!r} in the contract (columns: {listing})"))
    for name in config.encoding.datetime_columns:
        if name not in columns:
            problems.append(
                (f"encoding.datetime_columns.{name}", f"no column {name!r} in the contract (columns: {listing})")
            )
        elif columns[name] != "datetime":
            problems.append(
                (f"encoding.datetime_columns.{name}", f"{name!r} is a {columns[name]} column, not a datetime")
            )
    if config.features is not None:
        for i, name in enumerate(config.features):
            kind = columns.get(name)
            if kind is None:
                problems.append((f"features[{i}]", f"no column {name!r} in the contract (columns: {listing})"))
            elif kind not in _FEATURE_TYPES:
                problems.append(
                    (f"features[{i}]", f"{name!r} is a {kind} column; features are {', '.join(_FEATURE_TYPES)} columns")
                )
    elif not [
        n for n, kind in columns.items() if n not in (config.label, config.segment_column) and kind in _FEATURE_TYPES
    ]:
        problems.append(
            ("features", "the contract has no int, float, bool, string, category or datetime column besides the label")
        )
    return problems
