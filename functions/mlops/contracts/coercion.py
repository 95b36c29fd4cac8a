"""Vectorized text-to-type conversion that keeps the cells it cannot convert instead of failing.

A CSV cell that does not parse as its declared type is a finding, not a crash: each converter returns
the typed values (null where the text was null or unparseable) and a mask of the unparseable cells.
Everything runs in Arrow compute kernels (RE2 regexes, casts), never a Python loop per cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops.serving.date_parts import DATE_TIME_PATTERN

BoolMask = npt.NDArray[np.bool_]

NULL_TOKENS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "None"]
TRUE_TOKENS = ["true", "t", "yes", "y", "1"]
FALSE_TOKENS = ["false", "f", "no", "n", "0"]
CSV_TRUE_VALUES = sorted({v for t in TRUE_TOKENS for v in (t, t.upper(), t.capitalize())})
CSV_FALSE_VALUES = sorted({v for t in FALSE_TOKENS for v in (t, t.upper(), t.capitalize())})

# At most 18 digits always fits int64; "7.0" is accepted as the integer a float export makes of 7,
# and "0x1F" because Arrow's CSV reader and cast (the fast paths) accept hexadecimal too.
_INT_RE = r"^([+-]?[0-9]{1,18}(\.0*)?|0[xX][0-9a-fA-F]{1,15})$"
_INT_NOISE_RE = r"^\+|\.0*$"
_FLOAT_RE = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))$"
_NULLS = pa.array(NULL_TOKENS, pa.string())
# Rows converted at a time by ``parse_strings``: its Arrow temporaries stay a few MB per column.
SLICE_ROWS = 1 << 16
_NUMPY_TYPES = {"int": np.dtype(np.int64), "float": np.dtype(np.float64), "bool": np.dtype(np.bool_)}


@dataclass
class Converted:
    """Typed values (null where null or unparseable) and which non-null cells could not be converted."""

    values: pa.ChunkedArray
    bad: BoolMask | None  # None: every non-null cell converted


@dataclass
class Parsed:
    """A text column parsed into numpy: values (0, False or NaT where null or unparseable) and masks."""

    numbers: npt.NDArray[Any]
    null: BoolMask  # null tokens and NaN, never an unparseable cell
    bad: BoolMask | None  # None: every non-null cell converted


def as_arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The column as Arrow strings without copying when it is Arrow-backed; None if it holds non-strings."""
    try:
        array = pa.array(series.array, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    if pa.types.is_dictionary(chunked.type):
        chunked = chunked.cast(chunked.type.value_type)
    if pa.types.is_null(chunked.type):
        return chunked.cast(pa.string())
    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    return chunked


def _mask(array: pa.ChunkedArray | pa.Array) -> BoolMask:
    """An Arrow boolean array (nulls counted false) as a numpy mask."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _finish(text: pa.ChunkedArray, values: pa.ChunkedArray) -> Converted:
    bad_arrow = pc.and_(pc.is_valid(text), pc.is_null(values))
    bad = _mask(bad_arrow)
    return Converted(values, bad if bad.any() else None)


def convert_strings(text: pa.ChunkedArray, kind: str, fmt: str | None = None) -> Converted:
    """Convert text to ``kind``; null tokens become null, anything else that does not parse is 'bad'.

    Each chunk first gets one strict cast, which succeeds for the clean blocks of a file; only a chunk
    with an unparseable cell pays for the regex that tells which cells they are.
    """
    if kind not in ("int", "float", "bool", "datetime"):
        return Converted(text, None)
    values: list[pa.Array] = []
    bad: list[BoolMask | None] = []
    for chunk in text.chunks:
        fast = strict_cast(pa.chunked_array([chunk], type=text.type), kind, fmt) if kind != "datetime" or fmt else None
        if fast is not None:
            values.append(fast.combine_chunks())
            bad.append(None)
            continue
        converted = _convert_chunk(chunk, kind, fmt)
        values.append(converted.values.combine_chunks())
        bad.append(converted.bad)
    if not values:
        target = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}.get(kind, pa.timestamp("us"))
        return Converted(pa.chunked_array([], type=target), None)
    if not any(b is not None for b in bad):
        return Converted(pa.chunked_array(values), None)
    masks = [b if b is not None else np.zeros(len(v), dtype=np.bool_) for b, v in zip(bad, values, strict=True)]
    return Converted(pa.chunked_array(values), np.concatenate(masks))


def parse_strings(text: pa.ChunkedArray, kind: str, fmt: str | None = None, *, slice_rows: int | None = None) -> Parsed:
    """What ``convert_strings`` finds, written slice by slice into the numpy arrays the checks use.

    Converting a whole column at once holds several column-sized Arrow temporaries (the trimmed and
    the cleaned text, the matches, the values and their numpy copy) for each column being checked; a
    slice at a time they stay small. The results are the same: the fast path is still taken or not
    per chunk (a chunk's strict cast succeeds exactly when it does on each of its slices), and the
    careful path converts cell by cell. The ISO 8601 fallback for datetimes without a format decides
    between Arrow and pandas for a whole chunk, so that path is not sliced.
    """
    if kind not in ("int", "float", "bool", "datetime"):
        raise ValueError(f"not a kind that text converts to: {kind!r}")
    slice_rows = slice_rows or SLICE_ROWS
    rows = len(text)
    numbers = np.empty(rows, dtype=_NUMPY_TYPES.get(kind, np.dtype("datetime64[us]")))
    null = np.empty(rows, dtype=np.bool_)
    bad: BoolMask | None = None
    start = 0
    for chunk in text.chunks:
        stop = start + len(chunk)
        target = (numbers[start:stop], null[start:stop])
        if (kind != "datetime" or fmt) and _parse_fast(chunk, kind, fmt, slice_rows, target):
            start = stop
            continue
        step = slice_rows if kind != "datetime" or fmt else max(len(chunk), 1)
        for offset in range(0, len(chunk), step):
            piece = chunk.slice(offset, step)
            converted = _convert_chunk(piece, kind, fmt)
            _store(converted.values, kind, numbers[start + offset :], null[start + offset :])
            if converted.bad is not None:
                if bad is None:
                    bad = np.zeros(rows, dtype=np.bool_)
                bad[start + offset : start + offset + len(piece)] = converted.bad
        start = stop
    if kind == "float":
        null |= np.isnan(numbers)  # a NaN spelled otherwise ("NAN", "-nan") is as null as a float NaN
    if bad is not None:
        null &= ~bad
    return Parsed(numbers, null, bad)


def _parse_fast(
    chunk: pa.Array, kind: str, fmt: str | None, slice_rows: int, target: tuple[npt.NDArray[Any], BoolMask]
) -> bool:
    """The strict cast, slice by slice into ``target``; False (target partly written) at the first bad cell."""
    numbers, null = target
    for offset in range(0, len(chunk), slice_rows):
        piece = chunk.slice(offset, slice_rows)
        fast = strict_cast(pa.chunked_array([piece], type=chunk.type), kind, fmt)
        if fast is None:
            return False
        _store(fast, kind, numbers[offset:], null[offset:])
    return True


def _store(values: pa.ChunkedArray, kind: str, numbers: npt.NDArray[Any], null: BoolMask) -> None:
    """Write converted values and their nulls at the start of ``numbers`` and ``null`` (views to fill)."""
    size = len(values)
    if kind == "datetime":
        if isinstance(values.type, pa.TimestampType) and values.type.tz is not None:
            values = values.cast(pa.timestamp("us"))  # instants in UTC, as the bounds are compared
        numbers[:size] = np.asarray(values.to_numpy(zero_copy_only=False), dtype="datetime64[us]")
    else:
        filler = False if kind == "bool" else 0
        numbers[:size] = pc.fill_null(values, filler).to_numpy(zero_copy_only=False)
    null[:size] = pc.is_null(values).to_numpy(zero_copy_only=False)


def _convert_chunk(chunk: pa.Array, kind: str, fmt: str | None) -> Converted:
    text = pa.chunked_array([chunk], type=chunk.type)
    text = pc.if_else(pc.is_in(text, value_set=_NULLS), pa.scalar(None, text.type), text)
    trimmed = pc.utf8_trim_whitespace(text)
    if kind == "int":
        ok = pc.match_substring_regex(trimmed, pattern=_INT_RE)
        clean = pc.replace_substring_regex(pc.if_else(ok, trimmed, None), pattern=_INT_NOISE_RE, replacement="")
        return _finish(text, pc.cast(clean, pa.int64()))
    if kind == "float":
        ok = pc.match_substring_regex(trimmed, pattern=_FLOAT_RE)
        return _finish(text, pc.cast(pc.if_else(ok, trimmed, None), pa.float64()))
    if kind == "bool":
        lowered = pc.utf8_lower(trimmed)
        is_true = pc.is_in(lowered, value_set=pa.array(TRUE_TOKENS))
        is_false = pc.is_in(lowered, value_set=pa.array(FALSE_TOKENS))
        values = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
        return _finish(text, values)
    return _finish(text, _parse_datetime(trimmed, fmt))


def _parse_datetime(text: pa.ChunkedArray, fmt: str | None) -> pa.ChunkedArray:
    if fmt is not None:
        return pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    try:
        return pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # ISO 8601 with the variants Arrow's strict cast refuses (offsets, fractions, `2024-1-5`, `2024-01`),
    # null if not. Only text of DATE_TIME_PATTERN counts, the rule the predict API parses dates by
    # (mlops.serving.date_parts.parse_iso), so a date stored here is one a client may send as it is.
    shaped = pc.if_else(pc.match_substring_regex(text, pattern=DATE_TIME_PATTERN), text, pa.scalar(None, text.type))
    series = pd.Series(shaped.to_pandas(), copy=False)
    try:
        parsed = pd.to_datetime(series, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed offsets
        parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    return pa.chunked_array([pa.array(parsed, from_pandas=True)])


def strict_cast(text: pa.ChunkedArray, kind: str, fmt: str | None) -> pa.ChunkedArray | None:
    """The fast path for a clean column: one cast that stops at the first bad cell (then None)."""
    try:
        if kind == "int":
            return pc.cast(text, pa.int64())
        if kind == "float":
            return pc.cast(text, pa.float64())
        if kind == "bool":
            return pc.cast(text, pa.bool_())
        if kind == "datetime":
            if fmt is not None:
                return pc.strptime(text, format=fmt, unit="us", error_is_null=False)
            return pc.cast(text, pa.timestamp("us"))
        if kind == "category":
            return text.dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return text
