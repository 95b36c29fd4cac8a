"""`mlops runs` as a table a person can scan: one line a run (a failure's text cut to one line; the
whole of it is in `mlops runs RUN_ID`), the registered version's test metrics as columns, and
`--sort` / `--filter` over any column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from mlops.registry import run_query
from mlops.registry.run_query import RunsQueryError, best_first, sorted_rows
from mlops.training.metric_names import METRIC_DIRECTIONS

REASON_WIDTH = 72
PARAMS_WIDTH = 40
# Columns every run has, besides its metrics; `--sort`/`--filter` take these names or a metric's.
FIELDS = ("run_id", "status", "dataset", "started", "took", "version", "model", "reason")
# Sorted best or newest first unless --reverse: metrics by their direction, times newest, durations longest.
DESCENDING = frozenset({"started", "took", "version"})

Row = TypeVar("Row", bound=Mapping[str, Any])

__all__ = [
    "RunFilter",
    "RunsQueryError",
    "check_columns",
    "comparison_lines",
    "metric_columns",
    "params_text",
    "runs_table",
    "search_row",
    "sort_rows",
]


class RunFilter(run_query.RunFilter):
    """`status=failed`, `roc_auc>=0.95`, `dataset!=smoke-test`: the core's expression (one parser for
    `--filter`, `runs search` and the registry API), applied to a row of this table."""

    def keeps(self, row: Mapping[str, Any]) -> bool:
        return self.holds(column_value(row, self.column))


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
    descending = best_first(column) if column not in FIELDS else column in DESCENDING
    return sorted_rows(rows, column, column_value, descending=descending != reverse)


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
    """The header and one line per run; a PARAMS column (the chosen hyperparameters) when a run has them."""
    params = any(row.get("hyperparameters") for row in rows)
    header = f"{'RUN':<44} {'STATUS':<10} {'DATASET':<16} {'STARTED':<19}  {'TOOK':>6}  {'MODEL':<5}"
    header += "".join(f" {name.upper():>9}" for name in metrics)
    header += f" {'PARAMS':<{PARAMS_WIDTH}}" if params else ""
    return [header + " REASON", *(_line(row, metrics, params=params) for row in rows)]


def params_text(params: Mapping[str, Any] | None) -> str:
    """`max_depth=8 n_estimators=100`: hyperparameters by name, on one line."""
    return " ".join(f"{k}={_plain(v)}" for k, v in sorted((params or {}).items()))


def _plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "null" if value is None else str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _line(row: Mapping[str, Any], metrics: Sequence[str], *, params: bool = False) -> str:
    duration = "" if row.get("duration_seconds") is None else f"{row['duration_seconds']:.0f} s"
    version = f"v{row['version']}" if row.get("version") is not None else "-"
    values = "".join(f" {_metric_text((row.get('metrics') or {}).get(name)):>9}" for name in metrics)
    if params:
        values += f" {one_line(params_text(row.get('hyperparameters')) or '-', PARAMS_WIDTH):<{PARAMS_WIDTH}}"
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


def search_row(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run as GET /v1/runs answers it, as a row of this table."""
    from datetime import datetime

    took = None
    if run.get("started_at") and run.get("finished_at"):
        took = (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    return {
        "run_id": run["run_id"],
        "status": run.get("status"),
        "dataset": run.get("dataset"),
        "started_at": run.get("started_at"),
        "duration_seconds": took,
        "version": run.get("version"),
        "model": run.get("model"),
        "reason": run.get("reason"),
        "failure_reason": run.get("failure_reason"),
        "metrics": run.get("metrics") or {},
        "hyperparameters": run.get("hyperparameters") or {},
    }


def comparison_lines(document: Mapping[str, Any], *, only_differences: bool = False) -> list[str]:
    """GET /v1/runs/{a}/compare/{b} for a person: the notes first (different datasets above all),
    then one line per value with `*` where the runs differ and which run a metric favours."""
    a, b = document["a"], document["b"]
    lines = [f"A: {a['run_id']} ({a.get('dataset') or '-'}, {a.get('status')})"]
    lines.append(f"B: {b['run_id']} ({b.get('dataset') or '-'}, {b.get('status')})")
    lines += [f"NOTE: {note}" for note in document.get("notes") or []]
    lines.append(f"  {'SECTION':<16} {'NAME':<28} {'A':<28} B")
    section = None
    for row in document["rows"]:
        if only_differences and not row["differs"]:
            continue
        name = row["name"][:12] if row["section"] == "data versions" else row["name"]
        shown = row["section"] if row["section"] != section else ""
        section = row["section"]
        better = {"a": "  A better", "b": "  B better"}.get(row.get("better") or "", "")
        mark = "*" if row["differs"] else " "
        a_value, b_value = (
            (str(row["a"] or "-")[:19], str(row["b"] or "-")[:19]) if row["name"] == "started" else (row["a"], row["b"])
        )
        line = f"{mark} {shown:<16} {one_line(name, 28):<28} {_compared(a_value):<28} {_compared(b_value):<28}"
        lines.append((line + better).rstrip())
    lines.append(f"  ({document.get('differences', 0)} differences, marked *)")
    return lines


def _compared(value: Any) -> str:
    """A compared value in 28 characters: numbers to 6 figures, a candidate as its status or metrics."""
    if isinstance(value, Mapping):
        if value.get("status"):
            return one_line(f"{value['status']}: {value.get('error') or ''}", 28)
        figures = " ".join(f"{k}={_metric_text(v)}" for k, v in value.items() if k != "estimator")
        return one_line(figures, 28)
    if isinstance(value, float):
        return f"{value:.6g}"
    return one_line("-" if value is None else _plain(value), 28)
