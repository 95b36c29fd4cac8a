"""Live performance is measured as training measured it: the numpy metrics of the scheduled check
equal mlops.training.evaluation.compute_metrics (scikit-learn) to 1e-9, Nones included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops.monitoring.performance import ProblemType, binary_auc, performance_metrics
from mlops.training.evaluation import compute_metrics

SEED = 20261205


def _same(
    problem: ProblemType, y: NDArray[Any], predictions: NDArray[Any], proba: NDArray[Any] | None, k: int | None
) -> None:
    expected = compute_metrics(problem, y, predictions, proba, k)
    actual = performance_metrics(problem, y, predictions, proba, k)
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if value is None:
            assert actual[name] is None, name
        else:
            assert actual[name] == pytest.approx(value, abs=1e-9, rel=1e-9), name


def _classifier(loader: Any) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    x, y = loader(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=SEED, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    return y_test, model.predict(x_test), model.predict_proba(x_test)


@pytest.mark.parametrize(("loader", "problem"), [(load_breast_cancer, "binary"), (load_wine, "multiclass")])
def test_a_fitted_classifier_scores_the_same_as_in_training(loader: Any, problem: ProblemType) -> None:
    y, predictions, proba = _classifier(loader)
    _same(problem, y, predictions, proba, proba.shape[1])


def test_a_fitted_regressor_scores_the_same_as_in_training() -> None:
    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x[:300], y[:300])
    _same("regression", y[300:], model.predict(x[300:]), None, None)


def test_ties_missing_classes_and_tiny_windows_match_too() -> None:
    rng = np.random.default_rng(SEED)
    for rows in (1, 2, 7, 50, 500):
        for k in (2, 3, 5):
            raw = np.round(rng.random((rows, k)), 1) + 1e-3  # coarse values: many ties
            proba = raw / raw.sum(axis=1, keepdims=True)
            y = rng.integers(0, max(1, k - 1), size=rows)  # the last class never labelled
            _same("binary" if k == 2 else "multiclass", y, proba.argmax(axis=1), proba, k)
    _same("binary", np.array([1, 1, 1]), np.array([1, 0, 1]), np.array([[0.2, 0.8], [0.6, 0.4], [0.0, 1.0]]), 2)
    _same("regression", np.full(5, 3.0), np.full(5, 3.0), None, None)  # a constant target, perfectly met
    _same("regression", np.full(5, 3.0), np.arange(5.0), None, None)
    _same("regression", np.array([2.0]), np.array([1.0]), None, None)  # one row: no R²


def test_auc_is_the_probability_that_a_positive_outranks_a_negative() -> None:
    positive = np.array([True, False, True, False])
    assert binary_auc(positive, np.array([0.9, 0.1, 0.8, 0.2])) == 1.0
    assert binary_auc(positive, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # ties count half
    assert np.isnan(binary_auc(np.array([True, True]), np.array([0.1, 0.2])))


def test_an_empty_window_has_no_metrics_and_a_classifier_needs_probabilities() -> None:
    assert performance_metrics("binary", np.array([]), np.array([]), np.zeros((0, 2))) == {}
    with pytest.raises(ValueError, match="probabilities"):
        performance_metrics("binary", np.array([1]), np.array([1]), None)


def test_auc_of_float32_probabilities_counts_ties_exactly() -> None:
    """Probabilities as the ONNX model answers them (float32) take a counting sort of their bit
    patterns; the area equals scikit-learn's, ties (many, in coarse scores) included."""
    rng = np.random.default_rng(SEED)
    cases = [
        rng.random(5000),
        np.round(rng.random(5000), 1),  # eleven values: ties everywhere
        rng.choice([0.0, 0.25, 0.5, 1.0], size=5000),
        rng.random(5000) * 1e-39,  # subnormal
        np.ones(5000),
    ]
    for scores in cases:
        positive = rng.random(scores.size) < 0.3
        as_float32 = scores.astype(np.float32)
        expected = roc_auc_score(positive, as_float32.astype(np.float64))
        assert binary_auc(positive, as_float32) == pytest.approx(expected, abs=1e-12)
        assert binary_auc(positive, as_float32) == pytest.approx(binary_auc(positive, as_float32.astype(np.float64)))


def test_other_float32_scores_take_the_general_path() -> None:
    rng = np.random.default_rng(SEED)
    positive = rng.random(1000) < 0.5
    for scores in (rng.normal(size=1000), np.where(rng.random(1000) < 0.5, -0.0, 0.0), -rng.random(1000) * 1e30):
        as_float32 = scores.astype(np.float32)
        expected = roc_auc_score(positive, as_float32.astype(np.float64))
        assert binary_auc(positive, as_float32) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("loader", "problem"), [(load_breast_cancer, "binary"), (load_wine, "multiclass")])
def test_float32_probabilities_score_as_training_scores_them(loader: Any, problem: ProblemType) -> None:
    """Capture stores float32 probabilities; training scored float64 ones: the same values read
    either way give the same metrics."""
    y, predictions, proba = _classifier(loader)
    as_float32 = proba.astype(np.float32)
    expected = compute_metrics(problem, y, predictions, as_float32.astype(np.float64), proba.shape[1])
    actual = performance_metrics(problem, y, predictions, as_float32, proba.shape[1])
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=1e-9, rel=1e-9), name


def test_a_label_that_is_no_class_index_is_refused() -> None:
    with pytest.raises(ValueError, match="class indices"):
        performance_metrics("binary", np.array([0, 2]), np.array([0, 1]), np.array([[0.5, 0.5], [0.1, 0.9]]), 2)
