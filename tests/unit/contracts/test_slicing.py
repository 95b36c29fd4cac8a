"""Checks computed a slice or a part at a time give exactly what the whole-column computation gives.

Text is parsed, hashed and checked for uniqueness in slices (or parts) so that the temporaries stay small
for a million rows; these tests use slices of a few rows so that failures fall on every side of the
boundaries, and compare with the whole-column results (``convert_strings``, ``pd.factorize``,
``pd.util.hash_array``, a plain ``validate``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.contracts import coercion, duplicates
from mlops.contracts.coercion import convert_strings, parse_strings
from mlops.contracts.loading import load_contract
from mlops.contracts.reading import read_table
from mlops.contracts.report import ValidationReport
from mlops.contracts.validation import validate

INTS = ["1", "2", "x", "4", "5", "6", "7", "8", "NA", "10", "1.5", "12", None, "14", "+15", "16", "0x1F", "18 "]
FLOATS = ["1.5", "nan", "2", "1,5", "inf", "-0.0", "", "abc", "3e2", ".5", "NAN", "7"]
BOOLS = ["true", "F", "yes", "maybe", "0", "1", None, "2", "No", "t"]
DATES = ["2020-01-31", "2020-02-30", "2021-12-01", "", "31/12/2020", "2022-06-15", "2023-01-01", None]
ISO = ["2020-01-01", "2020-01-01T10:00:00+02:00", "garbage", "2020-06-01 10:11:12.5", "2021-01-01T00:00:00Z", None]


def chunked(values: list[str | None], cuts: list[int], large: bool = False) -> pa.ChunkedArray:
    """The values as Arrow text in chunks split at ``cuts`` (the first one a slice with an offset)."""
    kind = pa.large_string() if large else pa.string()
    array = pa.array(["pad", *values], kind).slice(1)
    bounds = [0, *cuts, len(values)]
    return pa.chunked_array([array.slice(a, b - a) for a, b in itertools.pairwise(bounds)], type=kind)


def whole(text: pa.ChunkedArray, kind: str, fmt: str | None) -> tuple[list[Any], list[bool], list[bool]]:
    """Values, nulls and unparseable cells as the whole-column conversion finds them."""
    converted = convert_strings(text, kind, fmt)
    values = converted.values
    if kind == "datetime" and isinstance(values.type, pa.TimestampType) and values.type.tz is not None:
        values = values.cast(pa.timestamp("us"))
    bad = [False] * len(text) if converted.bad is None else converted.bad.tolist()
    null = [v is None and not b for v, b in zip(values.to_pylist(), bad, strict=True)]
    return values.to_pylist(), null, bad


def sliced(text: pa.ChunkedArray, kind: str, fmt: str | None, rows: int) -> tuple[list[Any], list[bool], list[bool]]:
    parsed = parse_strings(text, kind, fmt, slice_rows=rows)
    null = parsed.null.tolist()
    values = [None if n or b else v for v, n, b in zip(parsed.numbers.tolist(), null, bad_list(parsed), strict=True)]
    return values, null, bad_list(parsed)


def bad_list(parsed: coercion.Parsed) -> list[bool]:
    return [False] * len(parsed.null) if parsed.bad is None else parsed.bad.tolist()


@pytest.mark.parametrize(
    ("values", "kind", "fmt"),
    [(INTS, "int", None), (FLOATS, "float", None), (BOOLS, "bool", None), (DATES, "datetime", "%Y-%m-%d")],
)
@pytest.mark.parametrize("rows", [1, 2, 3, 5, 1000])
@pytest.mark.parametrize("cuts", [[], [4], [3, 7]])
def test_parsing_in_slices_finds_what_the_whole_column_gives(
    values: list[str | None], kind: str, fmt: str | None, rows: int, cuts: list[int]
) -> None:
    text = chunked(values, cuts)
    expected_values, expected_null, expected_bad = whole(text, kind, fmt)
    got_values, got_null, got_bad = sliced(text, kind, fmt, rows)
    assert got_bad == expected_bad
    assert got_null == [n or (kind == "float" and v != v) for v, n in zip(expected_values, expected_null, strict=True)]
    for got, want, null in zip(got_values, expected_values, got_null, strict=True):
        if not null and want is not None:
            assert got == want


def test_the_strict_cast_is_still_all_or_nothing_per_chunk() -> None:
    # Arrow's cast reads 21 zero-padded digits as 1, the careful path (18 digits at most) does not. The
    # whole chunk fails its strict cast (because of "x"), so its every slice is converted carefully, even
    # the first one, whose own strict cast would have succeeded; the next chunk is clean and cast strictly.
    text = chunked(["000000000000000000001", "2", "3", "x", "000000000000000000001", "6"], [4])
    parsed = parse_strings(text, "int", slice_rows=2)
    assert parsed.bad is not None and parsed.bad.tolist() == [True, False, False, True, False, False]
    assert parsed.numbers[[1, 2, 4, 5]].tolist() == [2, 3, 1, 6]
    assert parsed.null.tolist() == [False] * 6


def test_iso_datetimes_without_a_format_are_parsed_per_chunk_as_before() -> None:
    text = chunked(ISO * 3, [6, 9])
    expected_values, expected_null, expected_bad = whole(text, "datetime", None)
    got_values, got_null, got_bad = sliced(text, "datetime", None, 2)
    assert got_bad == expected_bad and got_null == expected_null
    assert got_values == [None if v is None else np.datetime64(v, "us").item() for v in expected_values]


def test_an_empty_column_parses_to_empty_arrays() -> None:
    parsed = parse_strings(pa.chunked_array([], type=pa.string()), "float")
    assert parsed.numbers.size == 0 and parsed.null.size == 0 and parsed.bad is None


def factorized(values: list[str | None]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    codes = np.asarray(pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)[0], dtype=np.intp)
    return codes, duplicates._repeats(codes)


def same_grouping(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    """Two labellings that group the rows the same way (and leave the same rows unlabelled)."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs}) and all(
        (x < 0) == (y < 0) for x, y in pairs
    )


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("part_rows", [1, 7, 64, 10_000])
def test_uniqueness_in_parts_matches_one_factorization(
    large: bool, part_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    pool = ["", "a", "b", "ab", "ba", "é", "€", "a€", "€a", "C0000001", "C0000011", "C1000001", "xyz", "yz"]
    values: list[str | None] = [str(v) for v in rng.choice(pool, 300)]
    values += [f"C{i:07d}" for i in rng.integers(0, 200, 300)]
    for position in rng.integers(0, len(values), 20):
        values[position] = None
    monkeypatch.setattr(duplicates, "_PART_ROWS", part_rows)
    monkeypatch.setattr(duplicates, "SLICE_ROWS", 50)
    text = chunked(values, [5, 333, 334], large=large)
    codes, repeated = duplicates._text_codes(text)
    expected_codes, expected_repeated = factorized(values)
    assert repeated.tolist() == expected_repeated.tolist()
    assert same_grouping(codes, expected_codes)
    assert int(codes.max()) + 1 == int(expected_codes.max()) + 1  # the distinct count, 0 .. distinct - 1


def test_rows_that_would_crowd_into_one_part_are_encoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "_PART_ROWS", 4)
    values: list[str | None] = ["same"] * 30
    values += ["other", None, "same"]
    text = chunked(values, [10])
    assert duplicates._part_keys(text, 8) is None
    codes, repeated = duplicates._text_codes(text)
    expected_codes, expected_repeated = factorized(values)
    assert codes.tolist() == expected_codes.tolist() and repeated.tolist() == expected_repeated.tolist()


