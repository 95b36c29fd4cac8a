"""One column as the checks need it: parsed once into a typed view (numbers, datetimes, Arrow text
or category codes, with masks of null and unparseable cells), so every check on the column is a
numpy or Arrow kernel over the whole of it; and the column as validation parsed it, to be stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops.contracts.coercion import BoolMask, as_arrow_strings, parse_strings
from mlops.contracts.model import ColumnSpec


@dataclass
class ColumnView:
    """One column as the checks need it; ``valid`` marks cells that hold a value of the declared type."""

    raw: pd.Series
    null: BoolMask
    bad: BoolMask | None = None
    numbers: npt.NDArray[Any] | None = None  # int64, float64, bool or datetime64[us]
    text: pa.ChunkedArray | None = None
    text_is_raw: bool = False  # text holds the column's own strings (not a rendering of other values)
    codes: npt.NDArray[np.integer[Any]] | None = None  # categorical codes, -1 for null
    categories: pd.Index | None = None
    _valid: BoolMask | None = field(default=None, repr=False)

    @property
    def valid(self) -> BoolMask:
        if self._valid is None:
            self._valid = ~self.null if self.bad is None else ~(self.null | self.bad)
        return self._valid

    @property
    def valid_count(self) -> int:
        return int(np.count_nonzero(self.valid))


def parsed_column(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    """A column as its checks saw it: the values validation parsed, in a plain dtype, to be stored.

    An int, float, bool or datetime column comes back as int64 (nullable Int64 when some cell is
    missing, so an int past 2**53 keeps its value), float64, nullable boolean or datetime64[us]
    (UTC, NaT when missing). A cell that is null, or that did not parse as the declared type
    (allowed when the type check has `mostly` below 1), is missing. Other kinds, and columns
    already in such a dtype, are returned unchanged.
    """
    kind = spec.type.value
    dtype = series.dtype
    if kind not in ("int", "float", "bool", "datetime"):
        return series
    plain = isinstance(dtype, np.dtype) and (
        (kind == "int" and dtype.kind in "iu")
        or (kind == "float" and dtype.kind == "f")
        or (kind == "bool" and dtype.kind == "b")
        or (kind == "datetime" and dtype.kind == "M")
    )
    if plain:
        return series
    view = column_view(series, spec)
    missing = ~view.valid
    rows = len(series)
    if kind == "datetime":
        stamps = np.full(rows, np.datetime64("NaT"), dtype="datetime64[us]")
        if view.numbers is not None:
            stamps[~missing] = np.asarray(view.numbers, dtype="datetime64[us]")[~missing]
        return pd.Series(stamps, index=series.index, name=series.name, copy=False)
    if kind == "bool":
        flags = np.zeros(rows, dtype=np.bool_)
        if view.numbers is not None:
            flags[~missing] = np.asarray(view.numbers, dtype=np.bool_)[~missing]
        values = pd.arrays.BooleanArray(flags, missing.copy())
        return pd.Series(values, index=series.index, name=series.name, copy=False)
    if kind == "int" and view.numbers is not None and np.asarray(view.numbers).dtype.kind in "iu":
        ints = np.asarray(view.numbers, dtype=np.int64)
        if not missing.any():
            return pd.Series(ints, index=series.index, name=series.name, copy=False)
        # Nullable Int64, not float64: an int past 2**53 keeps its value (the npz copy stores float64 anyway).
        values = pd.arrays.IntegerArray(np.where(missing, 0, ints), missing.copy())
        return pd.Series(values, index=series.index, name=series.name, copy=False)
    numbers = np.full(rows, np.nan, dtype=np.float64)
    if view.numbers is not None:
        numbers[~missing] = np.asarray(view.numbers, dtype=np.float64)[~missing]
    return pd.Series(numbers, index=series.index, name=series.name, copy=False)


def column_view(series: pd.Series, spec: ColumnSpec) -> ColumnView:
    """The column parsed as its declared type, whatever dtype the reader or the caller gave it."""
    kind = spec.type.value
    if isinstance(series.dtype, pd.CategoricalDtype) and kind not in ("string", "category"):
        series = pd.Series(np.asarray(series), name=series.name, copy=False)  # the categories' own values
    if kind in ("int", "float"):
        return _numeric_view(series, kind)
    if kind == "bool":
        return _bool_view(series)
    if kind == "datetime":
        return _datetime_view(series, spec.format)
    return _text_view(series, kind)


def _nulls(series: pd.Series) -> BoolMask:
    return np.asarray(series.isna().to_numpy(), dtype=np.bool_)


def _from_text(series: pd.Series, kind: str, fmt: str | None = None) -> ColumnView | None:
    """A text column of a typed kind: convert vectorized, keeping which cells did not parse.

    Null tokens ("NA", "") count as null even in a frame that did not come from the reader.
    """
    text = as_arrow_strings(series)
    if text is None:
        return None
    parsed = parse_strings(text, kind, fmt)
    return ColumnView(raw=series, null=parsed.null, bad=parsed.bad, numbers=parsed.numbers)


def _all_bad(series: pd.Series) -> ColumnView:
    null = _nulls(series)
    return ColumnView(raw=series, null=null, bad=~null)


def _numeric_view(series: pd.Series, kind: str) -> ColumnView:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        values = series.to_numpy()
        return ColumnView(raw=series, null=np.zeros(len(series), dtype=np.bool_), numbers=values)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        null = np.isnan(values)
        bad = None
        if kind == "int":
            with np.errstate(invalid="ignore"):
                bad_mask = ~null & ~(np.isfinite(values) & (values == np.trunc(values)))
            bad = bad_mask if bad_mask.any() else None
        return ColumnView(raw=series, null=null, bad=bad, numbers=values)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        # Nullable extension arrays (Int64, Float64, boolean, Arrow numerics).
        null = _nulls(series)
        target = np.float64 if pd.api.types.is_float_dtype(dtype) else np.int64
        values = series.to_numpy(dtype=target, na_value=0)
        bad = None
        if kind == "int" and target is np.float64:
            with np.errstate(invalid="ignore"):
                bad_mask = ~null & ~(np.isfinite(values) & (values == np.trunc(values)))
            bad = bad_mask if bad_mask.any() else None
        return ColumnView(raw=series, null=null, bad=bad, numbers=values)
    view = _from_text(series, kind)
    if view is not None:
        return view
    if pd.api.types.is_object_dtype(dtype):
        # Mixed Python objects: the one path that converts in Python; readers never produce it.
        numbers = pd.to_numeric(series, errors="coerce")
        null = _nulls(series)
        bad = ~null & np.asarray(numbers.isna().to_numpy(), dtype=np.bool_)
        values = numbers.to_numpy(dtype=np.float64, na_value=0.0)
        return ColumnView(raw=series, null=null, bad=bad if bad.any() else None, numbers=values)
    return _all_bad(series)


def _bool_view(series: pd.Series) -> ColumnView:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        null = _nulls(series)
        values = series.to_numpy(dtype=np.bool_, na_value=False)
        return ColumnView(raw=series, null=null, numbers=values)
    if pd.api.types.is_numeric_dtype(dtype):
        null = _nulls(series)
        values = series.to_numpy(dtype=np.float64, na_value=0.0)
        bad_mask = ~null & (values != 0) & (values != 1)
        return ColumnView(raw=series, null=null, bad=bad_mask if bad_mask.any() else None, numbers=values == 1)
    view = _from_text(series, "bool")
    return view if view is not None else _all_bad(series)


def _datetime_view(series: pd.Series, fmt: str | None) -> ColumnView:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return ColumnView(raw=series, null=_nulls(series), numbers=utc.to_numpy(dtype="datetime64[us]"))
    if pd.api.types.is_datetime64_dtype(dtype):
        return ColumnView(raw=series, null=_nulls(series), numbers=series.to_numpy(dtype="datetime64[us]"))
    view = _from_text(series, "datetime", fmt)
    if view is not None:
        return view
    if pd.api.types.is_object_dtype(dtype):
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        null = _nulls(series)
        bad = ~null & np.asarray(parsed.isna().to_numpy(), dtype=np.bool_)
        numbers = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        return ColumnView(raw=series, null=null, bad=bad if bad.any() else None, numbers=numbers)
    return _all_bad(series)


def _text_view(series: pd.Series, kind: str) -> ColumnView:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes.to_numpy())
        return ColumnView(raw=series, null=codes < 0, codes=codes, categories=series.cat.categories)
    text = as_arrow_strings(series)
    if text is not None:
        null = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=np.bool_)
        return ColumnView(raw=series, null=null, text=text, text_is_raw=True)
    if kind == "category" or not pd.api.types.is_object_dtype(dtype):
        # A category of numbers is checked through its text; a string column of numbers is not text.
        if kind == "string":
            return _all_bad(series)
        null = _nulls(series)
        text = pa.chunked_array([pa.array(series.astype("str").to_numpy(), pa.string(), mask=null)])
        return ColumnView(raw=series, null=null, text=text)
    # Mixed Python objects: flag the cells that are not strings (a Python pass; readers never produce it).
    null = _nulls(series)
    is_text = np.fromiter((isinstance(v, str) for v in series.to_numpy()), dtype=np.bool_, count=len(series))
    bad = ~null & ~is_text
    text = pa.chunked_array([pa.array(np.where(is_text, series.to_numpy(), None), pa.string())])
    return ColumnView(raw=series, null=null, bad=bad if bad.any() else None, text=text)
