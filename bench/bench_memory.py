"""The predict function's memory size, chosen by measurement (issue #21: "the smallest size whose p99
stays within 10 % of 1,769 MB").

Lambda allots CPU in proportion to the configured memory, one vCPU's worth at 1,769 MB
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). This benchmark EMULATES
that proportional share; it is not Lambda. Each memory size M runs the whole predict handler in a
fresh process (`bench_inference.run_child`, the environment of its cold-start figure) that puts
itself, before importing anything of the handler's, in a cgroup v1 `cpu` group with
`cfs_quota_us = cfs_period_us x M / 1769`, pinned to one CPU (`sched_setaffinity`: at 1,769 MB the
quota is that whole CPU, so 1,769 MB is one unthrottled vCPU). How Firecracker throttles a
function's vCPU (its period, any burst) is not documented, so every size is measured under two CFS
periods, 100 ms (Linux's default) and 20 ms, reported side by side. The group's `cpu.shares` is
raised so that, within its quota, the child is not starved by the other work on this shared
2-core machine (a Lambda vCPU is not shared with other tenants' work this way); the load average
before and after is in each figure's data, with the group's throttling counts.

In each process, as AWS Lambda Power Tuning measures a size (sequential invocations of one
environment, https://github.com/alexcasalboni/aws-lambda-power-tuning): the cold start (import
plus the first request, which reads the alias and the artifacts from a moto server on loopback, in
the parent and so outside the quota, as DynamoDB and S3 are outside a function's), then 1-row
requests back to back, then 100-row requests back to back (distinct rows each, capture at the
deployment's default rate), each timed around `handler(event, context)`; the first few of each are
not counted. Back to back is the strict case: a real environment idles between invocations (the
Runtime API round trip, the client's own gaps), which lets its quota refill. Rounds take turns
over the sizes so the machine's load drifts over all of them alike. Last, one request of 1,000 rows
(the serving limit) is answered, and the process's peak RSS (VmHWM) is read: the memory the chosen
size must hold.

The choice: per period, the smallest size from which every larger size keeps the warm p99 of the
1-row and of the 100-row request within 10 % of 1,769 MB's in the same run; then the larger of the
two periods' choices, and no smaller than twice the peak RSS seen (the headroom rule: a bigger
model, a 1,000-row request with explain, a heap grown over a long-lived container all add to it).

    python -m bench memory            # full run: 7 sizes x 2 periods x 3 rounds (about 5 minutes)
    python -m bench memory --quick    # 2 sizes, few requests, small forest: checks the harness
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import bench_inference as inference
from bench import bench_training as training
from bench.figures import Figure, speedup
from mlops.serving.inputs import MAX_ROWS
from mlops.training.prepare import prepare

BENCHMARK = "memory"
ONE_VCPU_MB = 1769  # https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
P99_TOLERANCE = 1.10  # issue #21: p99 within 10 % of 1,769 MB's
HEADROOM = 2.0  # the chosen size holds at least twice the measured peak RSS
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
BASELINE = "1,769 MB (one vCPU), same run and period"
REQUEST_ROWS = (1, 100)


@dataclass(frozen=True)
class Scale:
    fit: training.Scale
    sizes_mb: tuple[int, ...]  # ascending, ending with ONE_VCPU_MB (the baseline)
    periods_us: tuple[int, ...]
    calls: Mapping[int, int]  # timed requests per process, by request rows
    warmup: int  # requests of each size not counted, after the first
    rounds: int  # fresh processes per size and period, taking turns over the sizes


FULL = Scale(
    fit=training.FULL,
    sizes_mb=(256, 512, 768, 1024, 1280, 1536, ONE_VCPU_MB),
    periods_us=(100_000, 20_000),
    calls={1: 2_000, 100: 200},
    warmup=20,
    rounds=3,
)
QUICK = Scale(
    fit=training.QUICK,
    sizes_mb=(768, ONE_VCPU_MB),
    periods_us=(100_000, 20_000),
    calls={1: 40, 100: 6},
    warmup=2,
    rounds=1,
)

# Between the prelude (which starts the clock) and the handler's import: into the cgroup, onto one
# CPU, so every import and request of the handler runs within the emulated share.
_JOIN_SHARE = """\
import os
(Path(args["cgroup"]) / "cgroup.procs").write_text(str(os.getpid()))
os.sched_setaffinity(0, {args["cpu"]})
"""
# After the cold start's timings: the warm requests back to back, then the largest request, the
# peak RSS and the group's throttling counts.
_WARM = """\
events = json.loads((root / args["events"]).read_text())
context = Context()
durations = {}
for rows, batch in events["timed"].items():
    times = []
    for event in batch:
        begun = time.perf_counter_ns()
        response = handler_module.handler(event, context)
        times.append(time.perf_counter_ns() - begun)
        if response["statusCode"] != 200:
            raise SystemExit(f"{rows} rows: answered {response['statusCode']}: {response['body'][:300]}")
    durations[rows] = times
