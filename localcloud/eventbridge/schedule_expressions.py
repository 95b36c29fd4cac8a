"""EventBridge schedule expressions (`rate(...)` and 6-field `cron(...)`), parsed without AWS.

moto stores a rule's ScheduleExpression but never fires it, so the local cloud needs to know when a
rule is due. This module is pure (no moto, no boto3) so it can be tested on its own; the scheduler
in `localcloud.eventbridge.scheduler` keeps one next-fire time per rule from it. All times are UTC, as on AWS.

Supported, as documented for EventBridge rules:

* ``rate(1 minute)``, ``rate(5 minutes)``, ``rate(1 hour)``, ``rate(2 days)`` (singular unit for 1).
* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)`` with ``*``, ``?``, lists (``,``),
  ranges (``-``), steps (``/``), month names JAN-DEC, weekday names SUN-SAT (1 = Sunday), and the
  ``L`` (last day of month / last <weekday> of month), ``W`` (nearest weekday) and ``#`` (n-th
  weekday of the month) wildcards. One of Day-of-month / Day-of-week must be ``?``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleExpressionError",
    "parse_schedule_expression",
]


class ScheduleExpressionError(ValueError):
    """The expression is not one EventBridge would accept."""


_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
_CRON_RE = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MAX_YEAR = 2199


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aws_weekday(day: date) -> int:
    """AWS numbers weekdays 1 (Sunday) .. 7 (Saturday); Python 0 (Monday) .. 6 (Sunday)."""
    return (day.weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class RateSchedule:
    """`rate(n unit)`: fires every `interval`, counted from when the rule was (re)armed."""

    expression: str
    interval: timedelta

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first fire time strictly after `after`, on the grid anchor + k * interval."""
        after = _utc(after)
        if anchor is None:
            return after + self.interval
        anchor = _utc(anchor)
        if after < anchor:
            return anchor
        steps = int((after - anchor) / self.interval) + 1
        return anchor + steps * self.interval


@dataclass(frozen=True)
class _DayOfMonth:
    values: frozenset[int]
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def days(self, year: int, month: int) -> set[int]:
        n_days = calendar.monthrange(year, month)[1]
        out = {d for d in self.values if d <= n_days}
        if self.last:
            out.add(n_days)
        if self.last_weekday:
            day = n_days
            while _aws_weekday(date(year, month, day)) in (1, 7):
                day -= 1
            out.add(day)
        for target in self.nearest_weekday:
            if target > n_days:
                continue
            wd = _aws_weekday(date(year, month, target))
            if wd == 7:  # Saturday: Friday before, unless that leaves the month
                out.add(target - 1 if target > 1 else target + 2)
            elif wd == 1:  # Sunday: Monday after, unless that leaves the month
                out.add(target + 1 if target < n_days else target - 2)
            else:
                out.add(target)
        return out


@dataclass(frozen=True)
class _DayOfWeek:
    values: frozenset[int]
    last_of_month: frozenset[int] = frozenset()
    nth_of_month: frozenset[tuple[int, int]] = frozenset()

    def days(self, year: int, month: int) -> set[int]:
        n_days = calendar.monthrange(year, month)[1]
        out: set[int] = set()
        for day in range(1, n_days + 1):
            wd = _aws_weekday(date(year, month, day))
            if wd in self.values:
                out.add(day)
            if wd in self.last_of_month and day + 7 > n_days:
                out.add(day)
            for weekday, nth in self.nth_of_month:
                if wd == weekday and (day - 1) // 7 + 1 == nth:
                    out.add(day)
        return out


@dataclass(frozen=True)
class CronSchedule:
    """`cron(m h dom mon dow year)`: fires at every matching UTC minute."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_of_month: _DayOfMonth | None
    day_of_week: _DayOfWeek | None

    def _days(self, year: int, month: int) -> list[int]:
        if self.day_of_month is not None:
            return sorted(self.day_of_month.days(year, month))
        assert self.day_of_week is not None
        return sorted(self.day_of_week.days(year, month))

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first matching minute strictly after `after`, or None if the schedule is over."""
        del anchor  # cron schedules are absolute; the argument keeps one signature for both kinds
        start = _utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for moment in self._iter_from(start):
            return moment
        return None

    def _iter_from(self, start: datetime) -> Iterator[datetime]:
        for year in self.years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                same_month = (year, month) == (start.year, start.month)
                for day in self._days(year, month):
                    if same_month and day < start.day:
                        continue
                    same_day = same_month and day == start.day
                    for hour in self.hours:
                        if same_day and hour < start.hour:
                            continue
                        same_hour = same_day and hour == start.hour
                        for minute in self.minutes:
                            if same_hour and minute < start.minute:
                                continue
                            yield datetime(year, month, day, hour, minute, tzinfo=UTC)


