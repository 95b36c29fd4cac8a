"""Bootstrap intervals of the performance metrics (issue #19): how sure a check is of a version's
live figure, on the inference layer (numpy only, no scipy).

Each resample is a row of counts (how often each labelled row was drawn), and every metric of a
block of resamples is computed at once from the counts: the mean-type metrics (accuracy, log loss,
Brier, MAE, RMSE, R²) as one matrix product each, macro F1 from per-class sums, AUC as the
Mann-Whitney statistic over the rows sorted by score once (ties counted half, as
`mlops.monitoring.performance` counts them). With counts of ones a resample is the rows themselves,
and the figures equal `performance_metrics` (a test holds them to 1e-9).

The work is bounded: at most `MAX_RESAMPLES` resamples of at most `max_resample_rows(resamples)`
rows, built `CHUNK_CELLS` counts at a time. Above that many labelled rows the resamples are drawn
from a seeded random subsample of that size, and their spread around the subsample's own figure is
scaled by sqrt(subsample / rows) (an m-out-of-n bootstrap, valid for these smooth statistics whose
error shrinks as one over the root of the row count) and centred on the figure of every row.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.performance import Metrics, ProblemType, performance_metrics

DEFAULT_RESAMPLES = 1000
MAX_RESAMPLES = 10_000
CELL_BUDGET = 20_000_000  # resample x row counts per interval: bounds the time a version's figures take
CHUNK_CELLS = 1_000_000  # counts held at once (8 MB of float64; a few such arrays per block)
MIN_RESAMPLE_ROWS = 1_000
MAX_RESAMPLE_ROWS = 100_000
# Where each metric can lie: a scaled interval is kept inside it.
RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "f1_macro": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "log_loss": (0.0, math.inf),
    "mae": (0.0, math.inf),
    "rmse": (0.0, math.inf),
    "r2": (-math.inf, 1.0),
}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Bootstrap:
    """The intervals of one set of labelled rows, and how they were drawn."""

    intervals: dict[str, Interval | None]  # None: the metric is undefined on too many resamples
    resamples: int
    rows: int  # rows per resample: every labelled row, or the subsample's
    scale: float  # sqrt(rows / labelled rows): 1 unless subsampled


def max_resample_rows(resamples: int) -> int:
    """The most rows a resample draws when `resamples` are drawn: the cell budget shared out."""
    return min(MAX_RESAMPLE_ROWS, max(MIN_RESAMPLE_ROWS, CELL_BUDGET // max(resamples, 1)))


def bootstrap_intervals(
    problem_type: ProblemType,
    y_true: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    n_classes: int | None,
    point: Metrics,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> Bootstrap:
    """Percentile intervals at `confidence` of each metric in `point` (the figures of every row,
    as `performance_metrics` gives them; classes as indices)."""
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be between 1 and {MAX_RESAMPLES}, not {resamples}")
    n = int(y_true.size)
    if n == 0:
        return Bootstrap({}, 0, 0, 1.0)
    m = min(n, max_resample_rows(resamples))
    centre, scale = point, 1.0
    if m < n:
        kept = np.sort(rng.choice(n, size=m, replace=False))
        y_true, predictions = y_true[kept], predictions[kept]
        proba = proba[kept] if proba is not None else None
        centre, scale = performance_metrics(problem_type, y_true, predictions, proba, n_classes), math.sqrt(m / n)
    drawn: dict[str, list[NDArray[np.float64]]] = {}
    block = max(1, CHUNK_CELLS // m)
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        picks = rng.integers(0, m, size=(size, m)) + (np.arange(size) * m)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * m).reshape(size, m).astype(np.float64)
        for name, values in resampled_metrics(problem_type, y_true, predictions, proba, n_classes, counts).items():
            drawn.setdefault(name, []).append(values)
        done += size
    tail = (1.0 - confidence) / 2.0
    intervals: dict[str, Interval | None] = {}
    for name, value in point.items():
        at_centre = centre.get(name)
        values = np.concatenate(drawn.get(name, [np.zeros(0)]))
        finite = values[np.isfinite(values)]
        if value is None or at_centre is None or finite.size * 2 < resamples:
            intervals[name] = None
            continue
        q_low, q_high = np.quantile(finite, [tail, 1.0 - tail])
        low, high = RANGES.get(name, (-math.inf, math.inf))
        intervals[name] = Interval(
            low=float(np.clip(value + scale * (q_low - at_centre), low, high)),
            high=float(np.clip(value + scale * (q_high - at_centre), low, high)),
        )
    return Bootstrap(intervals, resamples, m, scale)


def resampled_metrics(
    problem_type: ProblemType,
    y_true: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    n_classes: int | None,
    counts: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:
    """Every metric of each resample (a row of `counts`: how often each labelled row was drawn);
    nan where a resample leaves a metric undefined (AUC with one class drawn, R² of one row)."""
    total = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if problem_type == "regression":
            return _regression(y_true.astype(np.float64), predictions.astype(np.float64), counts, total)
        if proba is None:
            raise ValueError("a classifier's metrics need its probabilities")
        return _classification(
            problem_type, y_true.astype(np.int64), predictions.astype(np.int64), proba, n_classes, counts, total
        )


def _regression(
    y: NDArray[np.float64], p: NDArray[np.float64], counts: NDArray[np.float64], total: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    error = y - p
    squared = counts @ (error * error)
    centred = y - y.mean()  # about the rows' mean, so the sums below lose no precision to a large level
    spread = counts @ (centred * centred) - (counts @ centred) ** 2 / total
    drawn = counts > 0
    constant = np.where(drawn, y, -np.inf).max(axis=1) == np.where(drawn, y, np.inf).min(axis=1)
    spread = np.where(constant, 0.0, spread)
    r2 = np.where(spread == 0.0, np.where(squared == 0.0, 1.0, 0.0), 1.0 - squared / spread)
    return {
        "mae": counts @ np.abs(error) / total,
        "r2": np.where(total > 1, r2, np.nan),
        "rmse": np.sqrt(squared / total),
    }


def _classification(
    problem_type: ProblemType,
    y: NDArray[np.int64],
    predicted: NDArray[np.int64],
    proba: NDArray[Any],
    n_classes: int | None,
    counts: NDArray[np.float64],
    total: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:
    k = n_classes or int(proba.shape[1])
    p = proba.astype(np.float64)
    eps = np.finfo(np.float64).eps
    correct = y == predicted
    true_class = np.clip(p[np.arange(y.size), y], eps, 1 - eps)
    hits = _sums_by_class(counts[:, correct], y[correct], k)
    denominator = _sums_by_class(counts, y, k) + _sums_by_class(counts, predicted, k)
    f1 = np.where(denominator > 0, 2.0 * hits / np.where(denominator > 0, denominator, 1.0), 0.0)
    metrics = {
        "accuracy": counts @ correct.astype(np.float64) / total,
        "f1_macro": f1.mean(axis=1),
        "log_loss": counts @ -np.log(true_class) / total,
    }
    if problem_type == "binary":
        metrics["brier"] = counts @ (p[:, 1] - (y == 1)) ** 2 / total
        metrics["roc_auc"] = _auc(counts, y == 1, p[:, 1])
    else:
        # Macro over the classes drawn (a class not drawn has no AUC): what performance_metrics
        # averages over, the classes present in the rows.
        per_class = np.stack([_auc(counts, y == c, p[:, c]) for c in range(k)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no AUC at all: nan, as meant
            metrics["roc_auc"] = np.nanmean(per_class, axis=0)
    return dict(sorted(metrics.items()))


def _sums_by_class(counts: NDArray[np.float64], classes: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """Per resample, the draws of the rows of each class 0..k-1 (resamples x k)."""
    sums = np.zeros((counts.shape[0], k))
    if classes.size == 0:
        return sums
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sums[:, ordered[starts]] = np.add.reduceat(counts[:, order], starts, axis=1)
    return sums


def _auc(counts: NDArray[np.float64], positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per resample, the chance that a drawn positive outscores a drawn negative, ties counted half;
    nan when a resample drew one class only."""
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    drawn = counts[:, order]
    positives = drawn * positive[order]
    negatives = drawn - positives
    if starts.size < ordered.size:  # tied scores: one column per distinct score
        positives = np.add.reduceat(positives, starts, axis=1)
        negatives = np.add.reduceat(negatives, starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)
