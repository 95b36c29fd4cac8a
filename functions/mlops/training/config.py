"""The training configuration: which data, which candidates, how to choose among them and what a
model must achieve before it is registered. Data with one schema (published as JSON Schema), so a
pipeline run is fully described by a dataset version plus this file.

Imports only pydantic and PyYAML: the CLI, the CDK app and every handler can validate a config
without loading scikit-learn.

Here: the config's sections (split, encoding, quality gates, parity, serving, monitoring,
retraining), the rules between its fields, the checks against a dataset's contract, and reading it
from YAML or JSON. Its larger parts have modules of their own: `search_space` (the candidates),
`data_policy` (the `data` section), `fit_placement` (the `fargate` section) and
`mlops.monitoring.config` (`monitoring.drift` and `monitoring.performance`); `config_base` is what
they all share.

One module past 500 lines: `semantic_problems` checks rules that cross sections (a floor's metric
against the problem type, the capture rate against performance monitoring), so the sections and
the rules between them read together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from mlops.monitoring.config import DriftConfig, PerformanceConfig
from mlops.training.config_base import ConfigModel, field_path
from mlops.training.data_policy import DataPolicy, data_shorthand
from mlops.training.fit_placement import FargateConfig

# Re-exported: the training config is where the rest of the code looks for them.
from mlops.training.metric_names import CLASSIFICATION as CLASSIFICATION  # noqa: PLC0414
from mlops.training.metric_names import DEFAULT_SELECTION_METRIC as DEFAULT_SELECTION_METRIC  # noqa: PLC0414
from mlops.training.metric_names import METRIC_DIRECTIONS as METRIC_DIRECTIONS  # noqa: PLC0414
from mlops.training.metric_names import METRIC_PROBLEM_TYPES as METRIC_PROBLEM_TYPES  # noqa: PLC0414
from mlops.training.metric_names import Direction as Direction  # noqa: PLC0414
from mlops.training.metric_names import MetricName as MetricName  # noqa: PLC0414
from mlops.training.metric_names import ProblemType as ProblemType  # noqa: PLC0414
from mlops.training.metric_names import SelectionMetric as SelectionMetric  # noqa: PLC0414
from mlops.training.metric_names import higher_is_better as higher_is_better  # noqa: PLC0414
from mlops.training.metric_names import is_classification as is_classification  # noqa: PLC0414
from mlops.training.search_space import (
    ESTIMATOR_PARAMS,
    ESTIMATOR_PROBLEM_TYPES,
    RESERVED_PARAMS,
    UNSUPPORTED_PARAMS,
    Candidate,
    default_candidates,
)

# What a datetime feature derives (the same names as mlops.serving.date_parts.DATE_PARTS, which computes them).
DatetimePart = Literal["year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since"]


class ConfigError(ValueError):
    """A training config (or the data it names) is unusable; the message names every bad field."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "training config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {path}: {message}" if path else f"  {message}" for path, message in problems)
        super().__init__(f"invalid {source}:\n{lines}")


class SplitConfig(ConfigModel):
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


class Bound(ConfigModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class QualityGates(ConfigModel):
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


class ParityConfig(ConfigModel):
    max_abs_probability_diff: float = Field(default=1e-4, ge=0)
    max_relative_regression_diff: float = Field(default=1e-4, ge=0)
    min_label_agreement: float = Field(default=0.999, ge=0, le=1)


class DatetimeEncoding(ConfigModel):
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


class EncodingConfig(ConfigModel):
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


class ServingConfig(ConfigModel):
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


class MonitoringConfig(ConfigModel):
    """How this model's traffic is checked for drift (stored with each version)."""

    every_hours: float = Field(
        default=24, ge=0, description="check at most this often; 0: at every firing of the drift schedule"
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)
    performance: PerformanceConfig | None = Field(
        default=None, description="checks against ground truth (labels sent back); absent: none"
    )


class RetrainingConfig(ConfigModel):
    """When monitoring may start this pipeline by itself; absent: drift is reported, nothing retrains."""

    on_drift: bool = Field(default=True, description="start a run when a drift check finds dataset drift")
    on_performance_drop: bool = Field(
        default=True,
        description="start a run when a performance check finds a metric past its monitoring.performance floor "
        "(after the feedback loop, if configured, has written the labelled rows as a dataset version)",
    )
    every_days: float | None = Field(
        default=None, gt=0, description="also start a run when the dataset has had none for this long"
    )
    cooldown_hours: float = Field(default=24, ge=0, description="at least this long between automatic runs")
    max_runs_per_day: int = Field(default=1, ge=1, description="automatic runs in any 24 hours")


class TrainingConfig(ConfigModel):
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
    data: Annotated[DataPolicy, BeforeValidator(data_shorthand)] = Field(
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
    fargate: FargateConfig = Field(
        default_factory=FargateConfig,
        description="when a candidate's fit leaves the fit Lambda for an ECS Fargate task, and the task's size",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _capture_everything_for_performance(cls, data: Any) -> Any:
        """Labels are joined with every prediction: `monitoring.performance` makes the capture rate 1
        unless the config sets one (a rate under 1 is then refused, by `semantic_problems`)."""
        if not isinstance(data, dict):
            return data
        monitoring = data.get("monitoring")
        serving = data.get("serving")
        if not isinstance(monitoring, dict) or monitoring.get("performance") is None:
            return data
        if serving is None:
            serving = {}
        if isinstance(serving, dict) and serving.get("capture_sample_rate") is None:
            data = {**data, "serving": {**serving, "capture_sample_rate": 1.0}}
        return data

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
    problems += _performance_problems(config)
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


def _performance_problems(config: TrainingConfig) -> list[tuple[str, str]]:
    """`monitoring.performance` needs every prediction captured, and metrics of the problem type."""
    performance = config.monitoring.performance
    if performance is None:
        return []
    problems: list[tuple[str, str]] = []
    kind = config.problem_type
    for metric in performance.floor:
        if kind not in METRIC_PROBLEM_TYPES[metric]:
            problems.append((f"monitoring.performance.floor.{metric}", f"{metric!r} is not a {kind} metric"))
    ab_metric = performance.ab_test.metric
    if ab_metric is not None and kind not in METRIC_PROBLEM_TYPES[ab_metric]:
        problems.append(("monitoring.performance.ab_test.metric", f"{ab_metric!r} is not a {kind} metric"))
    rate = config.serving.capture_sample_rate
    if rate is not None and rate < 1:
        problems.append(
            (
                "serving.capture_sample_rate",
                f"{rate:g}: monitoring.performance joins labels with every prediction; set 1 or leave it out",
            )
        )
    return problems


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
        problems.append((field_path(loc) or ("''" if loc else ""), message))  # '': a field named by an empty key
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
    performance = config.monitoring.performance
    if performance is not None and performance.id_field is not None:
        where, id_field = "monitoring.performance.id_field", performance.id_field
        if id_field not in columns:
            problems.append((where, f"no column {id_field!r} in the contract (columns: {listing})"))
        elif id_field == config.label:
            problems.append((where, f"{id_field!r} is the label: a row's id must be known when it is predicted"))
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
