"""CloudWatch alarm evaluation, which moto does not do.

What moto 5.2 does with CloudWatch (measured):

* `put_metric_alarm` stores alarms, in state OK with reason "Unchecked: Initial alarm creation"
  (AWS starts them in INSUFFICIENT_DATA), and nothing ever evaluates them or runs their actions.
* `set_alarm_state` changes the state and keeps the previous one in `Alarm.history`, but
  `describe_alarm_history` is not implemented.
* `get_metric_statistics` ignores `ExtendedStatistics` (no percentiles), starts its periods at
  the first datapoint instead of on period boundaries, and matches dimensions as a subset (a query
  for {A} also returns data put with {A, B}); `get_metric_data` with a `p99` stat fails to
  serialise. So this module reads moto's stored datapoints and computes the statistics itself.

`AlarmEvaluator(account_id, region).evaluate(now)` evaluates every metric alarm (single metric,
or metric math such as `100*m1/m2` or `SUM([m1,m2])`) over the complete periods before `now`,
with AWS's M-out-of-N and missing-data rules, calls `set_alarm_state` on a change, publishes the
AWS alarm notification to the SNS actions of the new state and emits the "CloudWatch Alarm State
Change" event to EventBridge. `install()` adds `describe_alarm_history` to moto.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Self

from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

__all__ = [
    "AlarmEvaluator",
    "AlarmExpressionError",
    "AlarmTransition",
    "Datapoint",
    "Decision",
    "alarm_history",
    "decide",
    "install",
    "installed",
    "is_installed",
    "region_name",
    "uninstall",
]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"
INITIAL_REASON = "Unchecked: Initial alarm creation"
_ACTIONS_ATTR = "localcloud_action_history"

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_STATISTIC_NAMES = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aws_time(moment: datetime) -> str:
    """CloudWatch's notification time format: `2022-09-25T18:50:37.811+0000`."""
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _number(value: float) -> str:
    """Values as CloudWatch prints them (Java doubles: 6.0, 0.004)."""
    return repr(float(value))


@cache
def region_name(region: str) -> str:
    """`US East (N. Virginia)` for `us-east-1`, from botocore's endpoint data."""
    import botocore.loaders

    try:
        endpoints = botocore.loaders.create_loader().load_data("endpoints")
        for partition in endpoints.get("partitions", []):
            description = partition.get("regions", {}).get(region, {}).get("description")
            if description:
                return str(description)
    except Exception:  # a display name is not worth failing over
        log.debug("no region description for %s", region, exc_info=True)
    return region


# --------------------------------------------------------------------------------------------
# Statistics over moto's stored datapoints
# --------------------------------------------------------------------------------------------


def _percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (a value that was actually reported, as CloudWatch returns)."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _raw_values(datums: Sequence[MetricDatumBase]) -> list[float] | None:
    """Every reported value; None if a statistic set hides them (percentiles are then unavailable,
    unless the set is uniform: min == max, which CloudWatch accepts)."""
    values: list[float] = []
    for datum in datums:
        if isinstance(datum, MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, MetricAggregatedDatum):
            if datum.min != datum.max:
                return None
            values.extend([float(datum.min)] * int(datum.sample_count))
    return values


def _statistic(stat: str, datums: Sequence[MetricDatumBase]) -> float | None:
    singles = [float(d.value) for d in datums if isinstance(d, MetricDatum)]
    sets = [d for d in datums if isinstance(d, MetricAggregatedDatum)]
    count = len(singles) + sum(float(s.sample_count) for s in sets)
    if not count:
        return None
    total = sum(singles) + sum(float(s.sum) for s in sets)
    if stat == "SampleCount":
        return count
    if stat == "Sum":
        return total
    if stat == "Average":
        return total / count
    if stat == "Minimum":
        return min(singles + [float(s.min) for s in sets])
    if stat == "Maximum":
        return max(singles + [float(s.max) for s in sets])
    percentile = re.fullmatch(r"[pP](\d+(?:\.\d+)?)", stat)
    trimmed = re.fullmatch(r"tm(\d+(?:\.\d+)?)", stat, flags=re.IGNORECASE)
    if percentile or trimmed:
        values = _raw_values(datums)
        if not values:
            return None
        values.sort()
        if percentile:
            return _percentile(values, float(percentile.group(1)))
        assert trimmed is not None
        kept = values[: max(1, math.ceil(float(trimmed.group(1)) / 100.0 * len(values)))]
        return sum(kept) / len(kept)
    log.warning("statistic %r is not supported locally; treated as missing data", stat)
    return None


def _low_sample_threshold(stat: str) -> float | None:
    """Sample count under which CloudWatch calls a percentile statistically insignificant."""
    match = re.fullmatch(r"[pP](\d+(?:\.\d+)?)", stat)
    if not match:
        return None
    p = float(match.group(1)) / 100.0
    if p >= 1.0 or p <= 0.0:
        return None
    return round(10.0 / (1.0 - p) if p >= 0.5 else 10.0 / p, 6)  # p90: 100 samples, not 100.00000000000001


@dataclass(frozen=True)
class Datapoint:
    """One period of an alarm's metric: its start, value (None = missing) and sample count."""

    timestamp: datetime
    value: float | None
    sample_count: float = 0.0


def _dimension_key(dimensions: Any) -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for dim in dimensions or []:
        if isinstance(dim, Mapping):
            out.add((str(dim.get("Name")), str(dim.get("Value"))))
        else:
            out.add((str(dim.name), str(dim.value)))
    return frozenset(out)


# --------------------------------------------------------------------------------------------
# Metric math
# --------------------------------------------------------------------------------------------


class AlarmExpressionError(ValueError):
    """A metric math expression this evaluator cannot compute."""


