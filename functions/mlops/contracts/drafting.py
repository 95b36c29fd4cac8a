"""Drafting a contract from a sample, and writing any contract back as readable YAML.

A data team rarely writes a contract from nothing: a draft from a representative file, which they
then review and tighten, is the usual start. The draft is deliberately loose where a sample says
little (bounds rounded outward, a row-count floor of half the sample, a class-share floor of half the
rarest class) and always accepts the sample it came from.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any

import pandas as pd
import yaml

from mlops.contracts.coercion import as_arrow_strings, convert_strings
from mlops.contracts.loading import parse_contract
from mlops.contracts.model import CLASS_LABEL_TYPES, ColumnSpec, DataContract

MAX_ALLOWED_VALUES = 20
MAX_ALLOWED_SHARE = 0.05
MAX_LABEL_CLASSES = 20
_ID_NAME = re.compile(r"(?i:(^|[_\W])(id|key|uuid|guid)$)|[a-z](Id|ID)$")


def draft_contract(frame: pd.DataFrame, *, dataset: str, label: str | None = None) -> DataContract:
    """A first contract for ``frame``: types, nullability, bounds, allowed values, ids and table checks."""
    rows = len(frame)
    columns = [_draft_column(str(name), frame.iloc[:, i], rows) for i, name in enumerate(frame.columns)]
    data: dict[str, Any] = {
        "dataset": dataset,
        "version": 1,
        "description": f"Drafted from a sample of {rows:,} rows: review every bound before relying on it.",
        "label": label,
        "columns": columns,
        "extra_columns": "reject",
        "row_count": {"min": _row_floor(rows)},
        "duplicate_rows": "warn" if rows and bool(frame.duplicated().any()) else "reject",
    }
    if label is not None and label in frame.columns:
        column = next(c for c in columns if c["name"] == label)
        share = _class_share_floor(frame[label], column["type"])
        if share is not None:
            data["label_min_class_share"] = share
    return parse_contract(data, source=f"draft of {dataset}")


def _draft_column(name: str, series: pd.Series, rows: int) -> dict[str, Any]:
    kind, values = _infer(series)
    column: dict[str, Any] = {"name": name, "type": kind}
    nulls = int(series.isna().sum())
    if nulls:
        column["nullable"] = True
    present = values[values.notna()] if values is not None else series.dropna()
    distinct = int(present.nunique()) if len(present) else 0
    low_cardinality = 0 < distinct <= MAX_ALLOWED_VALUES and distinct < MAX_ALLOWED_SHARE * rows
    if kind in ("string", "category", "int") and low_cardinality:
        ordered = sorted(present.unique().tolist(), key=lambda v: (str(type(v)), v))
        column["allowed_values"] = [int(v) if kind == "int" else str(v) for v in ordered]
        if kind == "string":
            column["type"] = "category"
    elif kind in ("int", "float") and len(present):
        low, high = float(present.min()), float(present.max())
        if math.isfinite(low) and math.isfinite(high):
            column["min"], column["max"] = _round_outward(low, high, integer=kind == "int")
    all_distinct = kind in ("int", "string") and distinct == len(present) > 1
    if all_distinct and (_ID_NAME.search(name) or (kind == "string" and len(present) >= 20)):
        column["unique"] = True
    return column


def _infer(series: pd.Series) -> tuple[str, pd.Series | None]:
    """The declared type a column's values fit, and (for text holding numbers or times) the parsed values."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool", None
    if pd.api.types.is_integer_dtype(dtype):
        return "int", None
    if pd.api.types.is_float_dtype(dtype):
        return "float", None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime", None
    if isinstance(dtype, pd.CategoricalDtype):
        return "category", None
    if pd.api.types.is_object_dtype(dtype):
        present = series.dropna()
        # Arrow's CSV reader reads ISO dates (2024-01-31) as dates: pandas holds them as objects.
        if len(present) and all(isinstance(v, date) for v in present):
            return "datetime", pd.to_datetime(series)
    text = as_arrow_strings(series)
    if text is None or text.null_count == len(text):
        return "string", None
    for kind in ("int", "float", "bool", "datetime"):
        converted = convert_strings(text, kind)
        if converted.bad is None:
            parsed = pd.Series(converted.values.to_pandas(), index=series.index, copy=False)
            return kind, parsed
    return "string", None


