"""Repeated values and repeated rows: the codes behind a column's `unique` check, and the row hash
behind the table's `duplicate_rows` check.

Neither holds several column-sized temporaries: text is hashed a slice at a time, and strings are
encoded a part at a time (split by length and last bytes), so a hash table is a part's size.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops.contracts.coercion import SLICE_ROWS, BoolMask
from mlops.contracts.column_view import ColumnView

_PART_ROWS = 1 << 16  # rows per part when a text column's uniqueness is checked in parts
_MAX_PARTS = 64

HashPart: TypeAlias = npt.NDArray[np.uint64] | pd.Series  # a column's share of the row hash, or text to fold in later


def value_codes(view: ColumnView) -> tuple[npt.NDArray[np.intp], BoolMask]:
    """Codes of equal values (-1 for null or unparseable cells) and the rows that repeat an earlier one.

    When every cell parsed (``view.bad is None``) the row hash can reuse the codes. Strings are
    compared as strings, other values as pandas compares them (0.0 equals -0.0, whose texts differ).
    """
    if view.text is not None and view.text_is_raw and view.bad is None:
        return _text_codes(view.text)
    codes = np.asarray(pd.factorize(view.raw, use_na_sentinel=True)[0], dtype=np.intp)
    if view.bad is None:
        return codes, _repeats(codes)
    # Every cell of an unparseable value is unparseable, so dropping them keeps first-appearance order.
    codes = np.where(view.bad, -1, codes)
    return codes, _repeats(codes)


def _text_codes(text: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], BoolMask]:
    """Codes of equal strings (0 to distinct - 1, -1 for null) and the rows that repeat an earlier one.

    One hash table over a million distinct strings (``pd.factorize``, Arrow's ``dictionary_encode``)
    peaks at 70 to 90 MB. Equal strings have the same length and the same last characters, so rows
    are split into parts by those, and each part is encoded on its own: the tables are a part's size.
    Within a part the rows keep their order, so "repeats an earlier row" is decided there exactly.
    """
    rows = len(text)
    parts = min(_MAX_PARTS, -(-rows // _PART_ROWS))
    key = _part_keys(text, parts) if parts > 1 else None
    if key is None:
        return _encoded_codes(text)
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=parts))))
    del key
    codes = np.empty(rows, dtype=np.intp)
    repeated = np.empty(rows, dtype=np.bool_)
    distinct = 0
    for part in range(parts):
        positions = order[bounds[part] : bounds[part + 1]]
        if positions.size == 0:
            continue
        part_codes, part_repeated = _encoded_codes(text.take(positions))
        codes[positions] = np.where(part_codes >= 0, part_codes + distinct, -1)
        repeated[positions] = part_repeated
        distinct += int(part_codes.max(initial=-1)) + 1
    return codes, repeated


def _part_keys(text: pa.ChunkedArray, parts: int) -> npt.NDArray[np.uint8] | None:
    """A part for each row from its string's length and last three bytes (read from the Arrow buffers,
    a slice at a time); None when that does not split the rows (most would land in one part)."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    key = np.empty(len(text), dtype=np.uint8)
    start = 0
    for chunk in text.chunks:
        size = len(chunk)
        if size == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[chunk.offset : chunk.offset + size + 1]
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
        data = data if data.size else np.zeros(1, dtype=np.uint8)
        for low in range(0, size, SLICE_ROWS):
            high = min(low + SLICE_ROWS, size)
            ends = offsets[low + 1 : high + 1].astype(np.int64)
            lengths = ends - offsets[low:high].astype(np.int64)
            mixed = lengths.copy()
            for back in (1, 2, 3):  # only the string's own bytes: a shorter one reads no neighbour's
                byte = data[np.clip(ends - back, 0, data.size - 1)]
                mixed = mixed * 31 + np.where(lengths >= back, byte, 0)
            key[start + low : start + high] = mixed % parts
        start += size
    if np.bincount(key, minlength=parts).max() > len(key) // 2:
        return None
    return key


def _encoded_codes(text: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], BoolMask]:
    """Codes by first appearance (-1 for null) of Arrow strings, and the rows that repeat an earlier one.

    The chunks of an encoded chunked array share one dictionary, so their indices are the codes.
    """
    codes = np.empty(len(text), dtype=np.intp)
    start = 0
    for chunk in pc.dictionary_encode(text).chunks:
        codes[start : start + len(chunk)] = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
        start += len(chunk)
    return codes, _repeats(codes)


def _repeats(codes: npt.NDArray[np.integer[Any]]) -> BoolMask:
    """Rows whose value appeared before: factorize numbers values by first appearance, so a row repeats
    exactly when its code is not above every code before it."""
    if codes.size == 0:
        return np.zeros(0, dtype=np.bool_)
    running = np.maximum.accumulate(codes)
    previous = np.empty_like(running)
    previous[0] = -1
    previous[1:] = running[:-1]
    return (codes >= 0) & (codes <= previous)


