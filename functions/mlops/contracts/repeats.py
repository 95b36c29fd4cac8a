"""Repeated values and rows across the parts of a partitioned version: the second pass of its
validation, hash-partitioned so no step holds every row.

Each part hashes, per row, the whole row (for `duplicate_rows`) and each `unique` column's valid
value, and splits the (hash, global row) pairs into N buckets by hash (`split_buckets`). Equal
values have equal hashes, so all the copies of a value land in one bucket, and each bucket finds
its repeats alone (`find_repeats`): rows whose hash an earlier row has, the distinct hashes, the
first repeated rows. The reduce adds the buckets up (`Repeats.merge`).

The hashes are of values, not of a part's dtypes: a part read with an int column as int64 and one
read with it as Int64 or float64 (a missing cell) give its values the same hashes. They are 64-bit,
as the single-file check's: a false repeat among a million rows has a probability of about 3e-8.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from mlops.contracts.coercion import as_arrow_strings
from mlops.contracts.column_view import ColumnView
from mlops.contracts.report import MAX_EXAMPLES

ROWS_KEY = "__rows__"  # the bucket key of whole-row hashes; other keys are `unique` columns
NULL_HASH = np.uint64(0x9E3779B97F4A7C15)
_BAD = np.uint64(0xC2B2AE3D27D4EB4F)
_NAN_BITS = np.array(np.nan, dtype=np.float64).view(np.int64)


@dataclass(frozen=True)
class HashedRows:
    """Hashes and their 0-based global rows, in row order."""

    hashes: npt.NDArray[np.uint64]
    rows: npt.NDArray[np.int64]


@dataclass(frozen=True)
class BucketShare:
    """One part's share of one bucket: per key (`ROWS_KEY` or a unique column) its hashed rows."""

    bucket: int
    part: int
    keys: dict[str, HashedRows]

    def to_bytes(self) -> bytes:
        """An `.npz` (no pickle) a Map child writes for the bucket's reducer."""
        arrays: dict[str, npt.NDArray[Any]] = {"meta": np.array([self.bucket, self.part], dtype=np.int64)}
        names = list(self.keys)
        arrays["names"] = np.array(names, dtype=str)
        for position, name in enumerate(names):
            arrays[f"h{position}"] = self.keys[name].hashes
            arrays[f"r{position}"] = self.keys[name].rows
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> BucketShare:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            bucket, part = (int(v) for v in archive["meta"])
            keys = {
                str(name): HashedRows(archive[f"h{position}"], archive[f"r{position}"])
                for position, name in enumerate(archive["names"].tolist())
            }
        return cls(bucket=bucket, part=part, keys=keys)


class Repeats(BaseModel):
    """Repeats of one key in one bucket (or merged): `firsts` pairs a repeated row with the first row
    it equals (1-based), the earliest repeated rows first, at most `MAX_EXAMPLES`."""

    model_config = ConfigDict(extra="forbid")

    repeated: int = 0
    distinct: int = 0
    firsts: list[tuple[int, int]] = Field(default_factory=list)

    def merge(self, other: Repeats) -> Repeats:
        firsts = sorted(self.firsts + other.firsts)[:MAX_EXAMPLES]
        return Repeats(repeated=self.repeated + other.repeated, distinct=self.distinct + other.distinct, firsts=firsts)


class BucketRepeats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: int
    keys: dict[str, Repeats]


def split_buckets(keys: dict[str, HashedRows], part: int, buckets: int) -> list[BucketShare]:
    """Each key's hashed rows split by bucket (hash modulo the bucket count), keeping row order."""
    split: list[dict[str, HashedRows]] = [{} for _ in range(buckets)]
    for name, hashed in keys.items():
        # Bucket numbers as small as they fit: numpy's stable sort of 8- and 16-bit ints is a radix sort.
        bucket_of = (hashed.hashes % np.uint64(buckets)).astype(np.min_scalar_type(max(buckets - 1, 0)))
        order = np.argsort(bucket_of, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(bucket_of, minlength=buckets))))
        for bucket in range(buckets):
            chosen = order[bounds[bucket] : bounds[bucket + 1]]
            split[bucket][name] = HashedRows(hashed.hashes[chosen], hashed.rows[chosen])
    return [BucketShare(bucket=b, part=part, keys=split[b]) for b in range(buckets)]


# -- value hashes: equal values give equal hashes in any part, whatever dtype the part gave them ------


