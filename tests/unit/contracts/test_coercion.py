"""Text-to-type conversion: what each declared type accepts, and that the rest is kept as unparseable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from mlops.contracts.coercion import convert_strings


def convert(values: list[str | None], kind: str, fmt: str | None = None) -> tuple[list[Any], list[bool]]:
    converted = convert_strings(pa.chunked_array([pa.array(values, pa.string())]), kind, fmt)
    bad = [False] * len(values) if converted.bad is None else converted.bad.tolist()
    return converted.values.to_pylist(), bad


def test_integers() -> None:
    values, bad = convert(["1", "+7", "7.0", "-3", " 5 ", "0x10", "abc", "1e3", "1.5", "", None, "NA"], "int")
    assert values == [1, 7, 7, -3, 5, 16, None, None, None, None, None, None]
    assert bad == [False] * 6 + [True, True, True] + [False] * 3


def test_floats() -> None:
    values, bad = convert(["1.5", ".5", "5.", "-1e3", "inf", "1,5", "n/a?", "nan", None], "float")
    assert values[:5] == [1.5, 0.5, 5.0, -1000.0, float("inf")]
    assert values[5:] == [None, None, None, None]
    assert bad == [False] * 5 + [True, True, False, False]


def test_booleans() -> None:
    values, bad = convert(["true", "F", "yes", "No", "1", "0", "maybe", None], "bool")
    assert values == [True, False, True, False, True, False, None, None]
    assert bad == [False] * 6 + [True, False]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%d/%m/%Y", "31/12/2020", datetime(2020, 12, 31)),
        (None, "2020-12-31", datetime(2020, 12, 31)),
        (None, "2020-12-31T10:11:12", datetime(2020, 12, 31, 10, 11, 12)),
        (None, "2020-12-31 10:11:12.5", datetime(2020, 12, 31, 10, 11, 12, 500000)),
    ],
)
def test_datetimes(fmt: str | None, text: str, expected: datetime) -> None:
    values, bad = convert([text, "not a date", None], "datetime", fmt)
    assert values[0] == expected and values[1:] == [None, None]
    assert bad == [False, True, False]


def test_a_clean_chunk_takes_the_fast_path_and_a_dirty_one_the_careful_path() -> None:
    chunks = [pa.array(["1", "2"]), pa.array(["3", "x"]), pa.array(["5", None])]
    converted = convert_strings(pa.chunked_array(chunks), "int")
    assert converted.values.to_pylist() == [1, 2, 3, None, 5, None]
    assert converted.bad is not None and converted.bad.tolist() == [False, False, False, True, False, False]
