"""Model performance on labelled traffic (issue #19): the metrics the training gates use, computed
with numpy alone, so the scheduled check runs on the inference layer (no scikit-learn, no scipy)
and a version's live figures are comparable with its test-split figures.

Each function follows `mlops.training.evaluation.compute_metrics` exactly (a test holds them equal
to 1e-9 on scikit-learn's data sets): the same names, the same None where a metric is undefined on
the rows given (AUC with one class present, R² of one row), the same clipping of probabilities
for the log loss, one-vs-rest macro AUC for multiclass.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

ProblemType = Literal["binary", "multiclass", "regression"]
Metrics = dict[str, float | None]


def performance_metrics(
    problem_type: ProblemType,
    y_true: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    n_classes: int | None = None,
) -> Metrics:
    """The scalar metrics of a problem type on labelled rows; labels are class indices for classifiers."""
    if y_true.size == 0:
        return {}
    if problem_type == "regression":
        return regression_metrics(y_true, predictions)
    if proba is None:
        raise ValueError("a classifier's metrics need its probabilities")
    return classification_metrics(problem_type, y_true.astype(np.int64), predictions.astype(np.int64), proba, n_classes)


def regression_metrics(y_true: NDArray[Any], predictions: NDArray[Any]) -> Metrics:
    y, p = y_true.astype(np.float64), predictions.astype(np.float64)
    error = y - p
    metrics: Metrics = {
        "mae": _finite(float(np.mean(np.abs(error)))),
        "r2": _r2(y, error) if y.size > 1 else None,
        "rmse": _finite(math.sqrt(float(np.mean(error * error)))),
    }
    return metrics


def classification_metrics(
    problem_type: ProblemType,
    y_true: NDArray[np.int64],
    predictions: NDArray[np.int64],
    proba: NDArray[Any],
    n_classes: int | None = None,
) -> Metrics:
    k = n_classes or int(proba.shape[1])
    p = proba.astype(np.float64)
    metrics: Metrics = {
        "accuracy": _finite(float(np.mean(y_true == predictions))),
        "f1_macro": _finite(_f1_macro(y_true, predictions, k)),
        "log_loss": _finite(_log_loss(y_true, p)),
    }
    present = np.unique(y_true)
    auc: float | None = None
    if problem_type == "binary":
        if present.size == 2:
            auc = _finite(binary_auc(y_true == 1, p[:, 1]))
        metrics["brier"] = _finite(float(np.mean((p[:, 1] - (y_true == 1)) ** 2)))
    elif present.size >= 2:
        # One-vs-rest macro over every class when all are present, else over the classes present
        # (a window, like a segment, rarely holds every class): what compute_metrics reports.
        classes = range(k) if present.size == k else present.tolist()
        auc = _finite(float(np.mean([binary_auc(y_true == c, p[:, c]) for c in classes])))
    metrics["roc_auc"] = auc
    return dict(sorted(metrics.items()))


def binary_auc(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic, ties counted half (as the
    trapezoids of scikit-learn's curve count them); nan when one class is absent."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(scores)
    return (float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks, tied values sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 … ends share their mean
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _f1_macro(y_true: NDArray[np.int64], predictions: NDArray[np.int64], k: int) -> float:
    """Macro F1 over classes 0..k-1; a class with no true or predicted row scores 0."""
    labels = np.arange(k)
    true_hits = y_true[:, None] == labels
    predicted = predictions[:, None] == labels
    tp = np.count_nonzero(true_hits & predicted, axis=0)
    denominator = np.count_nonzero(true_hits, axis=0) + np.count_nonzero(predicted, axis=0)
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


def _log_loss(y_true: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    """Mean negative log probability of the true class, probabilities clipped to [eps, 1 - eps]."""
    eps = np.finfo(proba.dtype).eps
    clipped = np.clip(proba, eps, 1 - eps)
    return float(-np.mean(np.log(clipped[np.arange(y_true.size), y_true])))


def _r2(y: NDArray[np.float64], error: NDArray[np.float64]) -> float | None:
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum(error * error))
    if total == 0.0:  # a constant target: perfect or not, as scikit-learn's force_finite says
        return 1.0 if residual == 0.0 else 0.0
    return _finite(1.0 - residual / total)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
