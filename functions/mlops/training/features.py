"""How dataset columns become the model's float32 feature matrix, recorded as data (`FeatureSpec`).

The ONNX model takes one float32 tensor; everything before it (imputing missing numbers, one-hot
encoding strings, turning dates into their parts) happens here, fitted on the training split and
stored with the model. Serving encodes requests with the same spec, and derives a date's parts with
the same function (`mlops.serving.date_parts.derive_parts`), so training and serving cannot disagree. Only
numpy and pydantic: the inference path may import this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mlops.datasets.versioning import column_mask
from mlops.serving.date_parts import DEFAULT_PARTS, derive_parts, has_times, iso_text, parse_iso, part_name

if TYPE_CHECKING:
    from mlops.training.config import DatetimeEncoding

# The ONNX model's tensor names (one float32 input; see onnx_export), shared with serving.
INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "prediction"
OTHER = "__other__"
NUMERIC_TYPES = ("int", "float", "bool")
CATEGORICAL_TYPES = ("string", "category")
DATETIME_TYPES = ("datetime",)


class NumericFeature(BaseModel):
    """A number (or bool as 0/1); missing values become `impute` (the training median, or mode for bool)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["numeric"] = "numeric"
    name: str
    source_type: Literal["int", "float", "bool"]
    impute: float


class CategoricalFeature(BaseModel):
    """One-hot over the training split's most frequent values; missing is all zeros, values outside
    `categories` go to the `__other__` column when there is one (otherwise all zeros too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["categorical"] = "categorical"
    name: str
    source_type: Literal["string", "category"]
    categories: list[str]
    other: bool = Field(description="whether rarer training values were folded into an '__other__' column")


class DatetimeFeature(BaseModel):
    """A date or date-time as the numbers `parts` derive (mlops.serving.date_parts); a missing date takes each
    part's training median, as a missing number does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["datetime"] = "datetime"
    name: str
    source_type: Literal["datetime"] = "datetime"
    parts: list[str] = Field(min_length=1)
    reference: str = Field(description="ISO date, the zero of days_since")
    impute: list[float] = Field(description="per part: the value used when the date is missing")
    earliest: str | None = Field(default=None, description="the training split's first value (ISO 8601, UTC)")
    latest: str | None = Field(default=None, description="the training split's last value (ISO 8601, UTC)")

    @property
    def encoded_names(self) -> list[str]:
        return [part_name(self.name, part) for part in self.parts]

    def numbers(self, values: NDArray[Any]) -> NDArray[np.float64]:
        """The parts of UTC instants (NaT: missing), imputed: what the model's columns hold."""
        return derive_parts(values, self.parts, self.reference, self.impute)


AnyFeature = NumericFeature | CategoricalFeature | DatetimeFeature
Feature = Annotated[AnyFeature, Field(discriminator="kind")]


class FeatureSpec(BaseModel):
    """The recipe from columns to the float32 matrix; part of the model's signature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_name: str = INPUT_NAME
    features: list[Feature]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def encoded_names(self) -> list[str]:
        names: list[str] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                names.append(f.name)
            elif isinstance(f, DatetimeFeature):
                names.extend(f.encoded_names)
            else:
                names.extend(f"{f.name}={c}" for c in f.categories)
                if f.other:
                    names.append(f"{f.name}={OTHER}")
        return names

    @property
    def n_features(self) -> int:
        return len(self.encoded_names)


def fit_datetime_feature(
    name: str, values: NDArray[Any], parts: Sequence[str] | None = None, reference_date: date | None = None
) -> DatetimeFeature:
    """Parts and reference date as configured, else from the training values; per-part medians."""
    stamps = np.asarray(values).astype("datetime64[us]")
    present = stamps[~np.isnat(stamps)]
    if parts is None:
        parts = [*DEFAULT_PARTS[:-1], "hour", DEFAULT_PARTS[-1]] if has_times(present) else list(DEFAULT_PARTS)
    if reference_date is not None:
        reference = reference_date.isoformat()
    else:
        reference = str(present.min().astype("datetime64[D]")) if present.size else "1970-01-01"
    derived = derive_parts(present, parts, reference)
    impute = [float(np.float32(np.median(derived[:, j]))) if present.size else 0.0 for j in range(len(parts))]
    return DatetimeFeature(
        name=name,
        parts=list(parts),
        reference=reference,
        impute=impute,
        earliest=iso_text(present.min()) if present.size else None,
        latest=iso_text(present.max()) if present.size else None,
    )


def fit_feature_spec(
    arrays: Mapping[str, NDArray[Any]],
    types: Mapping[str, str],
    names: Sequence[str],
    rows: NDArray[np.int64],
    max_categories: int,
    datetime_encoding: Callable[[str], DatetimeEncoding] | None = None,
) -> FeatureSpec:
    """Learn imputation values, category lists and date references from the training rows only (no
    leakage); `datetime_encoding` gives each datetime column's configured parts and reference."""
    features: list[AnyFeature] = []
    for name in names:
        kind = types[name]
        values = arrays[name][rows]
        missing = column_mask(arrays, name)[rows]
        present = values[~missing]
        if kind in DATETIME_TYPES:
            encoding = datetime_encoding(name) if datetime_encoding is not None else None
            parts, reference = (encoding.parts, encoding.reference) if encoding is not None else (None, None)
            features.append(fit_datetime_feature(name, present, parts, reference))
        elif kind in NUMERIC_TYPES:
            numbers = present.astype(np.float64)
            if kind == "bool":
                impute = float(numbers.mean() >= 0.5) if numbers.size else 0.0
            else:
                impute = float(np.float32(np.median(numbers))) if numbers.size else 0.0
            features.append(NumericFeature(name=name, source_type=kind, impute=impute))  # type: ignore[arg-type]
        else:
            uniques, counts = np.unique(present.astype(str), return_counts=True)
            order = sorted(range(len(uniques)), key=lambda i: (-int(counts[i]), str(uniques[i])))
            kept = sorted(str(uniques[i]) for i in order[:max_categories])
            features.append(
                CategoricalFeature(
                    name=name,
                    source_type=kind,  # type: ignore[arg-type]
                    categories=kept,
                    other=len(uniques) > max_categories,
                )
            )
    return FeatureSpec(features=features)