Schedule = RateSchedule | CronSchedule


def _number(token: str, names: dict[str, int], field: str) -> int:
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        raise ScheduleExpressionError(f"{field}: {token!r} is not a number or name")
    return int(token)


def _parse_field(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> set[int]:
    """Numbers, names, `*`, lists, ranges and steps; returns the matching values in [low, high]."""
    names = names or {}
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleExpressionError(f"{field}: empty list element in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"{field}: bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, names, field), _number(last, names, field)
        else:
            start = _number(base, names, field)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleExpressionError(f"{field}: {part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def _parse_day_of_month(text: str) -> _DayOfMonth:
    values: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    plain: list[str] = []
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and upper[:-1].isdigit():
            day = int(upper[:-1])
            if not 1 <= day <= 31:
                raise ScheduleExpressionError(f"Day-of-month: {part!r} is outside 1-31")
            nearest.add(day)
        else:
            plain.append(part)
    if plain:
        values = _parse_field(",".join(plain), 1, 31, "Day-of-month")
    return _DayOfMonth(frozenset(values), last, last_weekday, frozenset(nearest))


def _parse_day_of_week(text: str) -> _DayOfWeek:
    values: set[int] = set()
    last_of: set[int] = set()
    nth_of: set[tuple[int, int]] = set()
    plain: list[str] = []
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            values.add(7)  # `L` alone in Day-of-week is the last day of the week, Saturday
        elif upper.endswith("L"):
            last_of.add(_parse_single_weekday(upper[:-1]))
        elif "#" in upper:
            weekday, _, nth = upper.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ScheduleExpressionError(f"Day-of-week: bad occurrence in {part!r}")
            nth_of.add((_parse_single_weekday(weekday), int(nth)))
        else:
            plain.append(part)
    if plain:
        values |= _parse_field(",".join(plain), 1, 7, "Day-of-week", _WEEKDAYS)
    return _DayOfWeek(frozenset(values), frozenset(last_of), frozenset(nth_of))


def _parse_single_weekday(token: str) -> int:
    value = _number(token, _WEEKDAYS, "Day-of-week")
    if not 1 <= value <= 7:
        raise ScheduleExpressionError(f"Day-of-week: {token!r} is outside 1-7")
    return value


def parse_schedule_expression(expression: str) -> Schedule:
    """Parse a rule's ScheduleExpression; raises ScheduleExpressionError as AWS would reject it."""
    text = expression.strip()
    rate = _RATE_RE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        singular = unit.removesuffix("s")
        if singular not in _UNITS or value <= 0:
            raise ScheduleExpressionError(f"bad rate expression {expression!r}")
        if (value == 1) != (unit == singular):
            raise ScheduleExpressionError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
        return RateSchedule(expression, timedelta(seconds=value * _UNITS[singular]))
    cron = _CRON_RE.match(text)
    if not cron:
        raise ScheduleExpressionError(f"{expression!r} is neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"{expression!r}: cron needs 6 fields, got {len(fields)}")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(f"{expression!r}: exactly one of Day-of-month and Day-of-week must be '?'")
    return CronSchedule(
        expression=expression,
        minutes=tuple(sorted(_parse_field(minutes, 0, 59, "Minutes"))),
        hours=tuple(sorted(_parse_field(hours, 0, 23, "Hours"))),
        months=tuple(sorted(_parse_field(month, 1, 12, "Month", _MONTHS))),
        years=tuple(sorted(_parse_field(year, 1970, _MAX_YEAR, "Year"))),
        day_of_month=None if dom == "?" else _parse_day_of_month(dom),
        day_of_week=None if dow == "?" else _parse_day_of_week(dow),
    )