def test_sorted_repeats_match_first_appearance_codes() -> None:
    rng = np.random.default_rng(11)
    values = rng.integers(0, 2**63, 2000, dtype=np.int64).astype(np.uint64)
    values[rng.integers(0, 2000, 300)] = values[rng.integers(0, 2000, 300)]
    found = duplicates._sorted_repeats(values)
    assert found is not None
    repeated, tied = found
    codes = np.asarray(pd.factorize(values)[0])
    counts = np.bincount(codes)
    assert repeated.tolist() == duplicates._repeats(codes).tolist()
    assert tied.tolist() == (counts[codes] > 1).tolist()
    assert duplicates._sorted_repeats(np.arange(5, dtype=np.uint64)) is None


def test_hashes_in_slices_are_the_whole_arrays_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "SLICE_ROWS", 7)
    rng = np.random.default_rng(5)
    numbers = rng.normal(size=50)
    times = np.datetime64("2020-01-01", "us") + rng.integers(0, 10**9, 50).astype("timedelta64[us]")
    codes = rng.integers(-1, 9, 50).astype(np.int8)
    assert (duplicates._hash_values(numbers) == pd.util.hash_array(numbers)).all()
    assert (duplicates._hash_values(times) == pd.util.hash_array(times.view(np.int64))).all()
    assert (duplicates._hash_codes(codes) == pd.util.hash_array(codes.astype(np.int64))).all()


