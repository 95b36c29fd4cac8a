"""The predict function reads bodies with msgspec for speed; what it reads must be exactly what
`json.loads` read before (issue #21: the same validation and the same answers)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.predict import _read_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)  # past 64 bits: orjson would make these floats
    | st.floats()  # NaN and the infinities too: json.dumps writes them as NaN and Infinity
    | st.text()  # lone surrogates too: json.dumps escapes them
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=40
)


def _same(read: Any, expected: Any) -> bool:
    """Equal values of equal types all the way down (NaN equal to NaN, 1 not equal to 1.0)."""
    if type(read) is not type(expected):
        return False
    if isinstance(expected, float):
        return (math.isnan(read) and math.isnan(expected)) or (read == expected and repr(read) == repr(expected))
    if isinstance(expected, list):
        return len(read) == len(expected) and all(map(_same, read, expected))
    if isinstance(expected, dict):
        return list(read) == list(expected) and all(_same(read[k], expected[k]) for k in expected)
    return bool(read == expected)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_document_reads_as_json_loads_reads_it(document: Any) -> None:
    text = json.dumps(document)
    assert _same(_read_json(text), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_floats_round_to_the_same_double(values: list[float]) -> None:
    # json.dumps writes the shortest repr; clients also send other spellings of the same number.
    for text in (json.dumps(values), "[" + ",".join(f"{v:.20e}" for v in values) + "]"):
        assert _same(_read_json(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',  # the last duplicate wins in both
        "18446744073709551616",  # 2**64: an int, not 1.8446744073709552e+19
        "-9223372036854775809",
        "1" + "0" * 400,  # an int too large for a float: the handler says so, from the int
        "NaN",
        "[Infinity, -Infinity]",
        "1e400",  # json.loads reads inf
        '"\\ud800"',  # a lone surrogate
        "-0",
        "-0.0",
        "1e-400",
        "4.9e-324",
    ],
)
def test_what_msgspec_refuses_or_reads_differently_is_read_as_before(text: str) -> None:
    assert _same(_read_json(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1,]", '{"a": 1}x', "\ufeff{}", "01", '"\x01"', "[" * 100_000 + "]" * 100_000, "1" * 4301],
)
def test_what_neither_reads_fails_as_json_loads_fails(text: str) -> None:
    with pytest.raises((ValueError, RecursionError)) as expected:
        json.loads(text)
    with pytest.raises(expected.type) as read:
        _read_json(text)
    assert str(read.value) == str(expected.value)