def _round_outward(low: float, high: float, *, integer: bool) -> tuple[int | float, int | float]:
    """Bounds on a step of a tenth of the range's order of magnitude: 6.98..28.11 becomes 6..29."""
    span = high - low
    reference = span if span > 0 else max(abs(low), abs(high))
    if reference == 0:
        return (0, 0) if integer else (0.0, 0.0)
    exponent = math.floor(math.log10(reference)) - 1
    step = 10.0**exponent
    if integer:
        step = max(step, 1.0)
    # The tolerance keeps 4.3 / 0.1 = 42.99999… from rounding 4.3 down to 4.2.
    floor_value = math.floor(low / step + 1e-9) * step
    ceil_value = math.ceil(high / step - 1e-9) * step
    if integer:
        return int(floor_value), int(ceil_value)
    digits = max(0, -exponent)
    return round(floor_value, digits), round(ceil_value, digits)


def _row_floor(rows: int) -> int:
    """Half the sample, rounded down to two significant digits: a partial upload still fails."""
    half = rows // 2
    if half < 100:
        return max(half, 1) if rows else 0
    scale = int(10 ** (len(str(half)) - 2))
    return (half // scale) * scale


def _class_share_floor(series: pd.Series, kind: str) -> float | None:
    if kind not in CLASS_LABEL_TYPES:
        return None
    shares = series.value_counts(normalize=True, dropna=True)
    if shares.empty or len(shares) > MAX_LABEL_CLASSES:
        return None
    floor = float(shares.min()) / 2
    for digits in (2, 3, 4):
        value = math.floor(floor * 10**digits) / 10**digits
        if value > 0:
            return value
    return None


# -- YAML --------------------------------------------------------------------------------------------


class _Flow(dict[str, Any]):
    """A mapping written on one line: short expectations and distributions read better so."""


class _FlowList(list[Any]):
    """A list of scalars written on one line."""


class _Dumper(yaml.SafeDumper):
    """Block style for structure, flow style for the small things, keys in the model's order."""


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, data: _FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


# Line breaks YAML folds inside plain and single-quoted scalars (NEL, LS, PS): such strings are written
# double-quoted, where they are escaped (\N, \L, \P) and read back unchanged.
_FOLDED_BREAKS = frozenset("\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if _FOLDED_BREAKS.intersection(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_FlowList, _represent_flow_list)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return _FlowList(_plain(v) for v in value)
    if isinstance(value, datetime) and value.tzinfo is None and value.time() == time():
        return value.date()  # 2015-01-01 rather than 2015-01-01 00:00:00; it reads back the same
    return value


def _check(check: Any) -> Any:
    """The shorthand when the check has no tolerance and is an error, the mapping otherwise."""
    value = _plain(check.value)
    extra = {}
    if check.mostly != 1.0:
        extra["mostly"] = check.mostly
    if check.severity != "error":
        extra["severity"] = check.severity
    return _Flow({"value": value, **extra}) if extra else value


def _column(spec: ColumnSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "type": _check(spec.type)}
    if spec.required != ColumnSpec.model_fields["required"].default:
        out["required"] = _check(spec.required)
    if spec.nullable != ColumnSpec.model_fields["nullable"].default:
        out["nullable"] = _check(spec.nullable)
    for field in ("min", "max", "allowed_values", "regex", "unique"):
        check = getattr(spec, field)
        if check is not None:
            out[field] = _check(check)
    if spec.format is not None:
        out["format"] = spec.format
    return out


def render_contract_yaml(contract: DataContract) -> str:
    """The contract in the shape ``load_contract`` reads, defaults left out where they are obvious."""
    out: dict[str, Any] = {"dataset": contract.dataset, "version": contract.version}
    if contract.description:
        out["description"] = contract.description
    out["label"] = contract.label
    out["columns"] = [_column(spec) for spec in contract.columns]
    out["extra_columns"] = _check(contract.extra_columns)
    if contract.forbidden_columns.value or contract.forbidden_columns.severity != "error":
        out["forbidden_columns"] = _check(contract.forbidden_columns)
    if contract.row_count is not None:
        out["row_count"] = _Flow(contract.row_count.model_dump(exclude_defaults=True))
    out["duplicate_rows"] = _check(contract.duplicate_rows)
    if contract.label_min_class_share is not None:
        out["label_min_class_share"] = _check(contract.label_min_class_share)
    if contract.distributions:
        out["distributions"] = [
            _Flow(
                {"column": d.column, "statistic": d.statistic}
                | {k: v for k, v in (("q", d.q), ("min", d.min), ("max", d.max)) if v is not None}
                | ({"mostly": d.mostly} if d.mostly != 1.0 else {})
                | ({"severity": d.severity} if d.severity != "error" else {})
            )
            for d in contract.distributions
        ]
    out["policy"] = contract.policy.model_dump()
    header = f"# Data contract of dataset '{contract.dataset}', version {contract.version}.\n"
    body = yaml.dump(out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    return header + body