def _one_hot(
    out: NDArray[np.float32], col: int, spec: CategoricalFeature, values: NDArray[Any], missing: NDArray[np.bool_]
) -> None:
    """Set the one-hot columns in place; `spec.categories` is sorted, so a binary search finds each value."""
    width = len(spec.categories)
    present = ~missing
    if width:
        categories = np.array(spec.categories, dtype=str)
        text = values.astype(str)
        position = np.searchsorted(categories, text)
        clipped = np.minimum(position, width - 1)
        known = present & (position < width) & (categories[clipped] == text)
    else:
        clipped = np.zeros(values.shape[0], dtype=np.intp)
        known = np.zeros(values.shape[0], dtype=bool)
    rows = np.flatnonzero(known)
    out[rows, col + clipped[rows]] = 1.0
    if spec.other:
        out[np.flatnonzero(present & ~known), col + width] = 1.0


def encode_arrays(
    arrays: Mapping[str, NDArray[Any]], spec: FeatureSpec, rows: NDArray[np.int64] | None = None
) -> NDArray[np.float32]:
    """The float32 matrix for stored columns (a dataset version's arrays)."""
    n = int(next(iter(arrays.values())).shape[0]) if rows is None else len(rows)
    out = np.zeros((n, spec.n_features), dtype=np.float32)
    col = 0
    for f in spec.features:
        values = arrays[f.name] if rows is None else arrays[f.name][rows]
        missing = column_mask(arrays, f.name) if rows is None else column_mask(arrays, f.name)[rows]
        if isinstance(f, NumericFeature):
            numbers = values.astype(np.float64)
            numbers[missing] = f.impute
            out[:, col] = numbers.astype(np.float32)
            col += 1
        elif isinstance(f, DatetimeFeature):
            stamps = np.where(missing, np.datetime64("NaT"), values.astype("datetime64[us]"))
            out[:, col : col + len(f.parts)] = f.numbers(stamps).astype(np.float32)
            col += len(f.parts)
        else:
            _one_hot(out, col, f, values, missing)
            col += len(f.categories) + int(f.other)
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return float(lowered == "true")
        try:
            return float(lowered)
        except ValueError:
            pass
    raise ValueError(f"feature {name!r}: expected a number, got {value!r}")


def _moment(value: Any, name: str) -> np.datetime64:
    moment = parse_iso(value) if isinstance(value, str) else None
    if moment is None:
        raise ValueError(f"feature {name!r}: expected an ISO 8601 date or date-time, got {value!r}")
    return moment


def encode_records(records: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> NDArray[np.float32]:
    """The float32 matrix for JSON records (a prediction request); absent keys count as missing."""
    out = np.zeros((len(records), spec.n_features), dtype=np.float32)
    col = 0
    for f in spec.features:
        raw = [r.get(f.name) for r in records]
        missing = np.array([_is_missing(v) for v in raw], dtype=bool)
        if isinstance(f, NumericFeature):
            out[:, col] = np.array(
                [f.impute if absent else _number(v, f.name) for v, absent in zip(raw, missing.tolist(), strict=True)],
                dtype=np.float64,
            ).astype(np.float32)
            col += 1
        elif isinstance(f, DatetimeFeature):
            stamps = np.array(
                [
                    np.datetime64("NaT") if absent else _moment(v, f.name)
                    for v, absent in zip(raw, missing.tolist(), strict=True)
                ],
                dtype="datetime64[us]",
            )
            out[:, col : col + len(f.parts)] = f.numbers(stamps).astype(np.float32)
            col += len(f.parts)
        else:
            values = np.array(["" if absent else str(v) for v, absent in zip(raw, missing.tolist(), strict=True)])
            _one_hot(out, col, f, values, missing)
            col += len(f.categories) + int(f.other)
    return out
