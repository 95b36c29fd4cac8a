"""The vectorized resamples compute each metric exactly as `performance_metrics` does on the rows
drawn: with every row drawn once they are the window's figures, and with any draw they are the
figures of the rows that draw repeats (ties, absent classes and tiny windows included)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mlops.monitoring.bootstrap import MAX_RESAMPLES, bootstrap_intervals, max_resample_rows, resampled_metrics
from mlops.monitoring.performance import ProblemType, performance_metrics

SEED = 20261208


def _same_as_drawn(
    problem: ProblemType, y: NDArray[Any], predictions: NDArray[Any], proba: NDArray[Any] | None, k: int | None
) -> None:
    rng = np.random.default_rng(SEED)
    n = y.size
    draws = [np.arange(n), *(rng.integers(0, n, n) for _ in range(5))]
    counts = np.stack([np.bincount(rows, minlength=n) for rows in draws]).astype(np.float64)
    resampled = resampled_metrics(problem, y, predictions, proba, k, counts)
    for i, rows in enumerate(draws):
        expected = performance_metrics(
            problem, y[rows], predictions[rows], proba[rows] if proba is not None else None, k
        )
        for name, value in expected.items():
            if value is None:
                assert np.isnan(resampled[name][i]), (name, i)
            else:
                assert resampled[name][i] == pytest.approx(value, abs=1e-9, rel=1e-9), (name, i)


def test_classifier_resamples_match_with_ties_and_classes_missing() -> None:
    rng = np.random.default_rng(SEED)
    for rows in (1, 2, 7, 60, 400):
        for k in (2, 3, 5):
            raw = np.round(rng.random((rows, k)), 1) + 1e-3  # coarse values: many ties
            proba = raw / raw.sum(axis=1, keepdims=True)
            y = rng.integers(0, max(1, k - 1), size=rows)  # the last class never labelled
            _same_as_drawn("binary" if k == 2 else "multiclass", y, proba.argmax(axis=1), proba, k)


def test_regression_resamples_match_constant_targets_and_single_rows_included() -> None:
    rng = np.random.default_rng(SEED)
    y = rng.normal(100.0, 3.0, 300)  # a large level and a small spread: R² needs care
    _same_as_drawn("regression", y, y + rng.normal(0, 1, 300), None, None)
    _same_as_drawn("regression", np.full(6, 3.0), np.full(6, 3.0), None, None)
    _same_as_drawn("regression", np.full(6, 3.0), np.arange(6.0), None, None)
    _same_as_drawn("regression", np.array([3.0, 4.0]), np.array([3.0, 5.0]), None, None)
    _same_as_drawn("regression", np.array([2.0]), np.array([1.0]), None, None)


def test_an_interval_is_bounded_in_work_and_refuses_a_silly_resample_count() -> None:
    assert max_resample_rows(1000) == 20_000 and max_resample_rows(MAX_RESAMPLES) == 2_000
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    point = performance_metrics("binary", y, y, proba, 2)
    for resamples in (0, MAX_RESAMPLES + 1):
        with pytest.raises(ValueError, match="resamples"):
            bootstrap_intervals(
                "binary", y, y, proba, 2, point, confidence=0.9, resamples=resamples, rng=np.random.default_rng(0)
            )
    result = bootstrap_intervals(
        "binary", y, y, proba, 2, point, confidence=0.9, resamples=50, rng=np.random.default_rng(0)
    )
    assert (
        result.intervals["accuracy"]
        == bootstrap_intervals(
            "binary", y, y, proba, 2, point, confidence=0.9, resamples=50, rng=np.random.default_rng(0)
        ).intervals["accuracy"]
    )
    assert result.intervals["roc_auc"] is not None, "most resamples of four rows hold both classes"
