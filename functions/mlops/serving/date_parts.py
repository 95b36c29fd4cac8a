"""A datetime feature's derived numbers (year, month, day of week, days since a reference date, …):
the one function that training (`mlops.training.features`) and serving (`mlops.serving.inputs`)
both call, so the served model sees exactly the numbers it was trained on.

numpy and the standard library only: the predict function's layer has neither pandas nor pydantic.

Time zones: every value is an instant in UTC. A client's date-time with an offset (`+02:00`, `Z`)
is converted to UTC; one without an offset, and a plain date, is read as UTC already, as the data
contract reads a dataset's timestamps (offsets converted, naive values kept).

Accepted text (`DATE_TIME_PATTERN`, one rule for ingestion and the predict API): a year, optionally
a month and a day, separated by `-` or `/` (`2024`, `2024-01`, `2024-1-5`, `2024/01/05`) or written
`20240105`; month and day may lack their leading zero and default to the 1st. Then optionally `T`
or a space and a time `H[H][:M[M][:S[S][.fraction]]]`, and optionally `Z` or `±HH[[:]MM]`.
Ingestion of a datetime column without a contract `format` accepts no other text, so the raw date
as it is in the data is always a valid predict value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The parts a datetime feature may derive, in the order the model's columns take them when listed
# so (mlops.training.config.DatetimePart names the same ones for the config's schema).
DATE_PARTS: tuple[str, ...] = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since")
DEFAULT_PARTS: tuple[str, ...] = ("year", "month", "day_of_week", "days_since")
ISO_FORMAT = (
    "ISO 8601 date (YYYY-MM-DD, YYYY-MM or YYYY; month and day may lack the leading zero; / also separates) "
    "or date-time (date, then T or a space, then H[H][:MM[:SS[.ffffff]]], then optionally Z or ±HH[:MM]); "
    "no offset: UTC"
)
# Written for both Python's `re` and Arrow's RE2 (ingestion checks a column's text with it):
# ASCII digits spelled out, as `\d` in Python matches other scripts' digits too.
DATE_TIME_PATTERN = (
    r"^(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{1,2})(?:-(?P<day>[0-9]{1,2}))?"
    r"|/(?P<month_slash>[0-9]{1,2})(?:/(?P<day_slash>[0-9]{1,2}))?"
    r"|(?P<month_compact>[0-9]{2})(?P<day_compact>[0-9]{2}))?"
    r"(?:[T ](?P<hour>[0-9]{1,2})(?::(?P<minute>[0-9]{1,2})(?::(?P<second>[0-9]{1,2})(?:\.(?P<fraction>[0-9]+))?)?)?"
    r" ?(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
_MICROSECONDS_PER_DAY = 86_400_000_000
_UNIT = "datetime64[us]"


def part_name(column: str, part: str) -> str:
    """The model input a part becomes, e.g. `signup_date__month`."""
    return f"{column}__{part}"


def parse_iso(text: str) -> np.datetime64 | None:
    """A date or date-time of `DATE_TIME_PATTERN` as a UTC instant (microseconds); None if it is not one.

    `2024-01` is 2024-01-01, `2024-1-5` 2024-01-05, `2024-01-05T7:05` 07:05 that day; a fraction
    past microseconds is cut off. An impossible date (`2023-02-29`, month 13, hour 24) is None.
    """
    found = _DATE_TIME.match(text.strip())
    if found is None:
        return None
    part = found.groupdict()

    def number(*names: str, default: int = 0) -> int:
        given = next((part[name] for name in names if part[name] is not None), None)
        return default if given is None else int(given)

    fraction = (part["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            number("year"),
            number("month", "month_slash", "month_compact", default=1),
            number("day", "day_slash", "day_compact", default=1),
            number("hour"),
            number("minute"),
            number("second"),
            int(fraction),
        )
    except ValueError:
        return None
    offset = part["offset"]
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if shift >= timedelta(days=1):
            return None
        try:
            moment -= shift if offset[0] == "+" else -shift
        except OverflowError:  # before year 1
            return None
    return np.datetime64(moment, "us")


def iso_text(moment: np.datetime64) -> str:
    """A stored instant as ISO 8601 in UTC with `Z` (a date alone at midnight)."""
    day = moment.astype("datetime64[D]")
    if moment.astype(_UNIT) == day.astype(_UNIT):
        return str(day)
    return f"{np.datetime_as_string(moment.astype(_UNIT), unit='s')}Z"


def has_times(values: NDArray[np.datetime64]) -> bool:
    """Whether any present value is not at midnight (then `hour` means something)."""
    stamps = np.asarray(values).astype(_UNIT)
    present = stamps[~np.isnat(stamps)]
    return bool(present.size) and bool(np.any(present != present.astype("datetime64[D]").astype(_UNIT)))


def derive_parts(
    values: NDArray[Any], parts: Sequence[str], reference: str, impute: Sequence[float] | None = None
) -> NDArray[np.float64]:
    """One row per value, one float64 column per part: the model's inputs for a date.

    `values` are UTC instants (datetime64 of any unit); `reference` an ISO date, the zero of
    `days_since` (fractional days, negative before it). Day of week: Monday 0 … Sunday 6. A NaT
    (missing) gives `impute` (one value per part), or NaN in every column without it.
    """
    stamps = np.asarray(values).astype(_UNIT)
    missing = np.isnat(stamps)
    safe = np.where(missing, np.datetime64(0, "us"), stamps)
    days = safe.astype("datetime64[D]")
    months = safe.astype("datetime64[M]")
    years = safe.astype("datetime64[Y]")
    out = np.empty((stamps.shape[0], len(parts)), dtype=np.float64)
    for j, part in enumerate(parts):
        if part == "year":
            column = years.astype(np.int64) + 1970
        elif part == "month":
            column = months.astype(np.int64) % 12 + 1
        elif part == "day":
            column = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
        elif part == "day_of_week":
            column = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        elif part == "day_of_year":
            column = (days - years.astype("datetime64[D]")).astype(np.int64) + 1
        elif part == "hour":
            column = (safe - days.astype(_UNIT)).astype(np.int64) // 3_600_000_000
        elif part == "days_since":
            zero = np.datetime64(reference, "D").astype(_UNIT)
            column = (safe - zero).astype(np.int64) / _MICROSECONDS_PER_DAY
        else:
            raise ValueError(f"unknown date part {part!r} (known: {', '.join(DATE_PARTS)})")
        out[:, j] = column
    out[missing, :] = np.nan if impute is None else np.asarray(impute, dtype=np.float64)
    return out