Series = list[float | None]


@dataclass(frozen=True)
class _Array:
    series: tuple[Series, ...]


_Value = float | Series | _Array
_MATH_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\S))")


class _MathParser:
    """Recursive descent over + - * / ^, parentheses, [arrays], ids and a few functions."""

    def __init__(self, text: str, lookup: Callable[[str], Series], all_metrics: Callable[[], list[Series]], width: int):
        self.tokens: list[tuple[str, str]] = []
        for number, name, other in _MATH_TOKEN.findall(text):
            if number:
                self.tokens.append(("num", number))
            elif name:
                self.tokens.append(("name", name))
            elif other:
                self.tokens.append(("op", other))
        self.pos = 0
        self.lookup = lookup
        self.all_metrics = all_metrics
        self.width = width

    def parse(self) -> _Value:
        value = self._expr()
        if self.pos != len(self.tokens):
            raise AlarmExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise AlarmExpressionError("unexpected end of expression")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise AlarmExpressionError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def _expr(self) -> _Value:
        value = self._term()
        while self._peek() in ("+", "-"):
            op = self._take()[1]
            value = _binary(value, self._term(), (lambda a, b: a + b) if op == "+" else (lambda a, b: a - b))
        return value

    def _term(self) -> _Value:
        value = self._unary()
        while self._peek() in ("*", "/"):
            op = self._take()[1]
            if op == "*":
                value = _binary(value, self._unary(), lambda a, b: a * b)
            else:
                value = _binary(value, self._unary(), lambda a, b: a / b if b else None)
        return value

    def _unary(self) -> _Value:
        if self._peek() == "-":
            self._take()
            return _binary(-1.0, self._unary(), lambda a, b: a * b)
        if self._peek() == "+":
            self._take()
            return self._unary()
        value = self._atom()
        if self._peek() == "^":
            self._take()
            value = _binary(value, self._unary(), lambda a, b: a**b)
        return value

    def _atom(self) -> _Value:
        kind, text = self._take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self._expr()
            self._take(")")
            return value
        if text == "[":
            items = [self._series(self._expr())]
            while self._peek() == ",":
                self._take()
                items.append(self._series(self._expr()))
            self._take("]")
            return _Array(tuple(items))
        if kind == "name":
            if self._peek() == "(":
                self._take()
                args: list[_Value | str] = []
                while self._peek() != ")":
                    if self._peek() in ("REPEAT", "LINEAR") and self.tokens[self.pos][0] == "name":
                        args.append(self._take()[1])
                    else:
                        args.append(self._expr())
                    if self._peek() == ",":
                        self._take()
                self._take(")")
                return self._call(text.upper(), args)
            return list(self.lookup(text))
        raise AlarmExpressionError(f"unexpected {text!r}")

    def _series(self, value: _Value) -> Series:
        if isinstance(value, _Array):
            raise AlarmExpressionError("nested arrays are not supported")
        if isinstance(value, float):
            return [value] * self.width
        return value

    def _call(self, name: str, args: list[_Value | str]) -> _Value:
        if name == "METRICS":
            return _Array(tuple(self.all_metrics()))
        if name in ("SUM", "AVG", "MIN", "MAX") and len(args) == 1 and not isinstance(args[0], str):
            return _aggregate(name, args[0])
        if name in ("ABS", "CEIL", "FLOOR") and len(args) == 1 and not isinstance(args[0], str):
            fns: dict[str, Callable[[float], float]] = {
                "ABS": abs,
                "CEIL": lambda v: float(math.ceil(v)),
                "FLOOR": lambda v: float(math.floor(v)),
            }
            fn = fns[name]
            return _binary(args[0], 0.0, lambda a, _b: fn(a))
        if name == "FILL" and len(args) == 2 and not isinstance(args[0], (str, float, _Array)):
            return _fill(args[0], args[1])
        raise AlarmExpressionError(f"function {name} with these arguments is not supported locally")