class RowHasher:
    """A 64-bit hash per row, folded column by column, to find duplicate rows without comparing rows.

    Typed columns are hashed from their parsed values (so "1.0" and "1" are the same value). Text is
    costly to hash, so it is folded in last and only for the rows that the other columns leave tied:
    with one numeric or time column that varies, that is few rows or none. With 64 bits, a false
    duplicate among a million rows has a probability of about 3e-8.
    """

    _NULL = np.uint64(0x9E3779B97F4A7C15)
    _BAD = np.uint64(0xC2B2AE3D27D4EB4F)

    def __init__(self, rows: int) -> None:
        self.hash = np.full(rows, 0x345678, dtype=np.uint64)
        self.multiplier = 1000003
        self.deferred: list[pd.Series] = []

    @staticmethod
    def series_part(series: pd.Series) -> HashPart:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return _hash_codes(np.asarray(series.cat.codes.to_numpy()))
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iufbM":
            values = series.to_numpy()
            return _hash_values(values)
        return series

    @staticmethod
    def view_part(view: ColumnView, codes: npt.NDArray[np.intp] | None) -> HashPart:
        if view.codes is not None:
            return _hash_codes(view.codes)
        if codes is not None:  # already computed for a uniqueness check: as cheap as a number
            return _hash_codes(codes)
        if view.numbers is None:
            return view.raw
        column = _hash_values(view.numbers)
        column[view.null] = RowHasher._NULL
        if view.bad is not None:
            bad_codes, _ = pd.factorize(view.raw[view.bad], use_na_sentinel=True)
            column[view.bad] = _hash_codes(bad_codes) ^ RowHasher._BAD
        return column

    def add(self, part: HashPart) -> None:
        if isinstance(part, pd.Series):
            self.deferred.append(part)
        else:
            self._fold(self.hash, part)

    def _fold(self, target: npt.NDArray[np.uint64], column: npt.NDArray[np.uint64]) -> None:
        with np.errstate(over="ignore"):
            target ^= column
            target *= np.uint64(self.multiplier)
        self.multiplier = (self.multiplier * 3 + 82520) % (1 << 63)

    def repeated(self) -> BoolMask:
        """Rows equal to an earlier row. Only rows tied on the cheap columns get their text hashed."""
        found = _sorted_repeats(self.hash)
        if found is None:
            return np.zeros(self.hash.size, dtype=np.bool_)
        repeated, tied = found
        if not self.deferred:
            return repeated
        del repeated
        rows = np.flatnonzero(tied)
        del tied
        subset = self.hash[rows]
        for series in self.deferred:
            text_codes, _ = pd.factorize(series.iloc[rows], use_na_sentinel=True)
            self._fold(subset, _hash_codes(text_codes))
        self.hash[rows] = subset
        self.deferred = []
        mask = np.zeros(self.hash.size, dtype=np.bool_)
        found = _sorted_repeats(subset)
        if found is not None:
            mask[rows] = found[0]  # rows are in file order, so "earlier" is kept
        return mask


def _sorted_repeats(values: npt.NDArray[Any]) -> tuple[BoolMask, BoolMask] | None:
    """Rows equal to an earlier row, and rows equal to any other; None when all values differ.

    A stable sort puts equal values side by side in row order, so every one after the first of a run
    repeats an earlier row. It needs two arrays of the values' size where a hash table of a million
    64-bit hashes (``pd.factorize``) peaks at about 60 MB, and takes about as long.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    same = ordered[1:] == ordered[:-1]
    del ordered
    if not same.any():
        return None
    repeated = np.zeros(values.size, dtype=np.bool_)
    repeated[order[1:][same]] = True
    tied = repeated.copy()
    tied[order[:-1][same]] = True
    return repeated, tied


def _hash_values(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """``pd.util.hash_array`` (an elementwise hash) a slice at a time, so its temporaries stay small."""
    data = values.view(np.int64) if values.dtype.kind == "M" else values
    out = np.empty(data.size, dtype=np.uint64)
    for start in range(0, data.size, SLICE_ROWS):
        out[start : start + SLICE_ROWS] = pd.util.hash_array(data[start : start + SLICE_ROWS])
    return out


def _hash_codes(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint64]:
    out = np.empty(codes.size, dtype=np.uint64)
    for start in range(0, codes.size, SLICE_ROWS):
        out[start : start + SLICE_ROWS] = pd.util.hash_array(np.asarray(codes[start : start + SLICE_ROWS], np.int64))
    return out