CONTRACT = """
dataset: slices
version: 1
duplicate_rows: reject
columns:
  - {name: id, type: string, regex: "C[0-9]{4}", unique: true}
  - {name: n, type: int, min: 0, max: 50}
  - {name: x, type: float, min: -1, max: 1}
  - {name: flag, type: bool}
  - {name: day, type: datetime, format: "%Y-%m-%d", min: 2020-01-01}
  - {name: note, type: string}
"""


def frame_with_failures(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "id": [f"C{i:04d}" for i in range(rows)],
            "n": rng.integers(0, 51, rows).astype(str).astype(object),
            "x": np.round(rng.uniform(-1, 1, rows), 3).astype(str).astype(object),
            "flag": rng.choice(["true", "false"], rows).astype(object),
            "day": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "note": rng.choice(["a", "b", "c"], rows),
        }
    )
    for column, bad in (("n", ["x", "-1", "99"]), ("x", ["?", "5"]), ("flag", ["maybe"]), ("day", ["2019-01-01"])):
        for position in rng.integers(0, rows, 25):
            frame.loc[position, column] = bad[position % len(bad)]
    frame.loc[[30, 31, 32, 63, 64, 127, 128], "id"] = ["C0001", "X1", None, "C0063", "C0001", "C0001", "C0063"]
    frame.loc[200] = frame.loc[199]
    frame.loc[255] = frame.loc[10]
    return frame


def report_json(frame: pd.DataFrame, *, through_csv: bool) -> str:
    spec = load_contract(CONTRACT, source="slices.yaml")
    if through_csv:
        frame = read_table(frame.to_csv(index=False).encode(), filename="slices.csv", contract=spec)
    report: ValidationReport = validate(frame, spec, file_name="slices")
    return report.model_dump_json()


@pytest.mark.parametrize("through_csv", [False, True])
def test_validating_in_tiny_slices_and_parts_reports_the_same(
    through_csv: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = frame_with_failures()
    expected = report_json(frame, through_csv=through_csv)
    assert '"success":false' in expected.replace(" ", "")
    monkeypatch.setattr(coercion, "SLICE_ROWS", 3)
    monkeypatch.setattr(duplicates, "SLICE_ROWS", 5)
    monkeypatch.setattr(duplicates, "_PART_ROWS", 8)
    assert report_json(frame, through_csv=through_csv) == expected


def test_the_distinct_column_named_is_the_first_in_column_order() -> None:
    spec = load_contract(
        """
dataset: ids
version: 1
duplicate_rows: reject
columns:
  - {name: a, type: int, unique: true}
  - {name: b, type: string, unique: true}
  - {name: c, type: int, unique: true}
""",
        source="ids.yaml",
    )
    frame = pd.DataFrame({"a": range(3000), "b": [f"b{i}" for i in range(3000)], "c": range(3000, 0, -1)})
    for _ in range(5):
        duplicates = [r for r in validate(frame, spec).results if r.expectation == "table.duplicate_rows"]
        assert duplicates[0].details["distinct_column"] == "a"


def test_validation_and_reading_restore_the_memory_pool() -> None:
    before = pa.default_memory_pool()
    spec = load_contract(CONTRACT, source="slices.yaml")
    frame = read_table(frame_with_failures().to_csv(index=False).encode(), filename="s.csv", contract=spec)
    validate(frame, spec)
    assert pa.default_memory_pool().backend_name == before.backend_name
