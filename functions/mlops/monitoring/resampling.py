"""The bootstrap of the A/B test, vectorized and bounded: each resample is given as its rows' counts
(resamples x rows), drawn and reduced in chunks of at most MAX_RESAMPLE_CELLS counts, so memory stays
bounded however many rows a window labels; the ROC AUC under such counts, without one sort per
resample."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

# A bootstrap chunk holds at most this many resample-by-row weights (16 MB of float64 per array):
# the memory stays bounded however many rows a window labels.
MAX_RESAMPLE_CELLS = 2_000_000


Statistic = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def bootstrap(rows: int, statistic: Statistic, rng: np.random.Generator, resamples: int) -> NDArray[np.float64]:
    """`resamples` values of `statistic` on resamples of `rows` rows with replacement, each resample
    given as its rows' counts (resamples x rows), in chunks of at most MAX_RESAMPLE_CELLS counts."""
    chunk = max(1, MAX_RESAMPLE_CELLS // max(rows, 1))
    values = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, rows, size=(size, rows)) + (np.arange(size) * rows)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * rows).reshape(size, rows).astype(np.float64)
        values.append(statistic(counts))
    return np.concatenate(values)


def weighted_auc(y: NDArray[np.int64], proba: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """The ROC AUC under each row of `weights` (resamples x rows: how often each row is drawn), as
    mlops.monitoring.performance defines it: binary on the second class's probability, otherwise the
    one-vs-rest macro over the classes present among the labels (a resample that lost one of them
    averages over the rest). nan where a resample lacks one side of every class."""
    classes = [1] if proba.shape[1] == 2 else np.unique(y).tolist()
    if proba.shape[1] != 2 and len(classes) < 2:
        return np.full(weights.shape[0], np.nan)
    per_class = np.stack([_weighted_binary_auc(y == c, proba[:, c], weights) for c in classes])
    with warnings.catch_warnings():  # a resample with every class's AUC nan is nan, as wanted
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.asarray(np.nanmean(per_class, axis=0), dtype=np.float64)


def _weighted_binary_auc(
    positive: NDArray[np.bool_], scores: NDArray[np.float64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The Mann-Whitney statistic with weighted rows, ties counted half: for each group of equal
    scores, its positives' weight times the negatives' weight below it plus half the group's own.
    The same as `binary_auc` on the rows each repeated as often as weighted."""
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    w = weights[:, order]
    is_positive = positive[order]
    positives = np.add.reduceat(np.where(is_positive, w, 0.0), starts, axis=1)
    negatives = np.add.reduceat(np.where(is_positive, 0.0, w), starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)
