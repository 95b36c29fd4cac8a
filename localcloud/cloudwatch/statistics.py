"""Statistics over moto's stored datapoints, which moto's own GetMetricStatistics gets wrong for alarms.

moto's `get_metric_statistics` ignores `ExtendedStatistics` (no percentiles), starts its periods at
the first datapoint instead of on period boundaries, and matches dimensions as a subset (a query for
{A} also returns data put with {A, B}); `get_metric_data` with a `p99` stat fails to serialise. So the
alarm evaluator reads moto's stored datapoints and computes the statistics here.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend, MetricAggregatedDatum, MetricDatum, MetricDatumBase

from localcloud.cloudwatch.metric_math import AlarmExpressionError
from localcloud.cloudwatch.times import utc

log = logging.getLogger(__name__)


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


def statistic(stat: str, datums: Sequence[MetricDatumBase]) -> float | None:
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


def low_sample_threshold(stat: str) -> float | None:
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


def dimension_key(dimensions: Any) -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for dim in dimensions or []:
        if isinstance(dim, Mapping):
            out.add((str(dim.get("Name")), str(dim.get("Value"))))
        else:
            out.add((str(dim.name), str(dim.value)))
    return frozenset(out)


def matching_datums(
    backend: CloudWatchBackend, namespace: str, name: str, dimensions: Any, unit: str | None
) -> list[tuple[datetime, MetricDatumBase]]:
    wanted = dimension_key(dimensions)
    out: list[tuple[datetime, MetricDatumBase]] = []
    for datum in backend.get_all_metrics():
        if datum.namespace != namespace or datum.name != name:
            continue
        if dimension_key(datum.dimensions) != wanted:
            continue  # CloudWatch matches the full dimension set, not a subset
        if unit and datum.unit != unit:
            continue
        out.append((utc(datum.timestamp), datum))
    return out


def alarm_period(alarm: Alarm) -> int:
    """The period, in seconds, an alarm's metric (or each of its metric math queries) is read in."""
    if alarm.period:
        return int(alarm.period)
    for query in alarm.metric_data_queries:
        if query.metric_stat is not None and query.metric_stat.period:
            return int(query.metric_stat.period)
        if query.period:
            return int(query.period)
    raise AlarmExpressionError(f"alarm {alarm.name} has no period")
