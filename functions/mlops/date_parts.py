"""A datetime feature's derived numbers (year, month, day of week, days since a reference date, …):
the one function that training (`mlops.training.features`) and serving (`mlops.serving.inputs`)
both call, so the served model sees exactly the numbers it was trained on.

numpy and the standard library only: the predict function's layer has neither pandas nor pydantic.

Time zones: every value is an instant in UTC. A client's date-time with an offset (`+02:00`, `Z`)
is converted to UTC; one without an offset, and a plain date, is read as UTC already, as the data
contract reads a dataset's timestamps (offsets converted, naive values kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The parts a datetime feature may derive, in the order the model's columns take them when listed
# so (mlops.training.config.DatetimePart names the same ones for the config's schema).
DATE_PARTS: tuple[str, ...] = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since")
DEFAULT_PARTS: tuple[str, ...] = ("year", "month", "day_of_week", "days_since")
ISO_FORMAT = "ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM]); no offset: UTC"
_MICROSECONDS_PER_DAY = 86_400_000_000
_UNIT = "datetime64[us]"


def part_name(column: str, part: str) -> str:
    """The model input a part becomes, e.g. `signup_date__month`."""
    return f"{column}__{part}"


def parse_iso(text: str) -> np.datetime64 | None:
    """A client's ISO 8601 date or date-time as a UTC instant (microseconds); None if not ISO 8601."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
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
