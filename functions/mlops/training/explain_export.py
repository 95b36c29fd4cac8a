"""The explanation artifact written next to model.onnx: what serving needs to split a row's raw score
into contributions of its input fields with numpy alone (`mlops.serving.explain` reads it).

The pipeline's preprocessing before the estimator is the FeatureSpec's encoding (serving already
runs it, in numpy) and, for linear models, a StandardScaler, which is folded into the coefficients
here; so no second ONNX graph is needed to reach the matrix the estimator saw. Each encoded column
is mapped back to its input field (one-hot and date-part columns sum back to their field).

- linear (logistic_regression, linear_regression, ridge): coefficients on the encoded columns,
  the training split's column means and the base score;
- tree ensembles (random_forest, gradient_boosting, hist_gradient_boosting): every tree as flat
  arrays (feature, threshold, left, right, value, training weight), the trees' values already
  scaled as the ensemble adds them (1/n_trees for a forest, the learning rate for gradient
  boosting), and the ensemble's constant (its initial raw score).

An estimator outside these has no artifact: `UnsupportedEstimatorError` names it, and serving answers a
request for contributions with a 400 naming the estimator.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops.buckets import ArtifactsBucket
from mlops.names import EXPLANATION_FILE
from mlops.serving.explain import Explainer, ExplanationError, artifact_bytes, scaled_rows
from mlops.training.features import CategoricalFeature, DatetimeFeature, FeatureSpec


class UnsupportedEstimatorError(ValueError):
    """The estimator has no explanation this platform computes."""


def input_groups(spec: FeatureSpec) -> NDArray[np.int64]:
    """Per encoded column: the index of the input field it encodes."""
    widths = [
        len(f.parts)
        if isinstance(f, DatetimeFeature)
        else len(f.categories) + int(f.other)
        if isinstance(f, CategoricalFeature)
        else 1
        for f in spec.features
    ]
    return np.repeat(np.arange(len(widths), dtype=np.int64), widths)


def _split(model: Any) -> tuple[Any, StandardScaler | None]:
    """The final estimator and the scaler before it (None: the estimator sees the encoded columns)."""
    if not isinstance(model, Pipeline):
        return model, None
    steps = [step for _name, step in model.steps]
    scalers = [s for s in steps[:-1] if isinstance(s, StandardScaler)]
    if len(steps) - 1 != len(scalers) or len(scalers) > 1:
        raise UnsupportedEstimatorError(f"a pipeline of {[type(s).__name__ for s in steps]}")
    return steps[-1], scalers[0] if scalers else None


def _linear(estimator: Any, scaler: StandardScaler | None, x_train: NDArray[Any]) -> dict[str, NDArray[Any]]:
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    seen = np.asarray(x_train, dtype=np.float32)
    scaling: dict[str, NDArray[Any]] = {}
    if scaler is not None:  # kept apart, not folded into coef: serving scales in float32 as the model does
        scaling = {"center": np.asarray(scaler.mean_, np.float32), "scale": np.asarray(scaler.scale_, np.float32)}
        seen = scaled_rows(seen, scaling["center"], scaling["scale"])
    mean = seen.astype(np.float64).mean(axis=0)
    return {"coef": coef, "mean": mean, "base": intercept + coef @ mean, **scaling}


def _node_values(leaf: NDArray[np.float64], left: NDArray[np.int64], right: NDArray[np.int64], weight: Any) -> Any:
    """Every node's value as the training-weighted mean of its children's, from the leaves up: the
    expectation TreeSHAP's base and Saabas' credits are measured in (a boosting tree's stored inner
    values are not its leaves' mean, its leaves having been refitted)."""
    value = leaf.copy()
    for node in range(left.size - 1, -1, -1):  # children are numbered after their parent
        a, b = left[node], right[node]
        if a >= 0:
            if a <= node or b <= node:
                raise UnsupportedEstimatorError("a tree whose children are numbered before their parent")
            total = weight[a] + weight[b]
            value[node] = (weight[a] * value[a] + weight[b] * value[b]) / total if total > 0 else value[a]
    return value


class _Forest:
    """Trees gathered into one set of flat arrays (children as indices into the whole set)."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.parts: dict[str, list[NDArray[Any]]] = {
            k: [] for k in ("feature", "threshold", "left", "right", "value", "weight")
        }
        self.roots: list[int] = []
        self.size = 0

    def add(
        self,
        feature: NDArray[Any],
        threshold: NDArray[Any],
        left: NDArray[Any],
        right: NDArray[Any],
        leaf_value: NDArray[Any],
        weight: NDArray[Any],
        output: int | None = None,
    ) -> None:
        """One tree; `leaf_value` nodes x outputs, or nodes (for `output`, the other outputs zero)."""
        left = np.where(left >= 0, left, -1).astype(np.int64)
        right = np.where(left >= 0, right, -1).astype(np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        if output is not None:
            full = np.zeros((left.size, self.outputs))
            full[:, output] = leaf_value
            leaf_value = full
        value = _node_values(np.asarray(leaf_value, dtype=np.float64), left, right, weight)
        inner = left >= 0
        self.parts["feature"].append(np.where(inner, feature, 0).astype(np.int64))
        self.parts["threshold"].append(np.where(inner, threshold, 0.0).astype(np.float64))
        self.parts["left"].append(np.where(inner, left + self.size, -1))
        self.parts["right"].append(np.where(inner, right + self.size, -1))
        self.parts["value"].append(value)
        self.parts["weight"].append(weight)
        self.roots.append(self.size)
        self.size += left.size

    def arrays(self, offset: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        joined = {k: np.concatenate(v) for k, v in self.parts.items()}
        return {**joined, "roots": np.array(self.roots, dtype=np.int64), "offset": offset}


def _sklearn_tree(forest: _Forest, tree: Any, scale: float, output: int | None, proportions: bool) -> None:
    t = tree.tree_
    value = np.asarray(t.value, dtype=np.float64)[:, 0, :] if output is None else np.asarray(t.value)[:, 0, 0]
    if proportions:  # a classification tree's class shares, as its predict_proba gives them
        value = value / np.maximum(value.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    forest.add(
        t.feature, t.threshold, t.children_left, t.children_right, value * scale, t.weighted_n_node_samples, output
    )


def _trees(estimator: Any, classifier: bool) -> tuple[str, dict[str, NDArray[Any]], int]:
    """(estimator kind, arrays, number of raw outputs)."""
    name = type(estimator).__name__
    if name in ("RandomForestClassifier", "RandomForestRegressor"):
        outputs = len(estimator.classes_) if classifier else 1
        forest = _Forest(outputs)
        scale = 1.0 / len(estimator.estimators_)
        for tree in estimator.estimators_:
            _sklearn_tree(forest, tree, scale, None, proportions=classifier)
        return name, forest.arrays(np.zeros(outputs)), outputs
    if name in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        stages = estimator.estimators_  # n_stages x outputs
        outputs = stages.shape[1]
        forest = _Forest(outputs)
        for stage in stages:
            for k, tree in enumerate(stage):
                _sklearn_tree(forest, tree, float(estimator.learning_rate), k, proportions=False)
        offset = np.asarray(estimator._raw_predict_init(np.zeros((1, estimator.n_features_in_))), dtype=np.float64)
        return name, forest.arrays(offset.reshape(-1)), outputs
    if name in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        predictors = estimator._predictors  # n_iterations x outputs
        outputs = len(predictors[0])
        forest = _Forest(outputs)
        for iteration in predictors:
            for k, predictor in enumerate(iteration):
                nodes = predictor.nodes
                if nodes["is_categorical"].any():
                    raise UnsupportedEstimatorError(f"{name} with categorical splits")
                leaf = np.where(nodes["is_leaf"].astype(bool), nodes["value"], 0.0)
                left = np.where(nodes["is_leaf"].astype(bool), -1, nodes["left"].astype(np.int64))
                right = np.where(nodes["is_leaf"].astype(bool), -1, nodes["right"].astype(np.int64))
                forest.add(nodes["feature_idx"], nodes["num_threshold"], left, right, leaf, nodes["count"], k)
        offset = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
        return name, forest.arrays(offset), outputs
    raise UnsupportedEstimatorError(name)


_LINEAR = ("LogisticRegression", "LinearRegression", "Ridge")


def _score(estimator: Any, classifier: bool, outputs: int) -> str:
    """What the raw score is, as the answer names it."""
    if not classifier:
        loss = str(getattr(estimator, "loss", "squared_error"))
        return "log_prediction" if loss in ("poisson", "gamma") else "prediction"
    if type(estimator).__name__.startswith("RandomForest"):
        return "probability"
    return "log_odds" if outputs == 1 else "logit"


def explanation_artifact(
    model: Any, spec: FeatureSpec, x_train: NDArray[Any], model_sha256: str | None = None
) -> bytes:
    """The artifact's bytes for a fitted model; deterministic (same model, same bytes). `model_sha256`
    (the pickled model's) is kept in the header: the register step records the artifact only for the
    model it registers, not one a parity retry left behind. UnsupportedEstimatorError: an estimator
    with no explanation here."""
    estimator, scaler = _split(model)
    classifier = bool(is_classifier(estimator))
    groups = input_groups(spec)
    if groups.size != x_train.shape[1]:
        raise ValueError(f"the feature spec encodes {groups.size} columns, the model takes {x_train.shape[1]}")
    name = type(estimator).__name__
    if name in _LINEAR:
        arrays = _linear(estimator, scaler, x_train)
        method, outputs = "linear", arrays["coef"].shape[0]
    elif scaler is not None:
        raise UnsupportedEstimatorError(f"{name} after a scaler")
    else:
        name, arrays, outputs = _trees(estimator, classifier)
        method = "trees"
    if classifier:
        classes = len(estimator.classes_)
        output_classes = np.arange(classes) if outputs == classes else np.array([1])
    else:
        output_classes = np.array([-1])
    header = {
        "method": method,
        "score": _score(estimator, classifier, outputs),
        "inputs": spec.columns,
        "estimator": name,
        "model_sha256": model_sha256,
    }
    return artifact_bytes(header, {**arrays, "groups": groups, "output_classes": output_classes.astype(np.int64)})


def write_explanation(
    artifacts: ArtifactsBucket,
    prefix: str,
    model: Any,
    spec: FeatureSpec,
    x_train: NDArray[Any],
    model_sha256: str | None,
) -> bool:
    """The export step's part: the artifact next to the run's model.onnx. An estimator with none is
    served without it (a request for contributions then answers 400 naming the estimator)."""
    try:
        data = explanation_artifact(model, spec, x_train, model_sha256)
    except UnsupportedEstimatorError:
        return False
    artifacts.put(f"{prefix}{EXPLANATION_FILE}", data, "application/octet-stream")
    return True


def registered_explanation(
    artifacts: ArtifactsBucket, prefix: str, model_sha256: str | None
) -> dict[str, dict[str, Any]]:
    """The register step's part: `{explanation.npz: {key, sha256}}` for the version's `artifacts`
    when the run's artifact was made from the model being registered; nothing otherwise (none was
    made, or it is an earlier parity attempt's)."""
    key = f"{prefix}{EXPLANATION_FILE}"
    found = artifacts.get_first([key])
    if found is None:
        return {}
    try:
        made_from = Explainer.from_bytes(found[1]).model_sha256
    except ExplanationError:
        return {}
    if made_from is None or made_from != model_sha256:
        return {}
    return {EXPLANATION_FILE: {"key": key, "sha256": hashlib.sha256(found[1]).hexdigest()}}
