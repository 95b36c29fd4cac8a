"""Issue #19's figure: joining 1M captured predictions with 1M labels and computing one window's
metrics with the platform's numpy code (mlops.monitoring.labels, mlops.monitoring.performance),
against the same join and metrics in pandas + scikit-learn in the same run (target: 5x faster,
metrics equal to 1e-9), and the platform's peak memory for it (target: within the drift
function's 3,008 MB).

The traffic, as production makes it: one hour of requests of 1 to 4 rows of a binary classifier,
each with a UUIDv7 request id minted by predict's own `new_request_id` at the request's millisecond.
Six containers answer, each writing a capture batch every 5,000 rows, rows in answer order (answers
leave 1 to 30 ms after the id was minted, so ids are nearly, not exactly, in order); a version's
batches follow each other by write time. A shadow answers 10 % of the requests too: those rows are
captured twice, in the shadow's batches, and a label reaches both. Probabilities are float32, as
the ONNX model answers and capture stores them. Labels arrive shuffled: 90 % of the answered rows
get one, 5 % of the labels name ids that were never captured, and the rest label a row again later
(a correction, or an intake sent twice), which the later label wins.

Times: the median of `repeats` runs each, one thread, the two taking turns after a warm-up run of
each. Where the platform's time goes is measured alongside (reading the ids, the join, the metrics).
Memory: tracemalloc's peak above the inputs (numpy reports its buffers to tracemalloc), plus the
inputs themselves for the comparison with the function's memory.

    python -m bench performance            # full run (~1 min)
    python -m bench performance --quick    # 20,000 rows: checks the harness
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench.bench_drift import load, peak_mb, timed
from bench.figures import Figure, speedup
from mlops.monitoring.labels import Labels, join_labels, read_request_ids, rows_within_requests
from mlops.monitoring.performance import performance_metrics
from mlops.serving.request_ids import new_request_id
from mlops.training.evaluation import compute_metrics

BENCHMARK = "performance"
BASELINE = "pandas merge + scikit-learn metrics"
SPEEDUP_TARGET = 5.0
AGREEMENT_TARGET = 1e-9
FUNCTION_MB = 3008  # the drift function's memory, as #19 puts it; the performance function that joins has as much
SEED = 20261205
HOUR_MS = 3_600_000
START_MS = 1_798_761_600_000  # 2027-01-01T00:00Z
CONTAINERS = 6
BATCH_ROWS = 5_000
SHADOW_SHARE = 0.1
LABELLED_SHARE = 0.9
UNKNOWN_SHARE = 0.05


@dataclass(frozen=True)
class Scale:
    rows: int  # captured rows, and labels
    repeats: int


FULL = Scale(rows=1_000_000, repeats=5)
QUICK = Scale(rows=20_000, repeats=3)


@dataclass(frozen=True)
class Traffic:
    request_ids: NDArray[np.str_]
    proba: NDArray[np.float32]
    labels: Labels

    @property
    def nbytes(self) -> int:
        labels = self.labels
        return sum(a.nbytes for a in (self.request_ids, self.proba, labels.request_ids, labels.rows, labels.values))


def mint(rng: np.random.Generator, at_ms: NDArray[np.int64]) -> NDArray[np.str_]:
    """UUIDv7 request ids as predict mints them, one per millisecond given."""
    tails = rng.bytes(10 * at_ms.size)
    return np.array([new_request_id(ms, tails[10 * i : 10 * i + 10]) for i, ms in enumerate(at_ms.tolist())])


def capture_order(
    requests: NDArray[np.int64], sizes: NDArray[np.int64], answered: NDArray[np.int64], container: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The request of each captured row of one version, in the order its batches hold them: each
    container appends a request's rows in answer order and writes a batch every BATCH_ROWS rows;
    batches are read in the order they were written."""
    requests = requests[np.lexsort((answered[requests], container[requests]))]
    rows = sizes[requests]
    starts = np.flatnonzero(np.r_[True, container[requests][1:] != container[requests][:-1]])
    before = np.cumsum(rows) - rows
    batch = (before - np.repeat(before[starts], np.diff(np.r_[starts, requests.size]))) // BATCH_ROWS
    key = container[requests] * (requests.size + 1) + batch
    written = np.zeros(int(key.max()) + 1, dtype=np.int64)
    np.maximum.at(written, key, answered[requests])
    requests = requests[np.lexsort((answered[requests], written[key]))]
    return np.repeat(requests, sizes[requests])


