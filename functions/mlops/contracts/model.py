"""Data contracts: what a dataset upload must look like, kept as data that the data team owns.

A contract is YAML (or JSON). Every expectation is written either as its bare value, or as a mapping
``{value: …, mostly: …, severity: …}`` when it needs a tolerance or is only a warning:

- ``mostly`` (0..1, default 1.0): the fraction of the check's rows that must pass. Value checks
  (``min``, ``max``, ``allowed_values``, ``regex``, ``unique``) count the non-null rows, ``type``
  counts the non-empty cells, ``nullable: {value: false, mostly: 0.98}`` allows 2 % nulls,
  ``duplicate_rows`` counts all rows and ``label_min_class_share`` counts classes. Checks made once
  for the whole file (``required``, ``extra_columns``, ``forbidden_columns``, ``row_count``,
  ``distributions``) are met or not: they take ``severity`` but refuse a ``mostly`` below 1.
- ``severity``: ``error`` (the default) rejects the file, ``warning`` is only reported. For the
  ``allow | warn | reject`` policies (``extra_columns``, ``duplicate_rows``) ``warn`` means a warning.

A full example::

    dataset: customers              # slug: [a-z0-9][a-z0-9_-]{0,62}
    version: 3
    description: Monthly customer snapshot for the churn model.
    label: churned                  # a declared column, or null
    columns:                        # in file order; a file may order its columns freely
      - name: customer_id
        type: string                # int | float | bool | string | category | datetime
        regex: "C[0-9]{6}"          # RE2 syntax, must match the whole value
        unique: true
      - name: age
        type: int
        min: 0
        max: {value: 120, mostly: 0.999, severity: warning}
      - name: plan
        type: category
        allowed_values: [free, pro, enterprise]
      - name: monthly_spend
        type: {value: float, mostly: 0.99}   # up to 1 % of cells may be unparseable
        nullable: {value: false, mostly: 0.98}
        min: 0
      - name: signup_date
        type: datetime
        format: "%Y-%m-%d"          # strptime format; ISO 8601 when absent
        min: 2015-01-01
      - name: coupon
        type: string
        required: false             # may be absent from the file
        nullable: true
      - name: churned
        type: bool
    extra_columns: warn             # allow | warn | reject (default reject)
    forbidden_columns: [ssn, email]
    row_count: {min: 1000, max: 5000000}
    duplicate_rows: reject          # allow (default) | warn | reject, or {value: reject, mostly: 0.999}
    label_min_class_share: {value: 0.05, severity: warning}
    distributions:
      - {column: monthly_spend, statistic: mean, min: 10, max: 80}
      - {column: age, statistic: quantile, q: 0.5, min: 25, max: 55, severity: warning}
    policy:
      auto_train: false             # train a model as soon as a version is accepted

Cells read as null: empty, ``NA``, ``N/A``, ``NULL``, ``null``, ``NaN``, ``nan``, ``None``.
Booleans read: ``true/false``, ``t/f``, ``yes/no``, ``y/n``, ``1/0`` in any case.

This module is the contract's shape and the rules between its fields; `mlops.contracts.loading`
reads the YAML or JSON and names each problem by the path its author wrote.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mlops.names import NAME_PATTERN

ColumnType = Literal["int", "float", "bool", "string", "category", "datetime"]
Severity = Literal["error", "warning"]
PolicyValue = Literal["allow", "warn", "reject"]
Statistic = Literal["mean", "std", "quantile"]
Bound = int | float | datetime
Scalar = bool | int | str

COLUMN_TYPES: tuple[str, ...] = ("int", "float", "bool", "string", "category", "datetime")
NUMERIC_TYPES = frozenset({"int", "float"})
CLASS_LABEL_TYPES = frozenset({"int", "bool", "string", "category"})


class ContractError(ValueError):
    """A contract is malformed; ``problems`` holds one ``path: message`` line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid data contract {source}: {count}\n" + "\n".join(f"  {p}" for p in problems))


class ProblemsError(ValueError):
    """Several problems found by one validator, each with a path relative to the model it checked."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"{path}: {message}" for path, message in items))


def _shorthand(value: Any) -> Any:
    """Let ``min: 0`` stand for ``min: {value: 0}`` so simple contracts stay simple."""
    return value if isinstance(value, Mapping | BaseModel) else {"value": value}


def _bound(value: Any) -> Any:
    """One clear message for a bad bound instead of one per member of the union."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean; a bound is a number or a date/time")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is neither a number nor an ISO 8601 date/time") from None
    raise ValueError(f"{value!r} is neither a number nor a date/time")


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | int | str):
        return value
    raise ValueError(f"{value!r} is not a string, an integer or a boolean")


