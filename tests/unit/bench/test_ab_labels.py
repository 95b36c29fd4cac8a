"""The replay that finds how many labelled rows the A/B check needs: it stops at the first look
that decides, never before each side has min_labels, and an identical canary rarely decides."""

from __future__ import annotations

import numpy as np

from bench.ab_labels import Answers, labels_to_decide
from mlops.monitoring.config import ABTestConfig

CLASSES = ["0", "1"]


def _answers(name: str, truth: np.ndarray, accuracy: float, seed: int) -> Answers:
    rng = np.random.default_rng(seed)
    predictions = np.where(rng.random(truth.size) < accuracy, truth, 1 - truth)
    proba = np.eye(2)[predictions] * 0.8 + 0.1
    return Answers(name, predictions.astype(np.int64), proba)


def test_a_clearly_worse_canary_is_found_as_soon_as_both_sides_have_their_minimum() -> None:
    truth = np.random.default_rng(1).integers(0, 2, 500).astype(np.int64)
    champion, challenger = _answers("good", truth, 1.0, 2), _answers("coin", truth, 0.5, 3)
    replays = labels_to_decide(
        champion, challenger, truth, CLASSES, weight=0.5, config=ABTestConfig(min_labels=50), seeds=range(10)
    )
    assert all(r.verdict == "challenger_worse" for r in replays)
    assert all(r.challenger_rows is not None and r.champion_rows is not None for r in replays)
    assert min(min(r.challenger_rows or 0, r.champion_rows or 0) for r in replays) >= 50
    assert all(r.labelled is not None and r.labelled % 10 == 0 and r.labelled <= 140 for r in replays)


def test_the_same_model_as_canary_is_rarely_found_different() -> None:
    truth = np.random.default_rng(1).integers(0, 2, 500).astype(np.int64)
    champion = _answers("good", truth, 0.9, 2)
    replays = labels_to_decide(
        champion,
        champion,
        truth,
        CLASSES,
        weight=0.5,
        config=ABTestConfig(),
        seeds=range(20),
        max_labelled=200,
        step=100,
    )
    assert sum(r.verdict is not None for r in replays) <= 3  # two looks at alpha 0.05
