"""Evaluate: the selected model on the test split, overall, per class, per segment and (binary)
calibration, plus the prediction distribution that completes the reference profile.

Metric values are plain floats, or None where a metric is undefined (e.g. ROC AUC on a segment
with one class): JSON has no NaN, and a gate must see "unknown", not a number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from mlops.monitoring.profile import PredictionProfile, prediction_profile
from mlops.onnx_checks.champion_scores import ChampionScores
from mlops.training.config import ProblemType, higher_is_better, is_classification
from mlops.training.prepare import ClassValue, PreparedMeta, Splits

MetricValues = dict[str, float | None]
CALIBRATION_BINS = 10


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def predict(model: Any, x: NDArray[np.float32], problem_type: ProblemType) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """(predictions, probabilities or None): labels are class indices for classifiers."""
    if is_classification(problem_type):
        proba = np.asarray(model.predict_proba(x), dtype=np.float64)
        return np.asarray(model.predict(x)), proba
    return np.asarray(model.predict(x), dtype=np.float64).reshape(-1), None


def compute_metrics(
    problem_type: ProblemType,
    y_true: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    n_classes: int | None = None,
) -> MetricValues:
    """The scalar metrics of a problem type; None where undefined on these rows."""
    if y_true.size == 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not is_classification(problem_type):
            return {
                "rmse": _clean(math.sqrt(mean_squared_error(y_true, predictions))),
                "mae": _clean(mean_absolute_error(y_true, predictions)),
                "r2": _clean(r2_score(y_true, predictions)) if y_true.size > 1 else None,
            }
        assert proba is not None
        k = n_classes or proba.shape[1]
        labels = list(range(k))
        metrics: MetricValues = {
            "accuracy": _clean(accuracy_score(y_true, predictions)),
            "f1_macro": _clean(f1_score(y_true, predictions, labels=labels, average="macro", zero_division=0)),
            "log_loss": _clean(log_loss(y_true, proba, labels=labels)),
        }
        present = np.unique(y_true)
        auc: float | None = None
        if problem_type == "binary":
            if present.size == 2:
                auc = _clean(roc_auc_score(y_true, proba[:, 1]))
            metrics["brier"] = _clean(brier_score_loss(y_true, proba[:, 1], pos_label=1))
        elif present.size == k:
            auc = _clean(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))
        elif present.size >= 2:
            # One-vs-rest over the classes present: a segment rarely holds every class.
            scores = [roc_auc_score(y_true == c, proba[:, c]) for c in present.tolist()]
            auc = _clean(float(np.mean(scores)))
        metrics["roc_auc"] = auc
        return dict(sorted(metrics.items()))


class ClassMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    precision: float
    recall: float
    f1: float
    support: int


class ConfusionMatrix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[str]
    matrix: list[list[int]] = Field(description="rows: true class, columns: predicted class")


class CalibrationBin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    fraction_positive: float | None


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bins: list[CalibrationBin]
    brier: float | None


class SegmentMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str
    rows: int
    metrics: MetricValues


class BaselineGain(BaseModel):
    """How much better than the trivial model the selection metric is, and how sure: percentiles of
    the paired gain over bootstrap resamples of the test rows (direction-aware: positive is better)."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    gain: float | None
    lower: dict[str, float | None] = Field(description="confidence -> the gain's lower bound at it")
    resamples: int
    rows: int


BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_MAX_ROWS = 5_000  # a bigger test split is subsampled for the interval: its width barely changes
CONFIDENCES = (0.9, 0.95, 0.99)