class Expectation(BaseModel):
    """What every expectation may carry: a tolerance and what a failure means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mostly: float = Field(default=1.0, ge=0.0, le=1.0, description="fraction of the check's rows that must pass")
    severity: Severity = Field(default="error", description="error rejects the file; warning is only reported")


class TypeExpectation(Expectation):
    value: ColumnType


class FlagExpectation(Expectation):
    value: bool


class BoundExpectation(Expectation):
    value: Annotated[Bound, BeforeValidator(_bound, json_schema_input_type=int | float | datetime | date)]


class ValuesExpectation(Expectation):
    value: list[Annotated[Scalar, BeforeValidator(_scalar, json_schema_input_type=Scalar)]] = Field(min_length=1)


class RegexExpectation(Expectation):
    value: str = Field(min_length=1)


class PolicyExpectation(Expectation):
    value: PolicyValue

    @property
    def effective_severity(self) -> Severity:
        """``warn`` is a warning whatever the severity field says (a contradiction is refused at load)."""
        return "warning" if self.value == "warn" else self.severity


class NamesExpectation(Expectation):
    value: list[str]


class ShareExpectation(Expectation):
    value: float = Field(ge=0.0, le=1.0)


TypeCheck = Annotated[TypeExpectation, BeforeValidator(_shorthand, json_schema_input_type=ColumnType | TypeExpectation)]
FlagCheck = Annotated[FlagExpectation, BeforeValidator(_shorthand, json_schema_input_type=bool | FlagExpectation)]
BoundCheck = Annotated[
    BoundExpectation,
    BeforeValidator(_shorthand, json_schema_input_type=int | float | datetime | date | BoundExpectation),
]
ValuesCheck = Annotated[
    ValuesExpectation, BeforeValidator(_shorthand, json_schema_input_type=list[Scalar] | ValuesExpectation)
]
RegexCheck = Annotated[RegexExpectation, BeforeValidator(_shorthand, json_schema_input_type=str | RegexExpectation)]
PolicyCheck = Annotated[
    PolicyExpectation, BeforeValidator(_shorthand, json_schema_input_type=PolicyValue | PolicyExpectation)
]
NamesCheck = Annotated[
    NamesExpectation, BeforeValidator(_shorthand, json_schema_input_type=list[str] | NamesExpectation)
]
ShareCheck = Annotated[ShareExpectation, BeforeValidator(_shorthand, json_schema_input_type=float | ShareExpectation)]


def _whole_file(check: Expectation | None, path: str) -> list[tuple[str, str]]:
    if check is not None and check.mostly != 1.0:
        return [(f"{path}.mostly", "does not apply: this check is met or not for the whole file")]
    return []


def _policy_severity(check: PolicyExpectation, path: str) -> list[tuple[str, str]]:
    if "severity" not in check.model_fields_set:
        return []
    if check.value == "warn" and check.severity == "error":
        return [(f"{path}.severity", "'warn' already means a warning; use 'reject' for an error")]
    if check.value == "reject" and check.severity == "warning":
        return [(f"{path}.severity", "'reject' with a warning is 'warn'")]
    return []


def _fmt(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


class ColumnSpec(BaseModel):
    """One declared column: its type and the expectations on its values."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: TypeCheck
    required: FlagCheck = FlagExpectation(value=True)
    nullable: FlagCheck = FlagExpectation(value=False)
    min: BoundCheck | None = None
    max: BoundCheck | None = None
    allowed_values: ValuesCheck | None = None
    regex: RegexCheck | None = None
    unique: FlagCheck | None = None
    format: str | None = Field(None, description="strptime format of a datetime column; ISO 8601 when absent")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        problems: list[tuple[str, str]] = []
        kind = self.type.value
        problems += _whole_file(self.required, "required")
        if self.nullable.value and self.nullable.mostly != 1.0:
            problems.append(("nullable.mostly", "applies only to nullable: false (the share of rows that must be set)"))
        bounds_ok = True
        for field in ("min", "max"):
            bound = getattr(self, field)
            if bound is None:
                continue
            bounds_ok = bounds_ok and (kind == "datetime") == isinstance(bound.value, datetime)
            if kind in NUMERIC_TYPES and isinstance(bound.value, datetime):
                problems.append((field, f"a {kind} column needs a number, got {_fmt(bound.value)}"))
            elif kind == "datetime" and not isinstance(bound.value, datetime):
                problems.append((field, f"a datetime column needs a date/time, got {bound.value!r}"))
            elif kind not in NUMERIC_TYPES and kind != "datetime":
                problems.append((field, f"applies to int, float or datetime columns, not {kind}"))
        if self.min is not None and self.max is not None and bounds_ok:
            low, high = self.min.value, self.max.value
            try:
                if low > high:  # type: ignore[operator]
                    problems.append(("min", f"must be ≤ max ({_fmt(low)} > {_fmt(high)})"))
            except TypeError:  # a naive and an aware date/time
                problems.append(("min", f"cannot be compared with max ({_fmt(low)} vs {_fmt(high)})"))
        if self.allowed_values is not None:
            problems += self._allowed_values_problems()
        if self.regex is not None:
            if kind not in ("string", "category"):
                problems.append(("regex", f"applies to string or category columns, not {kind}"))
            problems += [("regex", message) for message in regex_problems(self.regex.value)]
        if self.format is not None:
            if kind != "datetime":
                problems.append(("format", f"applies to datetime columns, not {kind}"))
            elif "%" not in self.format:
                problems.append(("format", f"{self.format!r} is not a strptime format (e.g. '%Y-%m-%d')"))
        if problems:
            raise ProblemsError(problems)
        return self

    def _allowed_values_problems(self) -> list[tuple[str, str]]:
        assert self.allowed_values is not None
        kind = self.type.value
        values = self.allowed_values.value
        problems: list[tuple[str, str]] = []
        if kind not in ("string", "category", "int", "bool"):
            return [("allowed_values", f"applies to string, category, int or bool columns, not {kind}")]
        normalized: list[Scalar] = []
        for i, item in enumerate(values):
            path = f"allowed_values[{i}]"
            if kind == "int" and (isinstance(item, bool) or not isinstance(item, int)):
                problems.append((path, f"{item!r} is not an integer"))
            elif kind == "bool" and not isinstance(item, bool):
                problems.append((path, f"{item!r} is not a boolean"))
            elif kind in ("string", "category") and isinstance(item, bool):
                problems.append((path, f"{item!r} is a boolean in YAML; quote it ('{str(item).lower()}') for text"))
            normalized.append(str(item) if kind in ("string", "category") else item)
        seen: set[Scalar] = set()
        for i, item in enumerate([] if problems else normalized):
            if item in seen:
                problems.append((f"allowed_values[{i}]", f"{item!r} is listed twice"))
            seen.add(item)
        if not problems and normalized != values:
            # Integers listed for a text column mean their text ("1"), as the file holds them.
            self.allowed_values = self.allowed_values.model_copy(update={"value": normalized})
        return problems


