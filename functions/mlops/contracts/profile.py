"""What each column of an upload holds, for the readable report page: its type, nulls, unparseable
cells, range, distinct values and a bounded sample its histogram is drawn from.

Built from the typed view the checks already parsed (`column_view`), so nothing is read or parsed
twice. Exact: rows, nulls, unparseable cells, min and max (they merge across a partitioned
version's parts by sums and extremes). Bounded: the histogram and the most frequent values come
from at most `SAMPLE_SIZE` valid values taken at evenly spaced rows (all of them in a smaller
column): one index pass over the valid mask and `SAMPLE_SIZE` values copied, whatever the file's
size. A partitioned version's parts each keep `PART_SAMPLE_SIZE` values (measured: about 5 KB
of a part record a numeric column, where its HyperLogLog sketch takes about 95 KB); the merge keeps
`SAMPLE_SIZE` of their union, from each part in proportion to its valid values.

Distinct counts of text: exact in a single file of up to `EXACT_DISTINCT_ROWS` rows (one Arrow hash
pass, about 10 ms a 200,000 rows), the parts' HyperLogLog estimates (0.81 %) for a partitioned
version; past that in a single file, the page counts the distinct values of the sample only, and
says so.

Cost, measured on 1M rows (this 2-core machine): a float or int column without nulls about 1 ms
(its min and max, 1,000 values picked); with nulls, one index pass more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from mlops.contracts.column_view import ColumnView

SAMPLE_SIZE = 1000
PART_SAMPLE_SIZE = 250
EXACT_DISTINCT_ROWS = 200_000  # text columns up to this long get an exact distinct count (a hash pass)
TEXT_CHARACTERS = 80  # a sampled text value is cut to this many characters

Scale = Literal["number", "datetime", "text"]


class ColumnProfile(BaseModel):
    """One column as the page shows it; `sample` holds numbers (datetimes as epoch seconds) or text."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str  # the contract's type, or "undeclared"
    scale: Scale
    rows: int
    nulls: int
    unparseable: int = 0
    minimum: float | None = None  # numbers and datetimes (epoch seconds)
    maximum: float | None = None
    distinct: int | None = None
    distinct_estimated: bool = False
    sample: list[float] | list[str]
    sampled_from: int  # the valid values the sample was taken from

    @property
    def valid(self) -> int:
        return self.rows - self.nulls - self.unparseable

    @property
    def sampled(self) -> bool:
        """Whether the histogram stands for more values than it was drawn from."""
        return len(self.sample) < self.sampled_from


def _spaced(count: int, size: int = SAMPLE_SIZE) -> np.ndarray:
    """`size` evenly spaced positions out of `count` (all of them when there are fewer)."""
    if count <= size:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, size)).astype(np.int64))


def _texts(values: Sequence[object]) -> list[str]:
    return [str(v)[:TEXT_CHARACTERS] for v in values]


def profile_view(name: str, kind: str, view: ColumnView, sample_size: int = SAMPLE_SIZE) -> ColumnProfile:
    """A declared column's profile from the view its checks used."""
    rows = len(view.null)
    nulls = int(np.count_nonzero(view.null))
    unparseable = int(np.count_nonzero(view.bad)) if view.bad is not None else 0
    every = nulls == 0 and unparseable == 0
    # Every cell valid (the usual case): the sample's rows are evenly spaced positions, no index pass.
    if every:
        count, picked = rows, _spaced(rows, sample_size)
    else:
        positions = np.flatnonzero(view.valid)
        count, picked = int(positions.size), positions[_spaced(positions.size, sample_size)]
    numbers = view.numbers
    if numbers is not None and numbers.dtype.kind in "iufM":
        scale: Scale = "datetime" if numbers.dtype.kind == "M" else "number"
        low, high = _extremes(numbers, None if every else view.valid, count)
        chosen = _as_floats(numbers[picked])
        return ColumnProfile(
            name=name,
            type=kind,
            scale=scale,
            rows=rows,
            nulls=nulls,
            unparseable=unparseable,
            minimum=low,
            maximum=high,
            sample=chosen[np.isfinite(chosen)].tolist(),
            sampled_from=count,
        )
    if numbers is not None:  # booleans
        sample: list[str] = ["true" if v else "false" for v in numbers[picked].tolist()]
    else:
        sample = _texts(view.raw.iloc[picked].tolist())
    distinct = None
    if view.codes is not None:
        distinct = int(np.count_nonzero(np.bincount(view.codes[view.codes >= 0], minlength=1)))
    elif view.text is not None and rows <= EXACT_DISTINCT_ROWS:
        distinct = int(pc.count_distinct(view.text).as_py())
    return ColumnProfile(
        name=name,
        type=kind,
        scale="text",
        rows=rows,
        nulls=nulls,
        unparseable=unparseable,
        distinct=distinct,
        sample=sample,
        sampled_from=count,
    )


def _as_floats(values: np.ndarray) -> np.ndarray:
    """Numbers as float64; datetimes as epoch seconds."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[us]").astype(np.int64) / 1e6
    return values.astype(np.float64)


def _extremes(numbers: np.ndarray, valid: np.ndarray | None, count: int) -> tuple[float | None, float | None]:
    """The valid values' min and max, without copying them (`valid` None: every value is valid)."""
    if count == 0:
        return None, None
    values = numbers.astype("datetime64[us]").view(np.int64) if numbers.dtype.kind == "M" else numbers
    if valid is None:
        low, high = np.min(values), np.max(values)
    else:
        low = np.min(values, where=valid, initial=np.inf if values.dtype.kind == "f" else np.iinfo(np.int64).max)
        high = np.max(values, where=valid, initial=-np.inf if values.dtype.kind == "f" else np.iinfo(np.int64).min)
    if numbers.dtype.kind == "M":
        return float(low) / 1e6, float(high) / 1e6
    return float(low), float(high)


def profile_undeclared(name: str, series: pd.Series, sample_size: int = SAMPLE_SIZE) -> ColumnProfile:
    """A column the contract does not declare: its cells as read, shown as text."""
    null = np.asarray(series.isna().to_numpy(), dtype=np.bool_)
    positions = np.flatnonzero(~null)
    picked = positions[_spaced(positions.size, sample_size)]
    return ColumnProfile(
        name=name,
        type="undeclared",
        scale="text",
        rows=len(series),
        nulls=int(np.count_nonzero(null)),
        sample=_texts(series.iloc[picked].tolist()),
        sampled_from=int(positions.size),
    )


def merge_profiles(parts: Sequence[ColumnProfile]) -> ColumnProfile:
    """One column's profile over all parts: counts summed, extremes kept, samples thinned to
    `SAMPLE_SIZE` with each part's share in proportion to its valid values."""
    first = parts[0]
    total = sum(p.sampled_from for p in parts)
    sample: list[float | str] = []
    for part in parts:
        want = len(part.sample) if total <= SAMPLE_SIZE else round(SAMPLE_SIZE * part.sampled_from / total)
        sample += [part.sample[i] for i in _spaced(len(part.sample), want)]
    minima = [p.minimum for p in parts if p.minimum is not None]
    maxima = [p.maximum for p in parts if p.maximum is not None]
    return ColumnProfile(
        name=first.name,
        type=first.type,
        scale=first.scale,
        rows=sum(p.rows for p in parts),
        nulls=sum(p.nulls for p in parts),
        unparseable=sum(p.unparseable for p in parts),
        minimum=min(minima) if minima else None,
        maximum=max(maxima) if maxima else None,
        sample=sample,  # type: ignore[arg-type]
        sampled_from=total,
    )