def make_traffic(scale: Scale) -> Traffic:
    rng = np.random.default_rng(SEED)
    sizes = rng.integers(1, 5, size=scale.rows)
    shadowed = rng.random(scale.rows) < SHADOW_SHARE
    n = int(np.searchsorted(np.cumsum(sizes * (1 + shadowed)), scale.rows)) + 1
    sizes, shadowed = sizes[:n], shadowed[:n]
    minted = np.sort(rng.integers(START_MS, START_MS + HOUR_MS, size=n))
    ids = mint(rng, minted)
    answered = minted + rng.integers(1, 31, size=n)
    container = rng.integers(0, CONTAINERS, size=n)
    champion = capture_order(np.arange(n), sizes, answered, container)
    shadow = capture_order(np.flatnonzero(shadowed), sizes, answered, container)
    request_of = np.concatenate([champion, shadow])[: scale.rows]
    request_ids = ids[request_of]
    rows = rows_within_requests(request_ids)
    truth = (rng.random((n, 4)) < 0.3)[request_of, rows]
    score = np.clip(rng.normal(np.where(truth, 0.65, 0.35), 0.2), 0.0, 1.0)
    shadow_score = np.clip(rng.normal(np.where(truth, 0.6, 0.4), 0.25), 0.0, 1.0)
    answered_by_shadow = np.arange(scale.rows) >= champion.size
    score[answered_by_shadow] = shadow_score[answered_by_shadow]
    proba = np.column_stack([(1 - score).astype(np.float32), score.astype(np.float32)])
    # Labels: one for 90 % of the champion's rows (a shadow's copy of a row is the same row),
    # 5 % about ids never captured, and the rest again for rows already labelled, later.
    labelled = np.flatnonzero((rng.random(scale.rows) < LABELLED_SHARE) & ~answered_by_shadow)
    unknown = int(scale.rows * UNKNOWN_SHARE)
    again = rng.choice(labelled, size=scale.rows - labelled.size - unknown, replace=True)
    unknown_ids = mint(rng, rng.integers(START_MS, START_MS + HOUR_MS, size=unknown))
    first_ids = np.concatenate([request_ids[labelled], unknown_ids])
    first_rows = np.concatenate([rows[labelled], rng.integers(0, 4, size=unknown)])
    first_values = np.concatenate([truth[labelled], rng.random(unknown) < 0.5]).astype(np.int64)
    order = rng.permutation(first_ids.size)
    labels = Labels(
        np.concatenate([first_ids[order], request_ids[again]]),
        np.concatenate([first_rows[order], rows[again]]),
        np.concatenate([first_values[order], truth[again].astype(np.int64)]),
    )
    return Traffic(request_ids, proba, labels)


def platform(traffic: Traffic) -> dict[str, float | None]:
    joined = join_labels(traffic.request_ids, traffic.labels)
    proba = np.take(traffic.proba, joined.captured, axis=0)  # whole rows: ~15x faster than proba[rows]
    return performance_metrics("binary", joined.labels.astype(np.int64), proba.argmax(axis=1), proba, 2)


