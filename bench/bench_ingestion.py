"""Reading and validating an upload at scale: the platform against pandera and Great Expectations.

Data (``bench.ingestion_data``): 1,000,000 rows x 20 columns (ids checked by a regex and for
uniqueness, six bounded ints, eight bounded floats, two categories with allowed values, a free text,
a bool, a date with a format and bounds), seeded, as CSV and as Parquet, clean and with 5 % of every
column's cells bad (out of range, not allowed, unparseable, null, regex misses, repeated ids). The
files are generated once into ``${XDG_CACHE_HOME:-~/.cache}/serverless-mlops/bench-data/``.

The same checks, three ways (``bench.ingestion_checks``, which documents each equivalence and where
there is none): the platform's contract through ``read_table`` + ``validate``; a pandera
``DataFrameSchema`` (``lazy=True``) and a Great Expectations 1.x suite on a pandas data source
(ephemeral context, SUMMARY results with 20 examples), both after ``pandas.read_csv(engine="pyarrow")``
or ``pandas.read_parquet``. Each tool x format x clean/dirty runs in a fresh process
(``bench.ingestion_scenario``): the time is read + validate, from the file's bytes in memory, best of
3 (a tool's imports and its schema, suite or context are built before timing); the memory is the
peak RSS during read + validate minus the RSS right before reading, from the first attempt, against
the loaded frame's ``memory_usage(deep=True)``.

A run that has not finished after ``CAP_S`` seconds is stopped; its time is then a lower bound, and so
is the ratio, which the figure says. Further attempts are made only while they fit in that budget.

The issue's targets: at least 1.5x faster than pandera on clean data and 3x on dirty data, 6x faster
than Great Expectations, and peak extra memory at most 2x the loaded frame. Each tool's findings on
the dirty files are checked against the generator's record of the bad cells (counts per column and
kind, the rows named); disagreements are reported in the figure and, in full, on stderr.

    python -m bench ingestion            # full run (about an hour: the baselines are slow on dirty data)
    python -m bench ingestion --quick    # 20,000 rows, one attempt, one process per tool
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import ingestion_checks as checks
from bench import ingestion_data as data
from bench.figures import Figure

BENCHMARK = "ingestion"
ROOT = Path(__file__).resolve().parents[1]
FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000
CAP_S = 600.0  # one scenario's budget; a first attempt still running then is stopped (a lower bound)
QUICK_CAP_S = 60.0
STARTUP_S = 300.0  # imports on a loaded machine (Great Expectations alone takes 10 s or more)
SPEED_TARGETS = {("pandera", "clean"): 1.5, ("pandera", "dirty"): 3.0}
GE_TARGET = 6.0
MEMORY_TARGET = 2.0
FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet"}


@dataclass
class Outcome:
    """One tool on one file: the attempts that finished, or why there are none."""

    tool: str
    path: Path
    status: str = "not run"  # ok, timeout, failed, unavailable, not run
    attempts: list[dict[str, Any]] = field(default_factory=list)
    setup_s: float | None = None
    lower_bound_s: float | None = None
    reason: str = ""
    load: float | None = None  # the 1-minute load average when the file's first attempt started

    @property
    def best(self) -> dict[str, Any]:
        return min(self.attempts, key=lambda a: float(a["total_s"]))

    @property
    def first(self) -> dict[str, Any]:
        return self.attempts[0]


# -- running the scenario processes -------------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "functions"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "GX_ANALYTICS_ENABLED": "false"}


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_tool(tool: str, paths: list[Path], *, repeat: int, cap: float) -> dict[Path, Outcome]:
    """Run ``tool`` on ``paths`` in child processes, starting a new one after a child is stopped."""
    outcomes = {path: Outcome(tool, path) for path in paths}
    pending = list(paths)
    while pending:
        _run_child(tool, pending, outcomes, repeat=repeat, cap=cap)
        pending = [p for p in pending if outcomes[p].status == "not run"]
        if any(outcomes[p].status in ("unavailable", "failed") for p in paths):
            for path in pending:
                outcomes[path].status, outcomes[path].reason = "failed", "an earlier file's process failed"
            break
    return outcomes


def _run_child(tool: str, paths: list[Path], outcomes: dict[Path, Outcome], *, repeat: int, cap: float) -> None:
    command = [sys.executable, "-m", "bench.ingestion_scenario", "--tool", tool, "--repeat", str(repeat)]
    command += ["--cap", str(cap)]
    for path in paths:
        command += ["--file", str(path)]
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        current: Path | None = None
        started = time.monotonic()
        deadline = started + STARTUP_S
        setup_s: float | None = None
        stopped = False
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                process.kill()
                process.wait()
                stopped = True
                break
            if line is None:
                break
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                kind = event.get("event")
                if kind == "ready":
                    setup_s = event["setup_s"]
                elif kind == "unavailable":
                    for path in paths:
                        outcomes[path].status, outcomes[path].reason = "unavailable", event["reason"]
                elif kind == "start":
                    current = Path(event["file"])
                    started = time.monotonic()
                    deadline = started + cap
                    outcomes[current].setup_s = setup_s
                    outcomes[current].load = os.getloadavg()[0]
                elif kind == "attempt":
                    outcome = outcomes[Path(event["file"])]
                    outcome.attempts.append(event)
                    outcome.status = "ok"
                    deadline = time.monotonic() + cap + 60.0  # the child only starts attempts that fit the cap
        process.wait()
        if stopped and current is not None and not outcomes[current].attempts:
            outcome = outcomes[current]
            outcome.status = "timeout"
            outcome.lower_bound_s = time.monotonic() - started
            outcome.reason = f"stopped after {outcome.lower_bound_s:.0f} s without finishing one read + validate"
        elif stopped and current is None:
            for path in paths:
                outcomes[path].status, outcomes[path].reason = "failed", "did not start in time"
        elif process.returncode != 0:
            stderr.seek(0)
            tail = (stderr.read().strip().splitlines() or ["?"])[-1]
            for path in paths:
                if outcomes[path].status == "not run":
                    outcomes[path].status, outcomes[path].reason = "failed", f"exit {process.returncode}: {tail}"


# -- figures ------------------------------------------------------------------------------------------------------


def _mb(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f} MB"


def _seconds(outcome: Outcome) -> str:
    load = f", load {outcome.load:.2f}" if outcome.load is not None else ""
    if outcome.status == "ok":
        best = outcome.best
        attempts = len(outcome.attempts)
        return f"read {best['read_s']:.2f} s + validate {best['validate_s']:.2f} s (best of {attempts}{load})"
    if outcome.status == "timeout":
        return f"did not finish one run in {outcome.lower_bound_s:.0f} s{load}"
    return outcome.status + (f": {outcome.reason}" if outcome.reason else "")


def speed_figure(mine: Outcome, other: Outcome, label: str, target: float, load: str, rows: int) -> Figure:
    fmt, state = mine.path.suffix.lstrip("."), mine.path.stem
    name = f"{FORMAT_LABELS[fmt]} {state}: read + validate vs {checks.LABELS[other.tool]}"
    baseline = f"{checks.LABELS[other.tool]} ({label})"
    details = f"{rows:,} rows x 20 columns; platform {_seconds(mine)}; {checks.LABELS[other.tool]} {_seconds(other)}"
    details += f"; {load}"
    if mine.status != "ok":
        return Figure(BENCHMARK, name, float("nan"), "s", baseline=baseline, target=f">= {target:g}x", data=details)
    value = float(mine.best["total_s"])
    if other.status == "ok":
        base = float(other.best["total_s"])
        ratio = base / value
        return Figure(
            BENCHMARK,
            name,
            value,
            "s",
            baseline,
            base,
            ratio,
            target=f">= {target:g}x",
            met=ratio >= target,
            data=details,
        )
    if other.status == "timeout" and other.lower_bound_s is not None:
        base = other.lower_bound_s
        ratio = base / value
        details = (
            f"LOWER BOUND: {checks.LABELS[other.tool]} was stopped after {base:.0f} s, "
            f"so its time and the ratio are at least these; {details}"
        )
        return Figure(
            BENCHMARK,
            name + " (lower bound)",
            value,
            "s",
            baseline + ", stopped: at least",
            base,
            ratio,
            target=f">= {target:g}x",
            met=True if ratio >= target else None,
            data=details,
        )
    return Figure(BENCHMARK, name, value, "s", baseline=baseline, target=f">= {target:g}x", data=details)


def memory_figure(mine: Outcome, others: list[Outcome]) -> Figure:
    fmt, state = mine.path.suffix.lstrip("."), mine.path.stem
    name = f"{FORMAT_LABELS[fmt]} {state}: peak extra memory / loaded frame (platform)"
    parts = []
    for other in others:
        if other.status == "ok" and other.first["peak_extra_mb"] is not None:
            first = other.first
            parts.append(
                f"{checks.LABELS[other.tool]} {_mb(first['peak_extra_mb'])} "
                f"({first['peak_extra_mb'] / first['frame_mb']:.1f}x its {_mb(first['frame_mb'])} frame)"
            )
        else:
            parts.append(f"{checks.LABELS[other.tool]} not measured ({other.status})")
    if mine.status != "ok" or mine.first["peak_extra_mb"] is None:
        return Figure(BENCHMARK, name, float("nan"), "MB", target=f"<= {MEMORY_TARGET:g}x", data="; ".join(parts))
    first = mine.first
    peak, frame = float(first["peak_extra_mb"]), float(first["frame_mb"])
    ratio = peak / frame
    details = (
        f"peak RSS during read + validate minus RSS before reading, first run in a fresh process; "
        f"read alone {_mb(first['read_peak_extra_mb'])}; input file {_mb(_input_mb(mine.path))}; " + "; ".join(parts)
    )
    return Figure(
        BENCHMARK,
        name,
        peak,
        "MB",
        baseline="loaded frame (memory_usage deep)",
        baseline_value=frame,
        ratio=ratio,
        ratio_meaning="value / baseline",
        target=f"<= {MEMORY_TARGET:g}x",
        met=ratio <= MEMORY_TARGET,
        data=details,
    )


def _input_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def equivalence_figure(tool: str, fmt: str, outcomes: dict[tuple[str, str, str], Outcome], truth: Any) -> Figure:
    name = f"{FORMAT_LABELS[fmt]} dirty: checks agreeing with the generator's bad cells ({checks.LABELS[tool]})"
    dirty, clean = outcomes[(tool, fmt, "dirty")], outcomes[(tool, fmt, "clean")]
    if dirty.status != "ok":
        return Figure(BENCHMARK, name, 0.0, "checks (not validated)", data=f"dirty file: {_seconds(dirty)}")
    found = dirty.first["findings"]
    judged = checks.verdicts(tool, truth, found)
    agreeing = [v for v in judged if v.status != "disagrees"]
    by_definition = [v for v in judged if v.status == "by_definition"]
    wrong = [v for v in judged if v.status == "disagrees"]
    notes = [f"{len(by_definition)} differ only by definition (see bench/ingestion_checks.py)"] if by_definition else []
    notes += [f"{v.column}.{v.kind}: {v.text}" for v in _summarized(wrong)]
    if clean.status == "ok":
        false_alarms = checks.verdicts(tool, {}, clean.first["findings"])
        if false_alarms:
            notes.append(
                "clean file: " + ", ".join(f"{v.column}.{v.kind}: {v.text}" for v in _summarized(false_alarms))
            )
        else:
            notes.append("clean file: no failures")
    return Figure(
        BENCHMARK,
        name,
        float(len(agreeing)),
        f"of {len(judged)} checks",
        baseline="generator's record of the bad cells",
        target=f"all {len(judged)}",
        met=not wrong,
        data="; ".join(notes).replace("|", "/"),
    )


def _summarized(judged: list[checks.Verdict]) -> list[checks.Verdict]:
    """Group columns that failed the same way (int_0..int_5 alike) so the note stays short."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for verdict in judged:
        family = data.family(verdict.column)
        grouped.setdefault((family, verdict.kind, verdict.text), []).append(verdict.column)
    out = []
    for (_, kind, text), columns in grouped.items():
        column = columns[0] if len(columns) == 1 else f"{columns[0]}..{columns[-1]} ({len(columns)} columns)"
        out.append(checks.Verdict(column, kind, 0, None, "disagrees", text))
    return out