result["durations_ns"] = durations
response = handler_module.handler(events["largest"], context)
if response["statusCode"] != 200:
    raise SystemExit(f"the largest request answered {response['statusCode']}: {response['body'][:300]}")
status = Path("/proc/self/status").read_text()
result["final_peak_rss_mb"] = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) / 1024
result["cpu_stat"] = dict(l.split() for l in (Path(args["cgroup"]) / "cpu.stat").read_text().splitlines())
result["cpu_stat"] = {k: int(v) for k, v in result["cpu_stat"].items()}
"""
MEMORY_CHILD = _JOIN_SHARE + inference.HANDLER_CHILD + inference._SUFFIX + _WARM


def cpu_share_unavailable() -> str | None:
    """Why this machine cannot emulate a CPU share (no cgroup v1 cpu controller, not writable), or None."""
    if not sys.platform.startswith("linux") or not hasattr(os, "sched_setaffinity"):
        return f"needs Linux cgroups and sched_setaffinity ({sys.platform})"
    if not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {CGROUP_CPU} (cgroup v2 or none)"
    probe = CGROUP_CPU / f"bench-memory-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        return f"cannot create a cgroup under {CGROUP_CPU}: {error.strerror} (needs root)"
    return None


@contextlib.contextmanager
def cpu_share(memory_mb: int, period_us: int) -> Iterator[Path]:
    """A cgroup whose CFS quota is the CPU Lambda documents for `memory_mb` (a vCPU at 1,769 MB),
    over `period_us`; removed afterwards (its process has exited by then)."""
    group = CGROUP_CPU / f"bench-memory-{os.getpid()}-{memory_mb}-{period_us}-{uuid.uuid4().hex[:6]}"
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(max(1000, period_us * memory_mb // ONE_VCPU_MB)))
        (group / "cpu.shares").write_text("8192")  # 8x a nice-0 task: the quota, not the neighbours, limits it
        yield group
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()


def percentile_ms(durations_ns: Sequence[int], q: float) -> float:
    return float(np.percentile(np.asarray(durations_ns, dtype=np.float64), q)) / 1e6


def smallest_within(p99_ms: Mapping[int, Mapping[int, float]], tolerance: float = P99_TOLERANCE) -> int:
    """The smallest size from which every larger size keeps each request size's p99 within
    `tolerance` x the 1,769 MB p99 (`p99_ms[size][rows]`); ONE_VCPU_MB when none smaller does."""
    baseline = p99_ms[ONE_VCPU_MB]
    chosen = ONE_VCPU_MB
    for size in sorted(p99_ms, reverse=True):
        if all(p99_ms[size][rows] <= tolerance * baseline[rows] for rows in baseline):
            chosen = size
        else:
            break
    return chosen


@dataclass
class Cell:
    """What every process of one size and period measured."""

    runs: list[dict[str, Any]]

    def durations(self, rows: int, warmup: int) -> list[int]:
        return [d for run in self.runs for d in run["durations_ns"][str(rows)][warmup:]]

    def median(self, key: str) -> float:
        return float(statistics.median(float(run[key]) for run in self.runs))

    def throttled(self) -> str:
        periods = sum(run["cpu_stat"]["nr_periods"] for run in self.runs)
        throttled = sum(run["cpu_stat"]["nr_throttled"] for run in self.runs)
        seconds = sum(run["cpu_stat"]["throttled_time"] for run in self.runs) / 1e9
        return f"throttled in {throttled:,} of {periods:,} periods ({seconds:.1f} s)"


def measure(scale: Scale) -> tuple[dict[tuple[int, int], Cell], inference.Published, str]:
    """Fit and publish the default config's random forest, then run every size and period in turns."""
    arrays, columns = training.synthetic(scale.fit.rows)
    config = training.platform_config(scale.fit)
    prepared = prepare(arrays, columns, config)
    [candidate] = [c for c in config.candidates if c.estimator == "random_forest"]
    fitted = training.fit_and_export(candidate, prepared, config)
    model = inference.publishable("synthetic-rf", fitted, prepared, config, columns)
    rows_by_size = {rows: inference.sample_rows(prepared, arrays, rows, calls) for rows, calls in scale.calls.items()}
    largest = inference.sample_rows(prepared, arrays, MAX_ROWS, 1)

    def event(records: list[dict[str, Any]]) -> dict[str, Any]:
        return inference.proxy_event(model.name, inference.request_body(records), str(uuid.uuid4()))

    events = {
        "timed": {str(rows): [event(r) for r in sampled.records] for rows, sampled in rows_by_size.items()},
        "largest": event(largest.records[0]),
    }
    cpu = max(os.sched_getaffinity(0))
    cells: dict[tuple[int, int], Cell] = {(p, m): Cell([]) for p in scale.periods_us for m in scale.sizes_mb}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, inference.moto_server([model]) as handler_env:
        root = Path(tmp)
        (root / "events.json").write_text(json.dumps(events))
        env = inference._child_env(handler_env, pycache=root / "pycache")
        before = training.load()
        # One unmeasured process first: it writes the bytecode every measured one then reads, as a
        # function's layers ship it precompiled, and warms the page cache.
        with cpu_share(ONE_VCPU_MB, scale.periods_us[0]) as group:
            inference.run_child("memory", _args(root, group, cpu, event(rows_by_size[1].records[0])), env, MEMORY_CHILD)
        for _ in range(scale.rounds):
            for period in scale.periods_us:
                for size in scale.sizes_mb:
                    with cpu_share(size, period) as group:
                        args = _args(root, group, cpu, event(rows_by_size[1].records[0]))
                        result = inference.run_child("memory", args, env, MEMORY_CHILD)
                    if result["status"] != 200:
                        raise RuntimeError(f"{size} MB: the first request answered {result['status']}")
                    cells[(period, size)].runs.append(result)
        window = f"load {before}->{training.load()} on {os.cpu_count()} CPUs, the child pinned to CPU {cpu}"
    return cells, model, window