def baseline(traffic: Traffic) -> dict[str, float | None]:
    captured = pd.DataFrame(
        {
            "request_id": traffic.request_ids,
            "row": rows_within_requests(traffic.request_ids),
            "p0": traffic.proba[:, 0],
            "p1": traffic.proba[:, 1],
            "at": np.arange(len(traffic.request_ids)),
        }
    )
    labels = pd.DataFrame(
        {"request_id": traffic.labels.request_ids, "row": traffic.labels.rows, "label": traffic.labels.values}
    ).drop_duplicates(["request_id", "row"], keep="last")
    joined = captured.merge(labels, on=["request_id", "row"]).sort_values("at")
    proba = joined[["p0", "p1"]].to_numpy(np.float64)  # training's metrics read float64 probabilities
    return compute_metrics("binary", joined["label"].to_numpy(), proba.argmax(axis=1), proba, 2)


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeats))


def breakdown(traffic: Traffic, repeats: int) -> dict[str, float]:
    """Where the platform's time goes: reading the ids as numbers, the whole join, the metrics."""
    joined = join_labels(traffic.request_ids, traffic.labels)
    proba = np.take(traffic.proba, joined.captured, axis=0)
    y = joined.labels.astype(np.int64)
    predicted = proba.argmax(axis=1)
    return {
        "reading ids": median_time(
            lambda: (read_request_ids(traffic.request_ids), read_request_ids(traffic.labels.request_ids)), repeats
        ),
        "join": median_time(lambda: join_labels(traffic.request_ids, traffic.labels), repeats),
        "metrics": median_time(lambda: performance_metrics("binary", y, predicted, proba, 2), repeats),
    }


def run(quick: bool) -> list[Figure]:
    scale = QUICK if quick else FULL
    traffic = make_traffic(scale)
    before = load()
    platform(traffic), baseline(traffic)  # warm both: imports, first-touch allocations
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(scale.repeats):  # taking turns, so a load change on a shared machine hits both
        ours.append(timed(lambda: platform(traffic)))
        theirs.append(timed(lambda: baseline(traffic)))
    during = f"{before} -> {load()}"
    parts = breakdown(traffic, scale.repeats)
    measured = platform(traffic)
    expected = baseline(traffic)
    differences = {name: abs((measured[name] or 0.0) - value) for name, value in expected.items() if value is not None}
    worst = max(differences, key=differences.__getitem__)
    memory = peak_mb(lambda: platform(traffic))
    baseline_memory = peak_mb(lambda: baseline(traffic))
    inputs = traffic.nbytes / 1e6
    data = (
        f"{scale.rows:,} captured rows (UUIDv7 ids, 6 containers' batches, 10 % also shadowed) x "
        f"{len(traffic.labels.rows):,} labels (90 % of rows labelled, 5 % unknown ids, the rest again); "
        f"median of {scale.repeats} after a warm-up, 1 thread; platform "
        + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in parts.items())
        + f"; {during}"
    )
    return [
        speedup(
            BENCHMARK,
            "join labels with captured predictions and compute one window's metrics: time",
            statistics.median(ours),
            "s",
            baseline=BASELINE,
            baseline_value=statistics.median(theirs),
            target_ratio=SPEEDUP_TARGET,
            data=data,
        ),
        Figure(
            BENCHMARK,
            "max abs metric difference from scikit-learn",
            differences[worst],
            "",
            target=f"<= {AGREEMENT_TARGET:g}",
            met=differences[worst] <= AGREEMENT_TARGET,
            data=f"worst {worst}: {measured[worst]} vs {expected[worst]}; metrics {', '.join(sorted(expected))}",
        ),
        Figure(
            BENCHMARK,
            "join and metrics: peak extra memory",
            memory,
            "MB",
            baseline=BASELINE,
            baseline_value=baseline_memory,
            ratio=baseline_memory / memory if memory > 0 else None,
            target=f"<= {FUNCTION_MB} MB with the inputs",
            met=memory + inputs <= FUNCTION_MB,
            data=f"tracemalloc peak above the inputs ({inputs:,.0f} MB); the drift function has {FUNCTION_MB:,} MB",
        ),
    ]