def regex_problems(pattern: str) -> list[str]:
    """A regex must compile and use only RE2 syntax, which the vectorized matcher runs."""
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as exc:  # OverflowError: a repetition count past sys.maxsize
        return [f"{pattern!r} does not compile: {exc}"]
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern=f"^(?:{pattern})$")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return [f"{pattern!r} uses syntax RE2 does not support (lookaround, backreference): {exc}"]
    return []


class RowCountExpectation(Expectation):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountExpectation:
        problems = _whole_file(self, "")
        if self.min is None and self.max is None:
            problems.append(("min", "give min, max or both"))
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(("min", f"must be ≤ max ({self.min} > {self.max})"))
        if problems:
            raise ProblemsError([(path.lstrip("."), message) for path, message in problems])
        return self


class DistributionExpectation(Expectation):
    """A statistic of a numeric column that must stay within bounds (a cheap guard against shifts)."""

    column: str
    statistic: Statistic
    q: float | None = Field(None, description="the quantile, in (0, 1), for statistic: quantile")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DistributionExpectation:
        problems = [(path.lstrip("."), message) for path, message in _whole_file(self, "")]
        if self.statistic == "quantile":
            if self.q is None:
                problems.append(("q", "is required for statistic: quantile"))
            elif not 0.0 < self.q < 1.0:
                problems.append(("q", f"must be in (0, 1), got {self.q}"))
        elif self.q is not None:
            problems.append(("q", f"applies to statistic: quantile, not {self.statistic}"))
        if self.min is None and self.max is None:
            problems.append(("min", "give min, max or both"))
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(("min", f"must be ≤ max ({self.min} > {self.max})"))
        if problems:
            raise ProblemsError(problems)
        return self