def _number_hashes(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """Integers (and floats holding one, as an int column with a missing cell is read) by their
    int64 value, other floats by their bits (-0.0 as 0.0), datetimes by their ticks."""
    if values.dtype.kind == "M":
        return _hashed(np.asarray(values, dtype="datetime64[us]").view(np.int64))
    if values.dtype.kind in "iub":
        return _hashed(np.asarray(values, dtype=np.int64))
    floats = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        whole = (floats == np.trunc(floats)) & (np.abs(floats) < 2.0**63)  # inf and nan are not
        # One hash of one int64 key each, which is what `_hashed` of a float's bits or of an int
        # would give it (pandas hashes either's 64 bits the same way, NaN's bits made one pattern).
        keys = np.where(whole, floats.astype(np.int64), floats.view(np.int64))
    keys[np.isnan(floats)] = _NAN_BITS
    return _hashed(keys)


def _hashed(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """pandas' elementwise 64-bit hash (text factorized first, so a repeated string is hashed once)."""
    return np.asarray(pd.util.hash_array(values, categorize=True), dtype=np.uint64)


def _text_hashes(values: pd.Series | pd.Index, null: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
    """Each cell's text hashed, `NULL_HASH` where `null`; Arrow strings through their dictionary."""
    text = as_arrow_strings(pd.Series(values, copy=False) if isinstance(values, pd.Index) else values)
    hashes = _arrow_text_hashes(text, null) if text is not None else None
    if hashes is None:
        cells = np.asarray(values.astype(object), dtype=object).copy()
        cells[null] = ""
        hashes = _hashed(cells)
    hashes[null] = NULL_HASH
    return hashes


def _arrow_text_hashes(text: pa.ChunkedArray, null: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64] | None:
    """The hashes `_hashed` gives these strings, each distinct string hashed once: Arrow's dictionary
    encoding stands in for pandas' factorize of Python strings (4 times faster on a column of ids).
    None when a null cell lies outside `null`: the caller says what a null is."""
    encoded = pc.dictionary_encode(text)
    if len(text) == 0 or encoded.num_chunks == 0:
        return np.zeros(len(text), dtype=np.uint64)
    # The chunks of an encoded chunked array share one dictionary, so their indices index it.
    words = np.asarray(encoded.chunk(0).dictionary.to_numpy(zero_copy_only=False), dtype=object)
    by_word = np.append(np.asarray(pd.util.hash_array(words, categorize=False), dtype=np.uint64), NULL_HASH)
    indices = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False) for c in encoded.chunks])
    if text.null_count and not null[indices < 0].all():
        return None
    return np.asarray(by_word[indices], dtype=np.uint64)


def view_hashes(view: ColumnView) -> npt.NDArray[np.uint64]:
    """A declared column's share of the row hash: parsed values, unparseable cells by their text."""
    if view.codes is not None and view.categories is not None:
        by_code = _text_hashes(view.categories, np.zeros(len(view.categories), dtype=np.bool_))
        return np.where(view.null, NULL_HASH, np.append(by_code, NULL_HASH)[view.codes])
    if view.numbers is None:
        return _text_hashes(view.raw, view.null)
    hashes = _number_hashes(view.numbers)
    hashes[view.null] = NULL_HASH
    if view.bad is not None:
        hashes[view.bad] = _text_hashes(view.raw[view.bad], np.zeros(int(view.bad.sum()), np.bool_)) ^ _BAD
    return hashes


def unique_hashes(view: ColumnView, of_view: npt.NDArray[np.uint64] | None = None) -> npt.NDArray[np.uint64]:
    """Hashes of the values a `unique` check compares: the cells as read (text as text).

    `of_view`, the column's `view_hashes` when the part has them already, is the answer on every
    valid cell unless the column was parsed from text (then "01" and "1" differ here, not there).
    """
    raw = view.raw
    numeric = pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype)
    if view.numbers is not None and (numeric or pd.api.types.is_datetime64_any_dtype(raw.dtype)):
        return of_view if of_view is not None else _number_hashes(view.numbers)
    if view.numbers is None and of_view is not None:
        return of_view
    return _text_hashes(raw, view.null)


def series_hashes(series: pd.Series) -> npt.NDArray[np.uint64]:
    """An undeclared column's share of the row hash: numbers and datetimes by value, others as text."""
    null = np.asarray(series.isna().to_numpy(), dtype=np.bool_)
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iufbM":
        hashes = _number_hashes(series.to_numpy())
        hashes[null] = NULL_HASH
        return hashes
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        hashes = _number_hashes(series.to_numpy(dtype=np.float64, na_value=np.nan))
        hashes[null] = NULL_HASH
        return hashes
    return _text_hashes(series, null)


# -- step 2: a bucket -------------------------------------------------------------------------------


def find_repeats(bucket: int, shares: Sequence[BucketShare]) -> BucketRepeats:
    """Within one bucket, per key: rows whose hash an earlier row has, and the distinct hashes."""
    found: dict[str, Repeats] = {}
    names = sorted({name for share in shares for name in share.keys})
    for name in names:
        pieces = [share.keys[name] for share in shares if name in share.keys]
        hashes = np.concatenate([p.hashes for p in pieces])
        rows = np.concatenate([p.rows for p in pieces])
        if hashes.size == 0:
            found[name] = Repeats()
            continue
        order = np.lexsort((rows, hashes))
        hashes, rows = hashes[order], rows[order]
        starts = np.concatenate(([True], hashes[1:] != hashes[:-1]))
        first_of_run = rows[np.flatnonzero(starts)][np.cumsum(starts) - 1]
        repeated = ~starts
        picked = np.argsort(rows[repeated], kind="stable")[:MAX_EXAMPLES]
        firsts = [
            (int(r) + 1, int(f) + 1)
            for r, f in zip(rows[repeated][picked], first_of_run[repeated][picked], strict=True)
        ]
        found[name] = Repeats(
            repeated=int(np.count_nonzero(repeated)), distinct=int(np.count_nonzero(starts)), firsts=firsts
        )
    return BucketRepeats(bucket=bucket, keys=found)