# -- the detailed comparison on stderr --------------------------------------------------------------------------------


def print_comparison(outcomes: dict[tuple[str, str, str], Outcome], truth: dict[str, dict[str, int]]) -> None:
    """Per column and kind: the generator's count, and what each tool reported on each dirty file."""
    tools = [t for t in checks.TOOLS if any(o.tool == t and o.status == "ok" for o in outcomes.values())]
    header = ["column", "kind", "generator"] + [
        f"{checks.LABELS[t]} {FORMAT_LABELS[f]}" for t in tools for f in data.FORMATS
    ]
    rows: list[list[str]] = []
    judged: dict[tuple[str, str], dict[tuple[str, str], checks.Verdict]] = {}
    for tool in tools:
        for fmt in data.FORMATS:
            outcome = outcomes[(tool, fmt, "dirty")]
            if outcome.status == "ok":
                found = outcome.first["findings"]
                judged[(tool, fmt)] = {(v.column, v.kind): v for v in checks.verdicts(tool, truth, found)}
    keys: list[tuple[str, str]] = []
    for verdict_map in judged.values():
        keys += [k for k in verdict_map if k not in keys]
    for column, kind in sorted(
        keys, key=lambda k: (data.column_names().index(k[0]) if k[0] in data.column_names() else 99, k[1])
    ):
        want = truth.get(column, {}).get(kind)
        if kind == "min+max":
            want = truth.get(column, {}).get("min", 0) + truth.get(column, {}).get("max", 0)
        row = [column, kind, "" if want is None else str(want)]
        for tool in tools:
            for fmt in data.FORMATS:
                verdict = judged.get((tool, fmt), {}).get((column, kind))
                if verdict is None:
                    row.append("")
                else:
                    mark = {"agrees": "", "by_definition": " (by definition)", "disagrees": " !!"}[verdict.status]
                    if verdict.text.startswith("not evaluated"):
                        shown = "error"
                    elif verdict.found is None:
                        shown = "column fails" if verdict.text.startswith("column-level") else "none"
                    else:
                        shown = str(verdict.found)
                    row.append(shown + mark)
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(
        "\ningestion: what each tool reported on the dirty files (!! = disagrees with the generator)", file=sys.stderr
    )
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=sys.stderr)
    for (tool, fmt), verdict_map in judged.items():
        wrong = [v for v in verdict_map.values() if v.status == "disagrees"]
        for verdict in _summarized(wrong):
            print(
                f"  {checks.LABELS[tool]} {FORMAT_LABELS[fmt]}: {verdict.column}.{verdict.kind}: {verdict.text}",
                file=sys.stderr,
            )


