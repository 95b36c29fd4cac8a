"""Permutation importance in the evaluate step: per input field (a one-hot field shuffled as one),
bounded in rows and shuffles, most important first, and shown in the run report and model card."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from mlops.registry.views import importance_card, model_card
from mlops.training.evaluation import FeatureImportance, evaluate
from mlops.training.importance import MAX_ROWS, REPEATS, permutation_importances
from tests.unit.serving.support import churn


def _signal_and_noise(rows: int = 3_000) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    """Column 0 decides the label; columns 1-2 (one field, one-hot) and 3 are noise."""
    rng = np.random.default_rng(3)
    signal = rng.normal(size=rows)
    colour = rng.integers(0, 2, rows)
    x = np.stack([signal, colour == 0, colour == 1, rng.normal(size=rows)], axis=1).astype(np.float32)
    y = (signal + rng.normal(scale=0.3, size=rows) > 0).astype(np.int64)
    return LogisticRegression().fit(x, y), x, y


def signal_and_noise_importances() -> tuple[FeatureImportance, int]:
    """The importances of `_signal_and_noise`'s model on its rows, and how many rows it had."""
    model, x, y = _signal_and_noise()
    found = permutation_importances(
        model,
        x,
        y,
        inputs=["signal", "colour", "noise"],
        groups=np.array([0, 1, 1, 2]),
        problem_type="binary",
        metric="roc_auc",
        n_classes=2,
        seed=7,
    )
    return found, x.shape[0]


def test_the_field_the_label_depends_on_comes_first_and_noise_near_zero() -> None:
    found, rows = signal_and_noise_importances()
    assert found.features[0].feature == "signal"
    assert sorted(f.feature for f in found.features) == ["colour", "noise", "signal"]  # one entry per field
    assert found.features[0].mean is not None and found.features[0].mean > 0.3
    assert all(abs(f.mean or 0) < 0.02 for f in found.features[1:])
    # Bounded: a test split past MAX_ROWS is sampled, and each field is shuffled REPEATS times.
    assert (found.rows, found.repeats) == (MAX_ROWS, REPEATS) and rows > MAX_ROWS
    assert found.bound == f"{MAX_ROWS:,} test rows x {REPEATS} shuffles per field, on roc_auc"


def test_a_lower_is_better_metric_still_reads_positive_for_an_important_field() -> None:
    registered = churn()
    evaluation = evaluate(
        registered.model, registered.prepared.splits, registered.prepared.meta, selection_metric="log_loss"
    )
    importance = evaluation.feature_importance
    assert importance is not None and importance.metric == "log_loss"
    assert {f.feature for f in importance.features} == set(registered.prepared.meta.feature_spec.columns)
    assert importance.features[0].mean is not None and importance.features[0].mean > 0
    means = [f.mean for f in importance.features if f.mean is not None]
    assert means == sorted(means, reverse=True)


def test_the_model_card_lists_the_top_fields_and_the_bound() -> None:
    features = [{"feature": f"f{i}", "mean": 1.0 / (i + 1), "std": 0.01} for i in range(14)]
    record = {
        "model": "m",
        "version": 1,
        "feature_importance": {"metric": "rmse", "rows": 88, "repeats": 5, "seed": 1, "features": features},
    }
    card = model_card(record)["feature_importance"]
    assert card["bound"] == "88 test rows x 5 shuffles per field" and card["fields"] == 14
    assert [f["feature"] for f in card["top"]] == [f"f{i}" for i in range(10)]
    assert importance_card(None) is None  # a version registered before it was measured