def baseline_gain(
    kind: ProblemType,
    metric: str,
    y: NDArray[Any],
    ours: tuple[NDArray[Any], NDArray[Any] | None],
    baseline: tuple[NDArray[Any], NDArray[Any] | None],
    k: int | None,
    *,
    seed: int = 0,
    confidences: Sequence[float] = CONFIDENCES,
) -> BaselineGain:
    """The paired bootstrap of (model - trivial model) on the selection metric: a roc_auc of 0.51
    against the baseline's 0.5 is noise, and should not pass a gate by luck."""
    sign = 1.0 if higher_is_better(metric) else -1.0

    def gain(rows: NDArray[np.int64]) -> float | None:
        mine = compute_metrics(kind, y[rows], ours[0][rows], ours[1][rows] if ours[1] is not None else None, k)
        theirs = compute_metrics(
            kind, y[rows], baseline[0][rows], baseline[1][rows] if baseline[1] is not None else None, k
        )
        a, b = mine.get(metric), theirs.get(metric)
        return None if a is None or b is None else sign * (a - b)

    rng = np.random.default_rng(seed)
    everything = np.arange(y.size)
    pool = everything if y.size <= BOOTSTRAP_MAX_ROWS else rng.choice(everything, BOOTSTRAP_MAX_ROWS, replace=False)
    gains = [g for g in (gain(rng.choice(pool, pool.size)) for _ in range(BOOTSTRAP_RESAMPLES)) if g is not None]
    enough = len(gains) >= BOOTSTRAP_RESAMPLES // 2
    return BaselineGain(
        metric=metric,
        gain=gain(everything),
        lower={f"{c:g}": float(np.quantile(gains, 1 - c)) if enough else None for c in confidences},
        resamples=len(gains),
        rows=int(pool.size),
    )


class ChampionComparison(BaseModel):
    """Champion and challenger scored on the same rows of this run's test split: what the
    max_regression gate compares (the champion's stored figures come from another split)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    rows: int = Field(description="test rows the champion answered; both models are scored on these")
    basis: str = Field(description="how the rows were chosen, and why any were left out")
    caveat: str | None = Field(default=None, description="why the comparison cannot be trusted; the gate skips it")
    champion_metrics: MetricValues
    metrics: MetricValues = Field(description="this run's model on the same rows")


class FieldImportance(BaseModel):
    """One input field's permutation importance: how much the selection metric worsens (positive) when
    its values are shuffled among the test rows, as mean and standard deviation over the repeats."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    mean: float | None
    std: float | None


class FeatureImportance(BaseModel):
    """Permutation importance of every input field on the test split (mlops.training.importance)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="the selection metric the importance is measured on")
    rows: int = Field(description="test rows used (a larger split is sampled with the seed)")
    repeats: int = Field(description="shuffles per field")
    seed: int
    features: list[FieldImportance] = Field(description="most important first")

    @property
    def bound(self) -> str:
        """How the computation was bounded, as the run report and model card state it."""
        shuffles = f"{self.repeats} shuffle{'' if self.repeats == 1 else 's'}"
        return f"{self.rows:,} test rows x {shuffles} per field, on {self.metric}"


class Evaluation(BaseModel):
    """Evaluate's JSON output."""

    model_config = ConfigDict(extra="forbid")

    problem_type: ProblemType
    split: str
    rows: int
    metrics: MetricValues
    per_class: list[ClassMetrics] | None = None
    confusion_matrix: ConfusionMatrix | None = None
    calibration: Calibration | None = None
    segments: list[SegmentMetrics] = Field(default_factory=list)
    prediction_distribution: PredictionProfile
    baseline_metrics: MetricValues | None = Field(
        default=None,
        description="a trivial model's on the same rows (class prior for classifiers, the mean for regression): "
        "what a model must beat",
    )
    predicted_classes: int | None = Field(default=None, description="classifiers: distinct classes predicted")
    baseline_gain: BaselineGain | None = Field(
        default=None, description="the selection metric's gain over the trivial model, with a bootstrap interval"
    )
    champion: ChampionComparison | None = Field(
        default=None, description="the serving champion and this model on the same test rows"
    )
    feature_importance: FeatureImportance | None = Field(
        default=None, description="permutation importance of each input field on the test split"
    )