def _args(root: Path, group: Path, cpu: int, first: dict[str, Any]) -> dict[str, Any]:
    return {
        "root": str(root),
        "cgroup": str(group),
        "cpu": cpu,
        "module": "handlers.predict",
        "event": first,
        "events": "events.json",
    }


def figures_from(
    cells: Mapping[tuple[int, int], Cell], model: inference.Published, window: str, scale: Scale
) -> list[Figure]:
    figures: list[Figure] = []
    choices: dict[int, int] = {}
    for period in scale.periods_us:
        label = f"{period // 1000} ms CFS period"
        base = cells[(period, ONE_VCPU_MB)]
        p99: dict[int, dict[int, float]] = {}
        for size in scale.sizes_mb:
            cell = cells[(period, size)]
            quota = f"quota {period * size // ONE_VCPU_MB / 1000:.1f} of {period / 1000:g} ms"
            data = f"{len(cell.runs)} processes; {quota}; {cell.throttled()}; {window}"
            p99[size] = {}
            for rows in REQUEST_ROWS:
                mine, theirs = cell.durations(rows, scale.warmup), base.durations(rows, scale.warmup)
                what = f"{label}, {size} MB: warm handler, {rows} row{'s' if rows > 1 else ''}"
                for q in (50, 99):
                    value, baseline = percentile_ms(mine, q), percentile_ms(theirs, q)
                    figures.append(
                        speedup(
                            BENCHMARK,
                            f"{what}, p{q}",
                            value,
                            "ms",
                            baseline=BASELINE,
                            baseline_value=baseline,
                            data=f"{len(mine):,} requests back to back; {data}",
                        )
                    )
                p99[size][rows] = percentile_ms(mine, 99)
            figures.append(
                speedup(
                    BENCHMARK,
                    f"{label}, {size} MB: cold start (import + first request)",
                    cell.median("total_ms"),
                    "ms",
                    baseline=BASELINE,
                    baseline_value=base.median("total_ms"),
                    data=f"median of {len(cell.runs)}: import {cell.median('import_ms'):.0f} + first request "
                    f"{cell.median('first_ms'):.0f} ms; {quota}",
                )
            )
        choices[period] = smallest_within(p99)
        ratios = ", ".join(
            f"{size} MB " + " / ".join(f"{p99[size][r] / p99[ONE_VCPU_MB][r]:.2f}x" for r in REQUEST_ROWS)
            for size in scale.sizes_mb
        )
        figures.append(
            Figure(
                BENCHMARK,
                f"{label}: smallest size with warm p99 (1 and 100 rows) within 10 % of 1,769 MB's",
                float(choices[period]),
                "MB",
                baseline=BASELINE,
                baseline_value=float(ONE_VCPU_MB),
                ratio=ONE_VCPU_MB / choices[period],
                ratio_meaning="baseline / value (GB-seconds per millisecond of duration)",
                target=f"p99 <= {P99_TOLERANCE:g}x 1,769 MB's",
                data=f"p99 against 1,769 MB's (1 row / 100 rows): {ratios}",
            )
        )
    peak = max(run["final_peak_rss_mb"] for cell in cells.values() for run in cell.runs)
    cold_peak = max(run["peak_rss_mb"] for cell in cells.values() for run in cell.runs)
    by_cpu = max(choices.values())
    floor = next((s for s in scale.sizes_mb if s >= HEADROOM * peak), ONE_VCPU_MB)
    chosen = max(by_cpu, floor)
    figures += [
        Figure(
            BENCHMARK,
            "predict handler peak RSS (cold start, warm requests and one 1,000-row request)",
            peak,
            "MB",
            target=f"<= {100 / HEADROOM:g} % of the chosen size ({chosen / HEADROOM:.0f} MB)",
            met=peak <= chosen / HEADROOM,
            data=f"the child's VmHWM (MiB), largest of every process; {cold_peak:.0f} MiB after the cold start; "
            f"the forest's ONNX {len(model.fitted.onnx_bytes) / 1e6:.1f} MB",
        ),
        Figure(
            BENCHMARK,
            "predict memory size chosen (both periods, and at least 2x peak RSS)",
            float(chosen),
            "MB",
            baseline="1,769 MB (the default before this measurement)",
            baseline_value=float(ONE_VCPU_MB),
            ratio=ONE_VCPU_MB / chosen,
            ratio_meaning="baseline / value (GB-seconds per millisecond of duration)",
            data="by CPU: "
            + ", ".join(f"{p // 1000} ms period {c} MB" for p, c in choices.items())
            + f"; by memory: {floor} MB",
        ),
    ]
    return figures


def run(quick: bool) -> list[Figure]:
    scale = QUICK if quick else FULL
    unavailable = cpu_share_unavailable()
    if unavailable is not None:
        return inference.not_available(unavailable, "predict memory size by emulated CPU share", BENCHMARK)
    cells, model, window = measure(scale)
    return figures_from(cells, model, window, scale)
