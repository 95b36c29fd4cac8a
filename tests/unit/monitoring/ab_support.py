"""Joined windows for the A/B tests: a champion's and a challenger's answered rows (and shadow rows
that must not count), built from arrays as the join writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.joined import JoinedHour

CLASSES = ["benign", "malignant"]


def answers_window(
    variants: NDArray[np.str_],
    versions: NDArray[np.int64],
    predictions: NDArray[Any],
    labels: NDArray[Any],
    probabilities: NDArray[Any] | None = None,
    *,
    classes: list[str] | None = None,
    answered_ms: NDArray[np.int64] | None = None,
    labelled_ms: NDArray[np.int64] | None = None,
    model: str = "churn",
) -> JoinedHour:
    """Rows answered in the order given (or at `answered_ms`), each labelled a second later (or at
    `labelled_ms`)."""
    rows = len(variants)
    answered = np.arange(rows, dtype=np.int64) if answered_ms is None else answered_ms
    return JoinedHour(
        model=model,
        hour=datetime(2026, 12, 1, tzinfo=UTC),
        request_ids=np.array([f"r{i}" for i in range(rows)]),
        rows=np.zeros(rows, dtype=np.int64),
        versions=np.asarray(versions, dtype=np.int64),
        variants=np.asarray(variants, dtype=str),
        predictions=predictions,
        probabilities=None if probabilities is None else np.asarray(probabilities, dtype=np.float32),
        labels=labels,
        answered_ms=answered,
        labelled_ms=answered + 1000 if labelled_ms is None else labelled_ms,
        classes=classes,
        fields={},
        inputs={},
        missing={},
    )


def accuracy_window(
    rng: np.random.Generator, *, champion: tuple[int, float], challenger: tuple[int, float], shadow: int = 0
) -> JoinedHour:
    """`champion` and `challenger`: (labelled rows, chance each answer is right) of versions 1 and 2;
    `shadow` rows of version 2 that are always right (they answered nobody: they must not count)."""
    parts = []
    for variant, version, (rows, accuracy) in (
        ("champion", 1, champion),
        ("challenger", 2, challenger),
        ("shadow", 2, (shadow, 1.0)),
    ):
        labels = rng.choice(CLASSES, size=rows)
        right = rng.random(rows) < accuracy
        flipped = np.where(labels == CLASSES[0], CLASSES[1], CLASSES[0])
        parts.append((np.full(rows, variant), np.full(rows, version), np.where(right, labels, flipped), labels))
    return answers_window(*(np.concatenate([p[i] for p in parts]) for i in range(4)), classes=CLASSES)


def scored_window(rng: np.random.Generator, rows: tuple[int, int], separation: tuple[float, float]) -> JoinedHour:
    """Binary labels with a probability of the positive class whose log-odds move `separation`
    per unit of the label (0: no skill): champion v1 and challenger v2."""
    parts = []
    for variant, version, n, shift in (
        ("champion", 1, rows[0], separation[0]),
        ("challenger", 2, rows[1], separation[1]),
    ):
        y = rng.integers(0, 2, n)
        score = 1 / (1 + np.exp(-(rng.normal(size=n) + shift * (y - 0.5))))
        proba = np.c_[1 - score, score]
        parts.append(
            (
                np.full(n, variant),
                np.full(n, version),
                np.array(CLASSES)[(score > 0.5).astype(int)],
                np.array(CLASSES)[y],
                proba,
            )
        )
    return answers_window(*(np.concatenate([p[i] for p in parts]) for i in range(5)), classes=CLASSES)


def regression_window(rng: np.random.Generator, rows: tuple[int, int], noise: tuple[float, float]) -> JoinedHour:
    """Regression answers off by normal noise of the given scale: champion v1, challenger v2."""
    parts = []
    for variant, version, n, scale in (("champion", 1, rows[0], noise[0]), ("challenger", 2, rows[1], noise[1])):
        truth = rng.normal(50, 10, n)
        parts.append((np.full(n, variant), np.full(n, version), truth + rng.normal(0, scale, n), truth))
    return answers_window(*(np.concatenate([p[i] for p in parts]) for i in range(4)))