def print_scenarios(outcomes: dict[tuple[str, str, str], Outcome]) -> None:
    print("\ningestion: scenarios (time best of the attempts; memory from the first)", file=sys.stderr)
    for (tool, fmt, state), outcome in outcomes.items():
        line = f"  {checks.LABELS[tool]:18} {fmt:7} {state:5} {_seconds(outcome)}"
        if outcome.status == "ok":
            first = outcome.first
            line += (
                f"; peak extra {_mb(first['peak_extra_mb'])} (read {_mb(first['read_peak_extra_mb'])}), "
                f"frame {_mb(first['frame_mb'])}; setup {outcome.setup_s or 0:.1f} s"
            )
        print(line, file=sys.stderr)


# -- the benchmark --------------------------------------------------------------------------------------------------


def _load() -> tuple[float, float]:
    one, five, _ = os.getloadavg()
    return one, five


def run(quick: bool) -> list[Figure]:
    rows = QUICK_ROWS if quick else FULL_ROWS
    started = time.perf_counter()
    dataset = data.ensure(rows)
    print(f"ingestion: data in {dataset.directory} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    files = {(fmt, state): dataset.path(state, fmt) for fmt in data.FORMATS for state in data.STATES}
    load_before = _load()
    outcomes: dict[tuple[str, str, str], Outcome] = {}
    if quick:
        # The harness check, kept under a minute: one process per tool, the three side by side, and the
        # baselines (slow on dirty data even at this size) on the CSV files only.
        chosen = {t: [p for (f, _), p in files.items() if t == "platform" or f == "csv"] for t in checks.TOOLS}
        with ThreadPoolExecutor(max_workers=len(checks.TOOLS)) as pool:
            jobs = {t: pool.submit(run_tool, t, chosen[t], repeat=1, cap=QUICK_CAP_S) for t in checks.TOOLS}
            for tool, job in jobs.items():
                done = job.result()
                for (fmt, state), path in files.items():
                    outcomes[(tool, fmt, state)] = done.get(path) or Outcome(tool, path, reason="not run in --quick")
    else:
        # A fresh process per scenario, one at a time; the platform first, so slow runs cannot disturb it.
        for tool in checks.TOOLS:
            for (fmt, state), path in files.items():
                done = run_tool(tool, [path], repeat=3, cap=CAP_S)
                outcomes[(tool, fmt, state)] = done[path]
                print(f"ingestion: {tool} {fmt} {state}: {_seconds(done[path])}", file=sys.stderr)
    load_after = _load()
    load = (
        f"1-min load average {load_before[0]:.2f} before the run, {load_after[0]:.2f} after, "
        f"'load' at each scenario's start; {os.cpu_count()} cores"
    )
    print(f"ingestion: {load}", file=sys.stderr)
    truth = dataset.truth()
    print_scenarios(outcomes)
    print_comparison(outcomes, truth)
    figures: list[Figure] = []
    for fmt in data.FORMATS:
        for state in data.STATES:
            mine = outcomes[("platform", fmt, state)]
            pandera_label = (
                'pd.read_csv(engine="pyarrow") + DataFrameSchema, lazy'
                if fmt == "csv"
                else "pd.read_parquet + DataFrameSchema, lazy"
            )
            ge_label = (
                'pd.read_csv(engine="pyarrow") + suite, SUMMARY' if fmt == "csv" else "pd.read_parquet + suite, SUMMARY"
            )
            figures.append(
                speed_figure(
                    mine,
                    outcomes[("pandera", fmt, state)],
                    pandera_label,
                    SPEED_TARGETS[("pandera", state)],
                    load,
                    rows,
                )
            )
            figures.append(
                speed_figure(mine, outcomes[("great_expectations", fmt, state)], ge_label, GE_TARGET, load, rows)
            )
            others = [outcomes[(t, fmt, state)] for t in checks.TOOLS if t != "platform"]
            figures.append(memory_figure(mine, others))
    for tool in checks.TOOLS:
        for fmt in data.FORMATS:
            figures.append(equivalence_figure(tool, fmt, outcomes, truth))
    return figures
