"""The explanation artifact and the contributions serving computes from it, against scikit-learn:
linear contributions exactly as coef * (x - training mean) in the scaled space, tree ensembles'
base + contributions equal to scikit-learn's raw score (by TreeSHAP and by Saabas), TreeSHAP equal
to Shapley values computed by brute force over every subset, and Saabas' credit on a stump by hand."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from mlops.serving import explain
from mlops.serving.explain import TOLERANCE, Explainer, ExplanationError
from mlops.training.candidates import build_estimator
from mlops.training.explain_export import UnsupportedEstimatorError, explanation_artifact, input_groups
from mlops.training.features import FeatureSpec, NumericFeature
from tests.unit.serving.support import churn

DATASETS = {"binary": load_breast_cancer, "multiclass": load_iris, "regression": load_diabetes}
SMALL = {
    "random_forest": {"n_estimators": 12, "max_depth": 6},
    "gradient_boosting": {"n_estimators": 15, "max_depth": 3},
    "hist_gradient_boosting": {"max_iter": 15},
}
CASES = [
    (kind, estimator)
    for kind in DATASETS
    for estimator in (["linear_regression", "ridge"] if kind == "regression" else ["logistic_regression"]) + list(SMALL)
]


def _numeric_spec(columns: int) -> FeatureSpec:
    return FeatureSpec(features=[NumericFeature(name=f"x{i}", source_type="float", impute=0.0) for i in range(columns)])


def _fitted(kind: str, estimator: str) -> tuple[Pipeline, NDArray[np.float32], NDArray[Any]]:
    data = DATASETS[kind]()
    x, y = data.data.astype(np.float32), data.target
    model = build_estimator(estimator, kind, dict(SMALL.get(estimator, {})), seed=0)  # type: ignore[arg-type]
    return model.fit(x, y), x, y


def _raw_scores(model: Pipeline, x: NDArray[np.float32]) -> NDArray[np.float64]:
    """scikit-learn's raw score per output (rows x outputs), before any link."""
    estimator = model.steps[-1][1]
    seen = model[:-1].transform(x) if len(model.steps) > 1 else x
    if type(estimator).__name__.startswith("RandomForestClassifier"):
        return np.asarray(estimator.predict_proba(seen), dtype=np.float64)
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(seen), dtype=np.float64).reshape(len(x), -1)
    if hasattr(estimator, "_raw_predict"):
        return np.asarray(estimator._raw_predict(seen), dtype=np.float64).reshape(len(x), -1)
    return np.asarray(estimator.predict(seen), dtype=np.float64).reshape(len(x), -1)


@pytest.mark.parametrize("budget", [explain.TREE_SHAP_BUDGET, 0], ids=["treeshap", "saabas"])
@pytest.mark.parametrize(("kind", "estimator"), CASES)
def test_base_plus_contributions_is_the_raw_score_scikit_learn_computes(
    kind: str, estimator: str, budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explain, "TREE_SHAP_BUDGET", budget)
    model, x, _y = _fitted(kind, estimator)
    explainer = Explainer.from_bytes(explanation_artifact(model, _numeric_spec(x.shape[1]), x))
    rows = x[:80]
    predicted = model.predict(rows).astype(np.int64) if kind != "regression" else None
    explained = explainer.explain(rows, predicted.tolist() if predicted is not None else None)
    raw = _raw_scores(model, rows)
    expected = raw[np.arange(len(rows)), explained.outputs]
    assert explained.method == ("linear" if explainer.method == "linear" else "treeshap" if budget else "saabas")
    assert np.all(np.abs(explained.scores - expected) <= TOLERANCE * np.maximum(1.0, np.abs(expected)))
    if kind == "multiclass":  # the predicted class's score is explained
        assert explainer.output_classes[explained.outputs].tolist() == predicted.tolist()  # type: ignore[union-attr]
    if kind == "binary":  # the positive class's, on every row
        assert set(explainer.output_classes[explained.outputs].tolist()) == {1}


def test_linear_contributions_are_the_coefficient_times_the_distance_from_the_training_mean() -> None:
    """In the scaled space the model saw, summed over the one-hot columns of each input field (city)."""
    registered = churn()
    model, splits = registered.model, registered.prepared.splits
    spec = registered.prepared.meta.feature_spec
    explainer = Explainer.from_bytes(explanation_artifact(model, spec, splits.X_train))
    rows = splits.X_test[:25]
    scaled, scaled_train = model["scale"].transform(rows), model["scale"].transform(splits.X_train)
    coef, intercept = model["model"].coef_[0], model["model"].intercept_[0]
    per_column = coef * (scaled - scaled_train.mean(axis=0))
    groups = input_groups(spec)
    expected = np.stack([per_column[:, groups == f].sum(axis=1) for f in range(len(spec.columns))], axis=1)
    explained = explainer.explain(rows, None)
    assert explainer.inputs == tuple(spec.columns) and "city" in explainer.inputs
    assert np.allclose(explained.contributions, expected, atol=1e-5)
    assert np.allclose(explained.base, intercept + coef @ scaled_train.mean(axis=0), atol=1e-5)
    assert (explainer.method, explainer.score) == ("linear", "log_odds")