def calibration(y_true: NDArray[Any], positive_proba: NDArray[Any], bins: int = CALIBRATION_BINS) -> Calibration:
    """Reliability table on uniform bins (empty bins kept, with count 0) and the Brier score."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, positive_proba, side="right") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        table.append(
            CalibrationBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=count,
                mean_predicted=float(positive_proba[inside].mean()) if count else None,
                fraction_positive=float((y_true[inside] == 1).mean()) if count else None,
            )
        )
    brier = _clean(brier_score_loss(y_true, positive_proba, pos_label=1)) if y_true.size else None
    return Calibration(bins=table, brier=brier)


def _baseline_predictions(
    splits: Splits, kind: ProblemType, x: NDArray[Any], k: int | None
) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """What a model that ignores the inputs answers, fitted on the training rows: the class prior
    (every row gets the training class shares; the label is the majority class) or the mean."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    x_train, y_train, _rows, _segments = splits.part("train")
    baseline: Any = DummyClassifier(strategy="prior") if is_classification(kind) else DummyRegressor(strategy="mean")
    baseline.fit(x_train, y_train)
    predictions, proba = predict(baseline, x, kind)
    if proba is not None and k is not None and proba.shape[1] != k:  # a class absent from the training rows
        full = np.zeros((proba.shape[0], k))
        full[:, baseline.classes_.astype(np.int64)] = proba
        proba = full
    return predictions, proba