class Policy(BaseModel):
    """What the platform does with an accepted version."""

    model_config = ConfigDict(extra="forbid")

    auto_train: bool = False


class DataContract(BaseModel):
    """The contract of one dataset: see the module docstring for the YAML shape."""

    model_config = ConfigDict(extra="forbid", title="Data contract")

    dataset: str = Field(pattern=NAME_PATTERN, description="the dataset's slug")
    version: int = Field(ge=1)
    description: str = ""
    label: str | None = Field(None, description="the column a model predicts, if any")
    columns: list[ColumnSpec] = Field(min_length=1)
    extra_columns: PolicyCheck = PolicyExpectation(value="reject")
    forbidden_columns: NamesCheck = NamesExpectation(value=[])
    row_count: RowCountExpectation | None = None
    duplicate_rows: PolicyCheck = PolicyExpectation(value="allow")
    label_min_class_share: ShareCheck | None = None
    distributions: list[DistributionExpectation] = []
    policy: Policy = Policy()

    @model_validator(mode="after")
    def _cross_references(self) -> DataContract:
        problems = document_problems(self.model_dump())
        problems += _policy_severity(self.extra_columns, "extra_columns")
        problems += _policy_severity(self.duplicate_rows, "duplicate_rows")
        problems += _whole_file(self.extra_columns, "extra_columns")
        problems += _whole_file(self.forbidden_columns, "forbidden_columns")
        if problems:
            raise ProblemsError(problems)
        return self

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _value(node: Any) -> Any:
    return node.get("value") if isinstance(node, Mapping) else node


def document_problems(data: Any) -> list[tuple[str, str]]:
    """Checks that span fields; written against plain data so they also run on a contract that failed
    (`loading` reports them next to the field errors)."""
    if not isinstance(data, Mapping):
        return []
    problems: list[tuple[str, str]] = []
    types: dict[str, Any] = {}  # name -> declared type, or None when the type itself is malformed
    columns = data.get("columns")
    columns = columns if isinstance(columns, list) else []
    for i, column in enumerate(columns):
        if not isinstance(column, Mapping) or not isinstance(column.get("name"), str):
            continue
        name = column["name"]
        if name in types:
            first = next(j for j, c in enumerate(columns) if isinstance(c, Mapping) and c.get("name") == name)
            problems.append((f"columns[{i}].name", f"{name!r} is declared twice (also columns[{first}])"))
        else:
            kind = _value(column.get("type"))
            types[name] = kind if kind in COLUMN_TYPES else None
    if not columns or not all(isinstance(c, Mapping) and isinstance(c.get("name"), str) for c in columns):
        return problems  # an unnamed column could be the one referenced: naming it missing would mislead
    label = data.get("label")
    if isinstance(label, str) and label not in types:
        problems.append(("label", f"{label!r} is not a declared column{did_you_mean(label, types)}"))
    share = data.get("label_min_class_share")
    if share is not None:
        if not isinstance(label, str):
            problems.append(("label_min_class_share", "needs a label"))
        elif label in types and types[label] is not None and types[label] not in CLASS_LABEL_TYPES:
            problems.append(
                (
                    "label_min_class_share",
                    f"needs a classification label (int, bool, string or category); {label!r} is {types[label]}",
                )
            )
    forbidden = _value(data.get("forbidden_columns"))
    for i, name in enumerate(forbidden if isinstance(forbidden, list) else []):
        if name in types:
            problems.append((f"forbidden_columns[{i}]", f"{name!r} is also a declared column"))
    distributions = data.get("distributions")
    for i, item in enumerate(distributions if isinstance(distributions, list) else []):
        if not isinstance(item, Mapping) or not isinstance(item.get("column"), str):
            continue
        name = item["column"]
        if name not in types:
            problems.append(
                (f"distributions[{i}].column", f"{name!r} is not a declared column{did_you_mean(name, types)}")
            )
        elif types[name] is not None and types[name] not in NUMERIC_TYPES:
            problems.append(
                (f"distributions[{i}].column", f"{name!r} is {types[name]}; distributions need int or float")
            )
    return problems


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, for a misspelt field or column name."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def contract_json_schema() -> dict[str, Any]:
    """The JSON Schema of a contract file, for editors and for other tools that write contracts."""
    schema = DataContract.model_json_schema(mode="validation")
    schema["description"] = (
        "A dataset's data contract. Every expectation is its bare value or {value, mostly, severity}; "
        "see functions/mlops/contracts/model.py for the YAML shape and a full example."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