def test_a_stumps_split_feature_takes_the_change_from_the_root_to_the_leaf() -> None:
    """One tree, one split, no bootstrap: Saabas credits the split's feature with leaf - root (the
    training share of the positive class), every other feature with 0."""
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target
    model = build_estimator(
        "random_forest", "binary", {"n_estimators": 1, "max_depth": 1, "bootstrap": False}, seed=0
    ).fit(x, y)
    tree = model["model"].estimators_[0].tree_
    split, threshold = int(tree.feature[0]), float(tree.threshold[0])
    explained = Explainer.from_bytes(explanation_artifact(model, _numeric_spec(x.shape[1]), x)).explain(x[:50], None)
    root = y.mean()
    leaf = np.where(x[:50, split] <= threshold, y[x[:, split] <= threshold].mean(), y[x[:, split] > threshold].mean())
    assert np.allclose(explained.base, root)
    assert np.allclose(explained.contributions[:, split], leaf - root)
    others = np.delete(explained.contributions, split, axis=1)
    assert not others.any()


def test_the_same_model_gives_the_same_artifact_bytes() -> None:
    model, x, _y = _fitted("binary", "random_forest")
    spec = _numeric_spec(x.shape[1])
    assert explanation_artifact(model, spec, x, "abc") == explanation_artifact(model, spec, x, "abc")


def test_an_estimator_without_an_explanation_is_named() -> None:
    data = load_iris()
    model = Pipeline([("model", KNeighborsClassifier())]).fit(data.data, data.target)
    with pytest.raises(UnsupportedEstimatorError, match="KNeighborsClassifier"):
        explanation_artifact(model, _numeric_spec(4), data.data)


def test_bytes_that_are_not_an_explanation_are_refused() -> None:
    with pytest.raises(ExplanationError):
        Explainer.from_bytes(b"not an npz")


def _expectation(a: dict[str, Any], node: int, x: NDArray[np.float64], known: set[int]) -> NDArray[np.float64]:
    """The tree's expected value given the features in `known` (path-dependent: an unknown feature's
    split is averaged over its children by training weight)."""
    left, right = int(a["left"][node]), int(a["right"][node])
    if left < 0:
        return np.asarray(a["value"][node], dtype=np.float64)
    column = int(a["feature"][node])
    if column in known:
        return _expectation(a, left if x[column] <= a["threshold"][node] else right, x, known)
    w_left, w_right = a["weight"][left], a["weight"][right]
    both = w_left * _expectation(a, left, x, known) + w_right * _expectation(a, right, x, known)
    return np.asarray(both / (w_left + w_right), dtype=np.float64)


def _brute_force_shapley(a: dict[str, Any], x: NDArray[np.float64], columns: int) -> NDArray[np.float64]:
    """Shapley values by their definition: every subset of the other features, weighted."""
    phi = np.zeros((columns, a["value"].shape[1]))
    for i in range(columns):
        others = [c for c in range(columns) if c != i]
        for size in range(columns):
            weight = math.factorial(size) * math.factorial(columns - size - 1) / math.factorial(columns)
            for subset in itertools.combinations(others, size):
                for root in a["roots"].tolist():
                    gain = _expectation(a, root, x, {*subset, i}) - _expectation(a, root, x, set(subset))
                    phi[i] += weight * gain
    return phi


@pytest.mark.parametrize("estimator", ["random_forest", "gradient_boosting"])
def test_treeshap_is_the_shapley_value_computed_by_brute_force_on_tiny_trees(estimator: str) -> None:
    """Two depth-4 trees over five features (a feature may split twice on one path): each row's
    values equal the definition's sum over all 2^4 subsets of the other features."""
    data = load_diabetes()
    x, y = data.data[:, :5].astype(np.float32), data.target
    model = build_estimator(estimator, "regression", {"n_estimators": 2, "max_depth": 4}, seed=0).fit(x, y)
    explainer = Explainer.from_bytes(explanation_artifact(model, _numeric_spec(5), x))
    rows = x[:6].astype(np.float64)
    explained = explainer.explain(rows.astype(np.float32), None)
    assert explained.method == "treeshap"
    for r in range(len(rows)):
        expected = _brute_force_shapley(explainer.arrays, rows[r], 5)[:, 0]
        assert np.allclose(explained.contributions[r], expected, atol=1e-9)


def test_a_linear_explanation_adds_up_to_the_models_score_on_a_column_of_years() -> None:
    # A stranger's churn model had a year column (mean 2022.01): with the scaler folded into the
    # coefficients in float64, base + contributions missed scikit-learn's score by 1.1e-4, because
    # scikit-learn scales float32 rows in float32. The artifact keeps the scaler and serving applies it so.
    rng = np.random.default_rng(0)
    year = rng.integers(2019, 2025, 3_000) + 0.0
    noise = rng.normal(size=3_000)
    x = np.stack([year, rng.uniform(0, 2_000, 3_000), noise], axis=1).astype(np.float32)
    y = ((2022 - year) + noise + rng.normal(size=3_000) > 0).astype(np.int64)
    model = build_estimator("logistic_regression", "binary", {}, seed=0).fit(x, y)
    explainer = Explainer.from_bytes(explanation_artifact(model, _numeric_spec(3), x))
    explained = explainer.explain(x[:200], model.predict(x[:200]).tolist())
    expected = _raw_scores(model, x[:200])[:, 0]
    assert np.max(np.abs(explained.scores - expected)) <= TOLERANCE * 0.01