def class_key(value: Any) -> str:
    """A class value as text, numbers normalized: a label stored as 1 by one version and 1.0 by
    another is the same class."""
    try:
        number = float(str(value))
    except ValueError:
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _champion_in_our_classes(
    scores: ChampionScores, classes: Sequence[ClassValue]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The champion's labels and probabilities in this run's class order: a class only the champion
    knows is a wrong answer (-1) and its probability mass is spread over the classes we know."""
    ours = {class_key(c): i for i, c in enumerate(classes)}
    theirs = [ours.get(class_key(c), -1) for c in scores.classes or []]
    labels = np.array([theirs[i] if 0 <= i < len(theirs) else -1 for i in np.asarray(scores.labels).tolist()])
    proba = np.zeros((labels.size, len(classes)))
    for j, index in enumerate(theirs):
        if index >= 0:
            proba[:, index] += np.asarray(scores.probabilities, dtype=np.float64)[:, j]
    totals = proba.sum(axis=1, keepdims=True)
    proba = np.where(totals > 0, proba / np.where(totals > 0, totals, 1.0), 1.0 / max(len(classes), 1))
    return labels.astype(np.int64), proba


def _not_comparable(scores: ChampionScores, classes: Sequence[ClassValue] | None) -> str | None:
    """Why the champion's answers cannot be set against this model's at all, or None."""
    ours = "classification" if classes is not None else "regression"
    if scores.kind is not None and scores.kind != ours:
        return f"the champion is a {scores.kind} model and this one a {ours} model"
    if classes is not None and not {class_key(c) for c in classes} & {class_key(c) for c in scores.classes or []}:
        return "the champion predicts none of this run's classes"
    return None


def compare_with_champion(
    scores: ChampionScores,
    kind: ProblemType,
    y: NDArray[Any],
    predictions: NDArray[Any],
    proba: NDArray[Any] | None,
    classes: Sequence[ClassValue] | None,
) -> ChampionComparison | None:
    """Both models' metrics on the test rows the champion answered; None without a champion. A
    comparison that cannot be trusted (other problem type, no shared class, fitted rows that could
    not be told apart) says why in `caveat`, and the gate does not use it."""
    if scores.version is None:
        return None
    scored = np.asarray(scores.scored, dtype=bool) if scores.scored is not None else np.zeros(y.size, dtype=bool)
    if scored.size != y.size:
        raise ValueError(f"the champion was scored on {scored.size} test rows, the test split has {y.size}")
    mismatch = _not_comparable(scores, classes)
    if mismatch is not None:
        return ChampionComparison(
            version=scores.version, rows=0, basis=scores.basis(), caveat=mismatch, champion_metrics={}, metrics={}
        )
    k = len(classes) if classes is not None else None
    champion: MetricValues = {}
    if scored.any():
        if classes is not None:
            labels, champion_proba = _champion_in_our_classes(scores, classes)
            champion = compute_metrics(kind, y[scored], labels, champion_proba, k)
        else:
            champion = compute_metrics(kind, y[scored], np.asarray(scores.values, dtype=np.float64), None)
    return ChampionComparison(
        version=scores.version,
        rows=int(scored.sum()),
        basis=scores.basis(),
        caveat=scores.caveat,
        champion_metrics=champion,
        metrics=compute_metrics(kind, y[scored], predictions[scored], proba[scored] if proba is not None else None, k)
        if scored.any()
        else {},
    )


def _importance(
    model: Any, x: NDArray[np.float32], y: NDArray[Any], meta: PreparedMeta, metric: str, k: int | None
) -> FeatureImportance:
    from mlops.training.explain_export import input_groups
    from mlops.training.importance import permutation_importances

    spec = meta.feature_spec
    return permutation_importances(
        model,
        x,
        y,
        inputs=spec.columns,
        groups=input_groups(spec),
        problem_type=meta.problem_type,
        metric=metric,
        n_classes=k,
        seed=meta.seed,
    )


def evaluate(
    model: Any,
    splits: Splits,
    meta: PreparedMeta,
    split: str = "test",
    champion: ChampionScores | None = None,
    selection_metric: str | None = None,
    confidence: float | None = None,
) -> Evaluation:
    """All test-split figures of one fitted model (the scikit-learn model; parity vouches for ONNX),
    and, given the champion's answers on the same rows, both models' figures on those rows."""
    x, y, _rows, segments = splits.part(split)
    kind = meta.problem_type
    predictions, proba = predict(model, x, kind)
    classes = meta.classes
    k = len(classes) if classes is not None else None
    metrics = compute_metrics(kind, y, predictions, proba, k)
    baseline = _baseline_predictions(splits, kind, x, k)
    result: dict[str, Any] = {
        "problem_type": kind,
        "split": split,
        "rows": int(y.size),
        "metrics": metrics,
        "baseline_metrics": compute_metrics(kind, y, *baseline, k),
        "baseline_gain": baseline_gain(
            kind,
            selection_metric,
            y,
            (predictions, proba),
            baseline,
            k,
            seed=meta.seed,
            confidences=sorted({*CONFIDENCES, *([confidence] if confidence else [])}),
        )
        if selection_metric is not None and y.size
        else None,
        "predicted_classes": int(np.unique(predictions).size) if classes is not None else None,
        "champion": compare_with_champion(champion, kind, y, predictions, proba, classes) if champion else None,
        "feature_importance": _importance(model, x, y, meta, selection_metric, k)
        if selection_metric and y.size
        else None,
    }
    if classes is not None and proba is not None:
        names = [str(c) for c in classes]
        labels = list(range(len(classes)))
        precision, recall, f1, support = precision_recall_fscore_support(y, predictions, labels=labels, zero_division=0)
        result["per_class"] = [
            ClassMetrics(
                label=names[i],
                precision=float(precision[i]),
                recall=float(recall[i]),
                f1=float(f1[i]),
                support=int(support[i]),
            )
            for i in labels
        ]
        result["confusion_matrix"] = ConfusionMatrix(
            labels=names, matrix=confusion_matrix(y, predictions, labels=labels).astype(int).tolist()
        )
        if kind == "binary":
            result["calibration"] = calibration(y, proba[:, 1])
            score, scores = "positive_probability", proba[:, 1]
        else:
            score, scores = "max_probability", proba.max(axis=1)
        predicted_values = np.asarray(names, dtype=object)[predictions.astype(np.int64)]
        result["prediction_distribution"] = prediction_profile(predicted_values, scores, classes=names, score=score)
    else:
        result["prediction_distribution"] = prediction_profile(
            predictions, predictions, classes=None, score="prediction"
        )
    if segments is not None:
        table = []
        for segment in np.unique(segments).tolist():
            inside = segments == segment
            table.append(
                SegmentMetrics(
                    segment=str(segment),
                    rows=int(inside.sum()),
                    metrics=compute_metrics(
                        kind, y[inside], predictions[inside], proba[inside] if proba is not None else None, k
                    ),
                )
            )
        result["segments"] = table
    return Evaluation.model_validate(result)
