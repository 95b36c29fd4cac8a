"""`mlops runs` as a table a person can scan: one line a run (a failure's text cut to one line; the
whole of it is in `mlops runs RUN_ID`), the registered version's test metrics as columns, and
`--sort` / `--filter` over any column."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops.training.metric_names import METRIC_DIRECTIONS

REASON_WIDTH = 72
# Columns every run has, besides its metrics; `--sort`/`--filter` take these names or a metric's.
FIELDS = ("run_id", "status", "dataset", "started", "took", "version", "model", "reason")
# Sorted best or newest first unless --reverse: metrics by their direction, times newest, durations longest.
DESCENDING = frozenset({"started", "took", "version"})
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")


Row = TypeVar("Row", bound=Mapping[str, Any])


class RunsQueryError(ValueError):
    """A --sort or --filter the table cannot apply; the message names the columns there are."""


@dataclass(frozen=True)
class RunFilter:
    """`status=failed`, `roc_auc>=0.95`, `dataset!=smoke-test`: a column, an operator and a value."""

    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        matched = _FILTER.match(text)
        if matched is None:
            raise RunsQueryError(
                f"--filter {text!r}: write COLUMN OP VALUE, e.g. status=failed or roc_auc>=0.95 "
                f"(operators: {', '.join(_OPERATORS)})"
            )
        return cls(*matched.groups())

    def keeps(self, row: Mapping[str, Any]) -> bool:
        value = column_value(row, self.column)
        if value is None:
            return self.op == "!="
        wanted: Any = self.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                wanted = float(self.value.removeprefix("v"))
            except ValueError:
                raise RunsQueryError(f"--filter {self.column}: {self.value!r} is not a number") from None
        elif self.op not in ("=", "!="):
            value, wanted = str(value), str(self.value)
        else:
            return (str(value) == self.value) == (self.op == "=")
        return bool(_OPERATORS[self.op](value, wanted))


def column_value(row: Mapping[str, Any], column: str) -> Any:
    """A row's value in a column: its own fields under their table names, or one of its metrics."""
    named = {"started": "started_at", "took": "duration_seconds"}
    if column in FIELDS:
        return row.get(named.get(column, column))
    return (row.get("metrics") or {}).get(column)


def check_columns(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a --sort or --filter column that is no field and no metric of any run shown."""
    metrics = sorted({name for row in rows for name in row.get("metrics") or {}} | set(METRIC_DIRECTIONS))
    for column in columns:
        if column not in FIELDS and column not in metrics:
            raise RunsQueryError(f"no column {column!r}: the columns are {', '.join(FIELDS)} and the metrics")


def sort_rows(rows: Sequence[Row], column: str, *, reverse: bool = False) -> list[Row]:
    """Best first for a metric (by its direction), newest/longest first for times; runs without
    the value last either way."""
    descending = METRIC_DIRECTIONS.get(column, "max") == "max" if column not in FIELDS else column in DESCENDING
    descending = descending != reverse
    present = [r for r in rows if column_value(r, column) is not None]
    missing = [r for r in rows if column_value(r, column) is None]
    present.sort(key=lambda r: _sortable(column_value(r, column)), reverse=descending)
    return present + missing


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def one_line(text: str | None, width: int = REASON_WIDTH) -> str:
    """Text on one line, cut to `width` with an ellipsis (a traceback in a failure reason included)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def metric_columns(rows: Sequence[Mapping[str, Any]], wanted: Sequence[str] | None = None) -> list[str]:
    """The metric columns: those asked for, or every metric a shown run has, by name."""
    if wanted:
        return list(wanted)
    return sorted({name for row in rows for name in row.get("metrics") or {}})


def runs_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> list[str]:
    """The header and one line per run."""
    header = f"{'RUN':<44} {'STATUS':<10} {'DATASET':<16} {'STARTED':<19}  {'TOOK':>6}  {'MODEL':<5}"
    header += "".join(f" {name.upper():>9}" for name in metrics) + " REASON"
    return [header, *(_line(row, metrics) for row in rows)]


def _line(row: Mapping[str, Any], metrics: Sequence[str]) -> str:
    duration = "" if row.get("duration_seconds") is None else f"{row['duration_seconds']:.0f} s"
    version = f"v{row['version']}" if row.get("version") is not None else "-"
    values = "".join(f" {_metric_text((row.get('metrics') or {}).get(name)):>9}" for name in metrics)
    why = row.get("reason") or ""
    if row.get("failure_reason"):
        why = f"{why}; failed: {row['failure_reason']}" if why else f"failed: {row['failure_reason']}"
    return (
        f"{row['run_id']:<44} {row['status']:<10} {row.get('dataset') or '-':<16} "
        f"{str(row.get('started_at') or '')[:19]:<19}  {duration:>6}  {version:<5}{values} {one_line(why)}"
    ).rstrip()


def _metric_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