def _binary(left: _Value, right: _Value, op: Callable[[float, float], float | None]) -> _Value:
    if isinstance(left, _Array) or isinstance(right, _Array):
        raise AlarmExpressionError("arithmetic on arrays of time series is not supported")

    def apply(a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        try:
            value: Any = op(a, b)
        except (ArithmeticError, ValueError):
            return None
        if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
            return None  # e.g. a complex power of a negative number: no datapoint, as in CloudWatch
        return float(value)

    if isinstance(left, float) and isinstance(right, float):
        result = apply(left, right)
        return float("nan") if result is None else result
    width = len(left) if isinstance(left, list) else len(right)  # type: ignore[arg-type]
    lhs = left if isinstance(left, list) else [left] * width
    rhs = right if isinstance(right, list) else [right] * width
    return [apply(a, b) for a, b in zip(lhs, rhs, strict=True)]


def _aggregate(name: str, value: _Value) -> _Value:
    def combine(values: list[float]) -> float:
        if name == "SUM":
            return sum(values)
        if name == "AVG":
            return sum(values) / len(values)
        return min(values) if name == "MIN" else max(values)

    if isinstance(value, _Array):  # across series, per period
        out: Series = []
        for column in zip(*value.series, strict=True):
            present = [v for v in column if v is not None]
            out.append(combine(present) if present else None)
        return out
    if isinstance(value, list):  # one series -> one number
        present = [v for v in value if v is not None]
        return combine(present) if present else float("nan")
    return value


def _fill(series: Series, filler: _Value | str) -> Series:
    if filler == "REPEAT":
        out: Series = []
        last = next((v for v in series if v is not None), None)
        for v in series:
            last = v if v is not None else last
            out.append(last)
        return out
    if isinstance(filler, (float, list)):
        fill = filler if isinstance(filler, list) else [filler] * len(series)
        return [v if v is not None else f for v, f in zip(series, fill, strict=True)]
    raise AlarmExpressionError("FILL supports a number, a series or REPEAT locally")


# --------------------------------------------------------------------------------------------
# The decision: AWS's M out of N with missing data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation over the evaluation range (oldest slot first).

    `state` is None when the alarm keeps its current state; `evaluated` are the indices of the real
    datapoints evaluated; `filled` how many missing datapoints stood in, counted as breaching when
    TreatMissingData is `breaching`.
    """

    state: str | None
    evaluated: tuple[int, ...]
    breaching: int
    filled: int
    premature: bool = False


def decide(
    breaches: Sequence[bool | None],
    *,
    evaluation_periods: int,
    datapoints_to_alarm: int | None = None,
    treat_missing: str | None = "missing",
) -> Decision:
    """Alarm state from per-period breach flags (None = no datapoint), oldest first.

    Follows "How alarm state is evaluated when data is missing" in the CloudWatch guide:
    with at least N real datapoints in the range the newest N are evaluated and TreatMissingData
    does not matter; with none, `missing` gives INSUFFICIENT_DATA, `ignore` keeps the state,
    `breaching` ALARM and `notBreaching` OK; in between, missing datapoints fill up to N as the
    treatment says, and for `missing`/`ignore` the "premature alarm" rule applies: if every real
    datapoint breaches and the oldest is at least M periods old, the alarm goes to ALARM
    (`missing`) or keeps its state (`ignore`).
    """
    n = evaluation_periods
    m = datapoints_to_alarm or n
    treatment = treat_missing or "missing"
    real = [i for i, flag in enumerate(breaches) if flag is not None]
    if len(real) >= n:
        evaluated = tuple(real[-n:])
        count = sum(1 for i in evaluated if breaches[i])
        return Decision("ALARM" if count >= m else "OK", evaluated, count, 0)
    filled = n - len(real)
    real_breaching = sum(1 for i in real if breaches[i])
    if not real:
        state = {"missing": "INSUFFICIENT_DATA", "ignore": None, "breaching": "ALARM", "notBreaching": "OK"}.get(
            treatment, "INSUFFICIENT_DATA"
        )
        return Decision(state, (), filled if treatment == "breaching" else 0, filled)
    if treatment == "breaching":
        count = real_breaching + filled
        return Decision("ALARM" if count >= m else "OK", tuple(real), count, filled)
    if treatment == "notBreaching":
        return Decision("ALARM" if real_breaching >= m else "OK", tuple(real), real_breaching, filled)
    if real_breaching >= m:
        return Decision("ALARM", tuple(real), real_breaching, filled)
    oldest_age = len(breaches) - real[0]  # 1 = the newest period
    if real_breaching == len(real) and oldest_age >= m:
        return Decision("ALARM" if treatment == "missing" else None, tuple(real), real_breaching, filled, True)
    return Decision("OK", tuple(real), real_breaching, filled)


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmTransition:
    """One state change, with the notification AWS would have sent."""

    alarm_name: str
    alarm_arn: str
    old_state: str
    new_state: str
    reason: str
    reason_data: dict[str, Any]
    timestamp: datetime
    message: dict[str, Any]
    subject: str
    notified: tuple[str, ...] = ()
    failed_actions: tuple[str, ...] = ()
    datapoints: tuple[Datapoint, ...] = field(default=(), repr=False)


def _matching_datums(
    backend: CloudWatchBackend, namespace: str, name: str, dimensions: Any, unit: str | None
) -> list[tuple[datetime, MetricDatumBase]]:
    wanted = _dimension_key(dimensions)
    out: list[tuple[datetime, MetricDatumBase]] = []
    for datum in backend.get_all_metrics():
        if datum.namespace != namespace or datum.name != name:
            continue
        if _dimension_key(datum.dimensions) != wanted:
            continue  # CloudWatch matches the full dimension set, not a subset
        if unit and datum.unit != unit:
            continue
        out.append((_utc(datum.timestamp), datum))
    return out


class AlarmEvaluator:
    """Evaluates the metric alarms of one account and region in moto.

    `extra_periods` widens the evaluation range beyond EvaluationPeriods (AWS looks a few periods
    further back when recent datapoints are missing; it does not document how many).

    Only complete periods are evaluated, and they end at the evaluation minute, as AWS's alarm
    notifications show (a 300 s alarm evaluated at 11:03:03 reports 10:58, 10:53, 10:48): with now =
    12:03:30 the newest 60 s period is 12:02-12:03 and the newest 300 s period 11:58-12:03.
    High-resolution periods (10, 20, 30 s) end on their own boundary.
    """

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str | None = None,
        *,
        extra_periods: int = 0,
        emit_events: bool = True,
        before_evaluation: Callable[[datetime], None] | None = None,
    ) -> None:
        self.account_id = account_id
        # Metrics AWS publishes by itself each minute (SQS queue depth), brought up to `now` first.
        self.before_evaluation = before_evaluation
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.extra_periods = extra_periods
        self.emit_events = emit_events
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[tuple[str, str]] = set()

    @property
    def backend(self) -> CloudWatchBackend:
        return cloudwatch_backends[self.account_id][self.region]

    # -- data ------------------------------------------------------------------------------

    def _slots(self, period: int, count: int, now: datetime) -> list[datetime]:
        epoch = int(_utc(now).timestamp())
        end = epoch - epoch % (60 if period >= 60 else period)
        return [datetime.fromtimestamp(end - (count - i) * period, UTC) for i in range(count)]

    def _metric_series(
        self,
        *,
        namespace: str,
        name: str,
        dimensions: Any,
        stat: str,
        unit: str | None,
        slots: Sequence[datetime],
        period: int,
    ) -> list[Datapoint]:
        buckets: dict[int, list[MetricDatumBase]] = {}
        first = slots[0]
        last_end = slots[-1] + timedelta(seconds=period)
        for timestamp, datum in _matching_datums(self.backend, namespace, name, dimensions, unit):
            if first <= timestamp < last_end:
                buckets.setdefault(int((timestamp - first).total_seconds()) // period, []).append(datum)
        points: list[Datapoint] = []
        for index, start in enumerate(slots):
            datums = buckets.get(index, [])
            count = float(len([d for d in datums if isinstance(d, MetricDatum)])) + sum(
                float(d.sample_count) for d in datums if isinstance(d, MetricAggregatedDatum)
            )
            points.append(Datapoint(start, _statistic(stat, datums) if datums else None, count))
        return points

    def _period(self, alarm: Alarm) -> int:
        if alarm.period:
            return int(alarm.period)
        for query in alarm.metric_data_queries:
            if query.metric_stat is not None and query.metric_stat.period:
                return int(query.metric_stat.period)
            if query.period:
                return int(query.period)
        raise AlarmExpressionError(f"alarm {alarm.name} has no period")

    def datapoints(self, alarm: Alarm | str, now: datetime) -> list[Datapoint]:
        """The alarm's datapoints over its evaluation range before `now`, oldest first."""
        alarm = self.backend.alarms[alarm] if isinstance(alarm, str) else alarm
        period = self._period(alarm)
        slots = self._slots(period, int(alarm.evaluation_periods) + self.extra_periods, now)
        if not alarm.metric_data_queries:
            stat = alarm.extended_statistic or alarm.statistic
            return self._metric_series(
                namespace=alarm.namespace,
                name=alarm.metric_name,
                dimensions=alarm.dimensions,
                stat=stat,
                unit=alarm.unit,
                slots=slots,
                period=period,
            )
        return self._math_series(alarm, slots, period)

    def _math_series(self, alarm: Alarm, slots: Sequence[datetime], period: int) -> list[Datapoint]:
        queries = {q.id: q for q in alarm.metric_data_queries}
        cache_: dict[str, Series] = {}
        active: set[str] = set()

        def lookup(query_id: str) -> Series:
            if query_id in cache_:
                return cache_[query_id]
            query = queries.get(query_id)
            if query is None:
                raise AlarmExpressionError(f"unknown id {query_id!r}")
            if query_id in active:
                raise AlarmExpressionError(f"{query_id!r} refers to itself")
            active.add(query_id)
            if query.metric_stat is not None:
                stat = query.metric_stat
                points = self._metric_series(
                    namespace=stat.metric.namespace,
                    name=stat.metric.metric_name,
                    dimensions=stat.metric.dimensions,
                    stat=str(stat.stat),
                    unit=stat.unit,
                    slots=slots,
                    period=int(stat.period or period),
                )
                series: Series = [p.value for p in points]
            elif query.expression:
                value = _MathParser(query.expression, lookup, all_metrics, len(slots)).parse()
                if isinstance(value, _Array):
                    raise AlarmExpressionError(f"{query_id} returns several time series; an alarm needs one")
                series = value if isinstance(value, list) else [None if math.isnan(value) else value] * len(slots)
            else:
                raise AlarmExpressionError(f"query {query_id!r} has neither MetricStat nor Expression")
            active.discard(query_id)
            cache_[query_id] = series
            return series

        def all_metrics() -> list[Series]:
            return [lookup(q.id) for q in alarm.metric_data_queries if q.metric_stat is not None]

        returned = [q for q in alarm.metric_data_queries if q.return_data]
        if not returned:
            returned = [q for q in alarm.metric_data_queries if q.return_data is None and q.expression] or [
                alarm.metric_data_queries[-1]
            ]
        values = lookup(returned[0].id)
        return [Datapoint(start, value) for start, value in zip(slots, values, strict=True)]

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, now: datetime | None = None, *, changed_at: datetime | None = None) -> list[AlarmTransition]:
        """Evaluate every metric alarm at `now` (default: the real time); return the changes.

        `now` decides which periods are complete; `changed_at` (default `now`) is when a change
        happens: the StateChangeTime of the notification, the history item and the event. They
        differ when a caller looks a minute ahead to close the current period."""
        now = _utc(now or datetime.now(UTC))
        stamp = _utc(changed_at) if changed_at is not None else now
        if self.before_evaluation is not None:
            self.before_evaluation(now)
        transitions: list[AlarmTransition] = []
        with self._lock:
            for alarm in list(self.backend.alarms.values()):
                if alarm.rule is not None:
                    self._warn_once(alarm.name, "composite alarms are not evaluated locally")
                    continue
                try:
                    transition = self._evaluate(alarm, now, stamp)
                except AlarmExpressionError as exc:
                    self._warn_once(alarm.name, str(exc))
                    continue
                except Exception:  # one broken alarm must not stop the others
                    log.exception("alarm %s: evaluation failed", alarm.name)
                    continue
                if transition is not None:
                    transitions.append(transition)
        return transitions

    def evaluate_alarm(
        self, name: str, now: datetime | None = None, *, changed_at: datetime | None = None
    ) -> AlarmTransition | None:
        """Evaluate one alarm by name."""
        moment = _utc(now or datetime.now(UTC))
        with self._lock:
            return self._evaluate(self.backend.alarms[name], moment, _utc(changed_at) if changed_at else moment)

    def _warn_once(self, alarm_name: str, message: str) -> None:
        if (alarm_name, message) not in self._warned:
            self._warned.add((alarm_name, message))
            log.warning("alarm %s: %s", alarm_name, message)

    def _evaluate(self, alarm: Alarm, now: datetime, changed_at: datetime) -> AlarmTransition | None:
        if alarm.state_value == "OK" and alarm.state_reason == INITIAL_REASON and not alarm.history:
            alarm.state_value = "INSUFFICIENT_DATA"  # AWS's initial state; moto starts at OK
        if alarm.comparison_operator not in _COMPARISONS:
            raise AlarmExpressionError(f"comparison {alarm.comparison_operator} is not supported locally")
        compare, _ = _COMPARISONS[alarm.comparison_operator]
        threshold = float(alarm.threshold)
        points = self.datapoints(alarm, now)
        breaches = [None if p.value is None else compare(p.value, threshold) for p in points]
        treatment = alarm.treat_missing_data or "missing"
        if alarm.namespace == "AWS/DynamoDB":
            treatment = "ignore"  # documented: DynamoDB alarms always ignore missing data
        decision = decide(
            breaches,
            evaluation_periods=int(alarm.evaluation_periods),
            datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
            treat_missing=treatment,
        )
        new_state = decision.state
        if new_state is not None and self._low_samples(alarm, points, decision):
            new_state = None
        old_state = str(alarm.state_value)
        if new_state is None or new_state == old_state:
            return None
        return self._transition(
            alarm,
            now=now,
            changed_at=changed_at,
            old_state=old_state,
            new_state=new_state,
            decision=decision,
            points=points,
            treatment=treatment,
        )

    def _low_samples(self, alarm: Alarm, points: Sequence[Datapoint], decision: Decision) -> bool:
        if (alarm.evaluate_low_sample_count_percentile or "evaluate") != "ignore" or not alarm.extended_statistic:
            return False
        minimum = _low_sample_threshold(alarm.extended_statistic)
        return minimum is not None and any(points[i].sample_count < minimum for i in decision.evaluated)

    # -- what a transition does ------------------------------------------------------------

    def _reason(
        self,
        alarm: Alarm,
        *,
        new_state: str,
        old_state: str,
        decision: Decision,
        points: Sequence[Datapoint],
        treatment: str,
    ) -> str:
        n = int(alarm.evaluation_periods)
        m = int(alarm.datapoints_to_alarm or n)
        threshold = _number(float(alarm.threshold))
        phrase = _COMPARISONS[alarm.comparison_operator][1]
        if new_state == "INSUFFICIENT_DATA":
            return f"Insufficient Data: {_plural(n, 'datapoint')} {'was' if n == 1 else 'were'} unknown."
        label = "Breaching" if treatment == "breaching" else "NonBreaching"
        if not decision.evaluated:
            return (
                f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(decision.filled, 'missing datapoint')} {'was' if decision.filled == 1 else 'were'} "
                f"treated as [{label}]."
            )
        compare = _COMPARISONS[alarm.comparison_operator][0]
        evaluated = [points[i] for i in reversed(decision.evaluated)]  # newest first, as AWS lists them
        wanted_breach = new_state == "ALARM"
        threshold_value = float(alarm.threshold)
        shown = [p for p in evaluated if p.value is not None and compare(p.value, threshold_value) == wanted_breach]
        if not shown:
            shown, wanted_breach = evaluated, not wanted_breach
        listed = ", ".join(f"{_number(p.value or 0.0)} ({p.timestamp:%d/%m/%y %H:%M:%S})" for p in shown)
        verb = "was" if len(shown) == 1 else "were"
        text = (
            f"Threshold Crossed: {len(shown)} out of the last {len(evaluated)} datapoints [{listed}] {verb} "
            f"{'' if wanted_breach else 'not '}{phrase} the threshold ({threshold})"
        )
        if decision.filled and treatment in ("breaching", "notBreaching"):
            text += (
                f" and {_plural(decision.filled, 'missing datapoint')} "
                f"{'was' if decision.filled == 1 else 'were'} treated as [{label}]"
            )
        minimum = m if new_state == "ALARM" else 1
        return f"{text} (minimum {_plural(minimum, 'datapoint')} for {old_state} -> {new_state} transition)."

    def _reason_data(
        self, alarm: Alarm, now: datetime, decision: Decision, points: Sequence[Datapoint]
    ) -> dict[str, Any]:
        evaluated = [points[i] for i in decision.evaluated]
        data: dict[str, Any] = {
            "version": "1.0",
            "queryDate": _aws_time(now),
            "startDate": _aws_time(points[0].timestamp),
            "period": self._period(alarm),
            "recentDatapoints": [p.value for p in evaluated],
            "threshold": float(alarm.threshold),
            "evaluatedDatapoints": [
                {"timestamp": _aws_time(p.timestamp), "sampleCount": p.sample_count, "value": p.value}
                for p in reversed(evaluated)
            ],
        }
        if alarm.extended_statistic:
            data["extendedStatistic"] = alarm.extended_statistic
        elif alarm.statistic:
            data["statistic"] = alarm.statistic
        return data

    def _trigger(self, alarm: Alarm) -> dict[str, Any]:
        common: dict[str, Any] = {"Period": self._period(alarm), "EvaluationPeriods": int(alarm.evaluation_periods)}
        if alarm.datapoints_to_alarm:
            common["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
        common.update(
            {
                "ComparisonOperator": alarm.comparison_operator,
                "Threshold": float(alarm.threshold),
                "TreatMissingData": alarm.treat_missing_data or "",
                "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
            }
        )
        if alarm.metric_data_queries:
            metrics: list[dict[str, Any]] = []
            for query in alarm.metric_data_queries:
                item: dict[str, Any] = {"Id": query.id}
                if query.expression:
                    item["Expression"] = query.expression
                if query.label:
                    item["Label"] = query.label
                if query.metric_stat is not None:
                    stat = query.metric_stat
                    item["MetricStat"] = {
                        "Metric": {
                            "Dimensions": [{"value": d.value, "name": d.name} for d in stat.metric.dimensions],
                            "MetricName": stat.metric.metric_name,
                            "Namespace": stat.metric.namespace,
                        },
                        "Period": int(stat.period or common["Period"]),
                        "Stat": stat.stat,
                    }
                    if stat.unit:
                        item["MetricStat"]["Unit"] = stat.unit
                returns = query.return_data if query.return_data is not None else query.expression
                item["ReturnData"] = bool(returns)
                metrics.append(item)
            return {**common, "Metrics": metrics}
        head: dict[str, Any] = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace}
        if alarm.extended_statistic:
            head.update({"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic})
        else:
            statistic = _STATISTIC_NAMES.get(alarm.statistic, str(alarm.statistic).upper())
            head.update({"StatisticType": "Statistic", "Statistic": statistic})
        head["Unit"] = alarm.unit
        head["Dimensions"] = [{"value": d.value, "name": d.name} for d in alarm.dimensions]
        return {**head, **common}

    def _message(self, alarm: Alarm, now: datetime, old_state: str, new_state: str, reason: str) -> dict[str, Any]:
        return {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description or None,
            "AWSAccountId": self.account_id,
            "AlarmConfigurationUpdatedTimestamp": _aws_time(alarm.configuration_updated_timestamp),
            "NewStateValue": new_state,
            "NewStateReason": reason,
            "StateChangeTime": _aws_time(now),
            "Region": region_name(self.region),
            "AlarmArn": alarm.alarm_arn,
            "OldStateValue": old_state,
            "OKActions": list(alarm.ok_actions),
            "AlarmActions": list(alarm.alarm_actions),
            "InsufficientDataActions": list(alarm.insufficient_data_actions),
            "Trigger": self._trigger(alarm),
        }

    def _email_text(self, alarm: Alarm, message: Mapping[str, Any]) -> str:
        """The readable version CloudWatch sends to email subscribers (SNS message structure)."""
        when = datetime.strptime(message["StateChangeTime"][:19], "%Y-%m-%dT%H:%M:%S")
        stamp = f"{when:%A %d %B, %Y %H:%M:%S} UTC"
        trigger = message["Trigger"]
        n = int(alarm.evaluation_periods)
        m = int(alarm.datapoints_to_alarm or n)
        lines = [
            f'You are receiving this email because your Amazon CloudWatch Alarm "{alarm.name}" in the '
            f"{message['Region']} region has entered the {message['NewStateValue']} state, because "
            f'"{message["NewStateReason"]}" at "{stamp}".',
            "",
            "View this alarm in the AWS Management Console:",
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/deeplink.js?region={self.region}"
            f"#alarmsV2:alarm/{alarm.name}",
            "",
            "Alarm Details:",
            f"- Name:                       {alarm.name}",
            f"- Description:                {alarm.description or ''}",
            f"- State Change:               {message['OldStateValue']} -> {message['NewStateValue']}",
            f"- Reason for State Change:    {message['NewStateReason']}",
            f"- Timestamp:                  {stamp}",
            f"- AWS Account:                {self.account_id}",
            f"- Alarm Arn:                  {alarm.alarm_arn}",
            "",
            "Threshold:",
            f"- The alarm is in the ALARM state when the metric is {alarm.comparison_operator} "
            f"{_number(float(alarm.threshold))} for at least {m} of the last {n} period(s) of "
            f"{trigger['Period']} seconds.",
            "",
        ]
        if "Metrics" in trigger:
            lines.append("Monitored Metrics:")
            for item in trigger["Metrics"]:
                lines.append(f"- {item['Id']}: {item.get('Expression') or json.dumps(item.get('MetricStat'))}")
        else:
            dims = ", ".join(f"{d['name']} = {d['value']}" for d in trigger["Dimensions"])
            lines += [
                "Monitored Metric:",
                f"- MetricNamespace:                     {alarm.namespace}",
                f"- MetricName:                          {alarm.metric_name}",
                f"- Dimensions:                          [{dims}]",
                f"- Period:                              {trigger['Period']} seconds",
                f"- Statistic:                           {alarm.extended_statistic or alarm.statistic}",
                f"- Unit:                                {alarm.unit or 'not specified'}",
                f"- TreatMissingData:                    {alarm.treat_missing_data or 'missing'}",
            ]
        lines += [
            "",
            "State Change Actions:",
            *(
                f"- {state}: " + (f"[{', '.join(actions)}]" if actions else "none")
                for state, actions in (
                    ("OK", alarm.ok_actions),
                    ("ALARM", alarm.alarm_actions),
                    ("INSUFFICIENT_DATA", alarm.insufficient_data_actions),
                )
            ),
        ]
        return "\n".join(lines)

    def announce(self, alarm: Alarm, *, old_state: str, new_state: str, reason: str) -> None:
        """Run the actions and emit the event of a state change made through SetAlarmState, as AWS does
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html:
        "the alarm ... sends an SNS message")."""
        try:
            parsed = json.loads(alarm.state_reason_data or "{}")
        except (ValueError, TypeError):  # SetAlarmState takes any text as reason data
            parsed = {}
        self._announce(
            alarm,
            changed_at=datetime.now(UTC),
            old_state=old_state,
            new_state=new_state,
            reason=reason,
            reason_data=parsed if isinstance(parsed, dict) else {},
        )

    def _announce(
        self,
        alarm: Alarm,
        *,
        changed_at: datetime,
        old_state: str,
        new_state: str,
        reason: str,
        reason_data: dict[str, Any],
    ) -> tuple[dict[str, Any], str, list[str], list[str]]:
        """What every state change does, evaluated or set: the actions' notification and the
        EventBridge event. Returns (message, subject, notified, failed)."""
        message = self._message(alarm, changed_at, old_state, new_state, reason)
        subject = f'{new_state}: "{alarm.name}" in {region_name(self.region)}'[:100]
        notified, failed = self._run_actions(alarm, new_state, changed_at, message, subject)
        if self.emit_events:
            self._emit_event(
                alarm, now=changed_at, old_state=old_state, new_state=new_state, reason=reason, reason_data=reason_data
            )
        return message, subject, notified, failed

    def _transition(
        self,
        alarm: Alarm,
        *,
        now: datetime,
        changed_at: datetime,
        old_state: str,
        new_state: str,
        decision: Decision,
        points: Sequence[Datapoint],
        treatment: str,
    ) -> AlarmTransition:
        reason = self._reason(
            alarm, new_state=new_state, old_state=old_state, decision=decision, points=points, treatment=treatment
        )
        reason_data = self._reason_data(alarm, now, decision, points)
        self.backend.set_alarm_state(alarm.name, reason, json.dumps(reason_data), new_state)
        alarm.state_updated_timestamp = changed_at.replace(tzinfo=None)  # moto keeps naive UTC times
        log.info("alarm %s: %s -> %s (%s)", alarm.name, old_state, new_state, reason)
        message, subject, notified, failed = self._announce(
            alarm,
            changed_at=changed_at,
            old_state=old_state,
            new_state=new_state,
            reason=reason,
            reason_data=reason_data,
        )
        return AlarmTransition(
            alarm.name,
            alarm.alarm_arn,
            old_state,
            new_state,
            reason,
            reason_data,
            changed_at,
            message,
            subject,
            tuple(notified),
            tuple(failed),
            tuple(points),
        )

    def _run_actions(
        self, alarm: Alarm, state: str, now: datetime, message: dict[str, Any], subject: str
    ) -> tuple[list[str], list[str]]:
        if not alarm.actions_enabled:
            return [], []
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }
        notified: list[str] = []
        failed: list[str] = []
        records: list[dict[str, Any]] = getattr(alarm, _ACTIONS_ATTR, None) or []
        for arn in actions.get(state, []):
            ok, error = self._notify(alarm, arn, message, subject)
            (notified if ok else failed).append(arn)
            records.append(
                {
                    "timestamp": now,
                    "arn": arn,
                    "ok": ok,
                    "error": error,
                    "message": message,
                    "state_update_time": _aws_time(now),
                }
            )
        setattr(alarm, _ACTIONS_ATTR, records)
        return notified, failed

    def _notify(self, alarm: Alarm, arn: str, message: dict[str, Any], subject: str) -> tuple[bool, str | None]:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            log.warning("alarm %s: action %s is not supported locally (only SNS topics)", alarm.name, arn)
            return False, "only SNS actions are supported locally"
        from moto.sns.models import sns_backends

        from localcloud.iam import topic_publish_denial

        structured = json.dumps({"default": json.dumps(message), "email": self._email_text(alarm, message)})
        try:
            # CloudWatch publishes as the cloudwatch.amazonaws.com service principal: the topic's
            # policy (and its key's) must allow it, or AWS fails the action and says so in the history.
            denial = topic_publish_denial(arn, service="cloudwatch.amazonaws.com", source_arn=alarm.alarm_arn)
            if denial:
                log.warning("alarm %s: publishing to %s refused: %s", alarm.name, arn, denial)
                return False, denial.replace("cloudwatch.amazonaws.com", "CloudWatch Alarms", 1)
            sns_backends[parts[4]][parts[3]].publish(
                message=structured, arn=arn, subject=subject, message_structure="json"
            )
        except Exception as exc:  # a missing topic fails the action, as on AWS
            log.warning("alarm %s: publishing to %s failed: %s", alarm.name, arn, exc)
            return False, str(exc)
        return True, None

    def _emit_event(
        self, alarm: Alarm, *, now: datetime, old_state: str, new_state: str, reason: str, reason_data: dict[str, Any]
    ) -> None:
        from localcloud.events import deliver

        previous = alarm.history[-1] if alarm.history else None
        event = {
            "version": "0",
            "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change",
            "account": self.account_id,
            "time": _utc(now).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [alarm.alarm_arn],
            "detail": {
                "alarmName": alarm.name,
                "state": {
                    "value": new_state,
                    "reason": reason,
                    "reasonData": json.dumps(reason_data),
                    "timestamp": _aws_time(now),
                },
                "previousState": {
                    "value": old_state,
                    "reason": previous[1] if previous else INITIAL_REASON,
                    "timestamp": _aws_time(previous[4]) if previous else _aws_time(now),
                },
                "configuration": {
                    "description": alarm.description,
                    "metrics": self._trigger(alarm).get("Metrics")
                    or [
                        {
                            "id": "m1",
                            "metricStat": {
                                "metric": {
                                    "namespace": alarm.namespace,
                                    "name": alarm.metric_name,
                                    "dimensions": {d.name: d.value for d in alarm.dimensions},
                                },
                                "period": self._period(alarm),
                                "stat": alarm.extended_statistic or alarm.statistic,
                            },
                            "returnData": True,
                        }
                    ],
                },
            },
        }
        try:
            deliver(event, account_id=self.account_id, region=self.region)
        except Exception:
            log.exception("alarm %s: emitting the state-change event failed", alarm.name)

    # -- background thread -----------------------------------------------------------------

    def start(
        self,
        interval_seconds: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        *,
        initial_delay: bool = False,
    ) -> Self:
        """Evaluate every `interval_seconds` of real time on a daemon thread, at `clock()`
        (default: the real UTC time — the time stamped on metrics the functions emit). With
        `initial_delay`, the first evaluation waits one interval (the caller has just evaluated)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()

        def loop() -> None:
            if initial_delay:
                self._stop.wait(interval_seconds)
            while not self._stop.is_set():
                try:
                    self.evaluate(clock() if clock else None)
                except Exception:
                    log.exception("alarm evaluation failed")
                self._stop.wait(interval_seconds)

        self._thread = threading.Thread(target=loop, name="localcloud-alarms", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None


# --------------------------------------------------------------------------------------------
# describe_alarm_history, which moto does not implement
# --------------------------------------------------------------------------------------------


def alarm_history(backend: CloudWatchBackend, alarm_name: str | None = None) -> list[dict[str, Any]]:
    """AlarmHistoryItems (oldest first) rebuilt from moto's state history and the actions run here.

    moto's `Alarm.history` keeps the state *before* each `set_alarm_state`; the state after is the
    next entry (or the current state), which gives each StateUpdate's old and new state.
    """
    items: list[dict[str, Any]] = []
    for alarm in list(backend.alarms.values()):
        if alarm_name and alarm.name != alarm_name:
            continue
        alarm_type = "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": alarm_type,
                "Timestamp": _utc(alarm.configuration_updated_timestamp),
                "HistoryItemType": "ConfigurationUpdate",
                "HistorySummary": f'Alarm "{alarm.name}" created',
                "HistoryData": json.dumps({"type": "Create", "version": "1.0"}),
            }
        )
        states = [(h[1], h[2], h[3], h[4]) for h in alarm.history if h and h[0] == "StateUpdate"]
        states.append((alarm.state_reason, alarm.state_reason_data, alarm.state_value, alarm.state_updated_timestamp))
        for before, after in itertools.pairwise(states):
            old_value = "INSUFFICIENT_DATA" if before[0] == INITIAL_REASON else before[2]
            new_state: dict[str, Any] = {"stateValue": after[2], "stateReason": after[0]}
            try:
                if after[1]:
                    new_state["stateReasonData"] = json.loads(after[1])
            except ValueError:
                pass
            items.append(
                {
                    "AlarmName": alarm.name,
                    "AlarmType": alarm_type,
                    "Timestamp": _utc(after[3]),
                    "HistoryItemType": "StateUpdate",
                    "HistorySummary": f"Alarm updated from {old_value} to {after[2]}",
                    "HistoryData": json.dumps(
                        {
                            "version": "1.0",
                            "oldState": {"stateValue": old_value, "stateReason": before[0]},
                            "newState": new_state,
                        }
                    ),
                }
            )
        for record in getattr(alarm, _ACTIONS_ATTR, None) or []:
            verb = "Successfully executed" if record["ok"] else "Failed to execute"
            items.append(
                {
                    "AlarmName": alarm.name,
                    "AlarmType": alarm_type,
                    "Timestamp": _utc(record["timestamp"]),
                    "HistoryItemType": "Action",
                    "HistorySummary": f"{verb} action {record['arn']}",
                    "HistoryData": json.dumps(
                        {
                            "actionState": "Succeeded" if record["ok"] else "Failed",
                            "notificationResource": record["arn"],
                            "stateUpdateTimestamp": record["state_update_time"],
                            "publishedMessage": json.dumps(record["message"]),
                            **({"error": record["error"]} if record["error"] else {}),
                        }
                    ),
                }
            )
    items.sort(key=lambda item: item["Timestamp"])
    return items


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    """moto's missing `DescribeAlarmHistory` (filters: name, types, item type, dates, order, max)."""
    items = alarm_history(self.cloudwatch_backend, self._get_param("AlarmName"))
    types = self._get_param("AlarmTypes") or []
    item_type = self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    if types:
        items = [i for i in items if i["AlarmType"] in types]
    if item_type:
        items = [i for i in items if i["HistoryItemType"] == item_type]
    if start is not None:
        items = [i for i in items if i["Timestamp"] >= _utc(start)]
    if end is not None:
        items = [i for i in items if i["Timestamp"] <= _utc(end)]
    if (self._get_param("ScanBy") or "TimestampDescending") == "TimestampDescending":
        items.reverse()
    limit = self._get_int_param("MaxRecords") or 100
    return ActionResult({"AlarmHistoryItems": items[:limit]})


_moto_set_alarm_state = CloudWatchResponse.set_alarm_state


def _set_alarm_state(self: CloudWatchResponse) -> ActionResult:
    """SetAlarmState runs the new state's actions on AWS (a test alarm reaches the topic's subscribers);
    moto only records the state."""
    name = self._get_param("AlarmName")
    alarm = self.cloudwatch_backend.alarms.get(name)
    old_state = alarm.state_value if alarm is not None else None
    result = _moto_set_alarm_state(self)
    if alarm is not None and old_state is not None and alarm.state_value != old_state:
        evaluator = AlarmEvaluator(self.current_account, self.region)
        evaluator.announce(alarm, old_state=old_state, new_state=alarm.state_value, reason=alarm.state_reason)
    return result


def install() -> None:
    """Add `describe_alarm_history` to moto's CloudWatch API, and actions to `set_alarm_state`."""
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]
    CloudWatchResponse.set_alarm_state = _set_alarm_state  # type: ignore[method-assign]


def uninstall() -> None:
    if "describe_alarm_history" in vars(CloudWatchResponse):
        del CloudWatchResponse.describe_alarm_history  # type: ignore[attr-defined]
    CloudWatchResponse.set_alarm_state = _moto_set_alarm_state  # type: ignore[method-assign]


def is_installed() -> bool:
    return "describe_alarm_history" in vars(CloudWatchResponse)


@contextmanager
def installed() -> Iterator[None]:
    install()
    try:
        yield
    finally:
        uninstall()
