"""Labelled traffic for the performance check's tests: a classifier's answers on held-out breast
cancer rows (as serving answers them: class names, float32 probabilities) in a joined window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops.monitoring.assessment import assess_performance
from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.performance import ProblemType
from mlops.monitoring.performance_record import PerformanceAssessment

SEED = 20261207
START = datetime(2026, 12, 1, tzinfo=UTC)
END = START + timedelta(hours=168)
HOUR_MS = 3_600_000
BENIGN_MALIGNANT = ["malignant", "benign"]  # breast cancer's target 0 and 1, as serving answers them


def labelled_window(
    labels: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    *,
    classes: list[str] | None = None,
    versions: NDArray[np.int64] | None = None,
    variants: NDArray[np.str_] | None = None,
    inputs: dict[str, NDArray[Any]] | None = None,
    missing: dict[str, NDArray[np.bool_]] | None = None,
    delays_ms: NDArray[np.int64] | None = None,
    predicted: dict[int, int] | None = None,
) -> JoinedHour:
    n = len(labels)
    inputs = inputs or {}
    return JoinedHour(
        model="cancer",
        hour=START,
        request_ids=np.array([f"r{i}" for i in range(n)]),
        rows=np.zeros(n, dtype=np.int64),
        versions=versions if versions is not None else np.ones(n, dtype=np.int64),
        variants=variants if variants is not None else np.full(n, "champion"),
        predictions=predictions,
        probabilities=proba.astype(np.float32) if proba is not None else None,
        labels=labels,
        answered_ms=np.zeros(n, dtype=np.int64),
        labelled_ms=delays_ms if delays_ms is not None else np.full(n, HOUR_MS, dtype=np.int64),
        classes=classes,
        fields={name: "numeric" if values.dtype.kind == "f" else "categorical" for name, values in inputs.items()},
        inputs=inputs,
        missing=missing or {name: np.zeros(n, dtype=bool) for name, v in inputs.items() if v.dtype.kind != "f"},
        predicted=predicted or {1: n},
    )


def assess(window: JoinedHour | None, problem: ProblemType = "binary", **options: Any) -> PerformanceAssessment:
    """The check of `window` a week long, ending at `now` (default END); options: config (a
    PerformanceConfig's fields, min_labels 30 unless given), versions, now, seed, resamples."""
    config = PerformanceConfig(**{"min_labels": 30, **options.pop("config", {})})
    now = options.pop("now", END)
    return assess_performance(
        window,
        model="cancer",
        problem_type=problem,
        config=config,
        versions=options.pop("versions", {}),
        window_start=now - timedelta(hours=168),
        window_end=now,
        now=now,
        seed=options.pop("seed", SEED),
        resamples=options.pop("resamples", 400),
    )


def cancer_answers(columns: Any = slice(None)) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """A classifier fitted on half of breast cancer; the other half's labels, predictions,
    probabilities (class 0, 1) and inputs."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=1, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    model.fit(x_train[:, columns], y_train)
    proba = served(model.predict_proba(x_test[:, columns]))
    return y_test, proba.argmax(axis=1), proba, x_test


def served(proba: NDArray[Any]) -> NDArray[np.float64]:
    """Probabilities as serving answers them, float32, and summing to exactly 1 (on a 2**-20 grid):
    scikit-learn renormalizes rows that do not, and the comparison would be of other numbers."""
    grid = np.round(np.cumsum(proba, axis=1) * 2**20) / 2**20
    grid[:, -1] = 1.0
    served = np.diff(grid, axis=1, prepend=0.0)
    assert np.array_equal(served.astype(np.float32).astype(np.float64), served)
    return served


def named(indices: NDArray[Any], classes: list[str]) -> NDArray[np.str_]:
    return np.asarray(np.array(classes)[indices], dtype=np.str_)


def cancer_window(**options: Any) -> JoinedHour:
    """Every held-out row answered by v1 as champion (options: labelled_window's)."""
    y, predicted, proba, _ = cancer_answers()
    return labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT, **options
    )
