"""Fit one candidate (one Lambda invocation each, in a Map state) and select the best.

Search on the validation split, not cross-validation: every parameter setting is fitted on the
train split and scored on the validation split (`PredefinedSplit`), the winner is refitted on the
train split alone, and its validation metrics are what `select` compares. Every candidate is thus
judged on the same held-out rows, the model that is exported is exactly the one those figures
describe, and the test split stays untouched until evaluation. One fit per setting keeps a search
within one Lambda's time; k-fold CV would cost k times as much for a steadier score.
"""

from __future__ import annotations

import hashlib
import pickle
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, PredefinedSplit, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mlops.training.config import ProblemType, TrainingConfig, higher_is_better, is_classification
from mlops.training.evaluation import MetricValues, compute_metrics, predict
from mlops.training.prepare import Splits
from mlops.training.search_space import Candidate, Range

MODEL_STEP = "model"
MAX_ERROR_CHARS = 2000
MAX_WARNINGS = 10

_ESTIMATORS: dict[tuple[str, bool], Any] = {
    ("logistic_regression", True): LogisticRegression,
    ("linear_regression", False): LinearRegression,
    ("ridge", False): Ridge,
    ("random_forest", True): RandomForestClassifier,
    ("random_forest", False): RandomForestRegressor,
    ("hist_gradient_boosting", True): HistGradientBoostingClassifier,
    ("hist_gradient_boosting", False): HistGradientBoostingRegressor,
    ("gradient_boosting", True): GradientBoostingClassifier,
    ("gradient_boosting", False): GradientBoostingRegressor,
}
# Linear models are fitted on standardized features (penalties and solvers assume comparable scales);
# the scaler is part of the exported ONNX graph.
_SCALED = ("logistic_regression", "ridge")
_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}
# Estimators with a meaningful n_jobs (LogisticRegression's is deprecated and ignored since 1.8).
_PARALLEL = ("random_forest",)


class SelectionError(RuntimeError):
    """No candidate can be selected; the message carries every candidate's reason."""


class Trial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any]
    score: float | None = Field(description="the selection metric on the validation split")


class SearchSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["grid", "random", "none"]
    scoring: str
    trials: list[Trial] = Field(default_factory=list)


class CandidateResult(BaseModel):
    """Fit's output: JSON for the state machine, plus the pickled model as bytes (`model_bytes`,
    excluded from the JSON; the handler stores it and passes its key and `model_sha256`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    estimator: str
    status: Literal["succeeded", "failed"]
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="fixed params merged with the best searched")
    best_params: dict[str, Any] = Field(default_factory=dict)
    search: SearchSummary | None = None
    validation_metrics: MetricValues = Field(default_factory=dict)
    fit_seconds: float = 0.0
    model_sha256: str | None = None
    warnings: list[str] = Field(default_factory=list)
    model_bytes: bytes | None = Field(default=None, exclude=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _python(value: Any) -> Any:
    """numpy scalars (from scipy distributions) as JSON scalars."""
    return value.item() if isinstance(value, np.generic) else value


def build_estimator(
    estimator: str, problem_type: ProblemType, params: dict[str, Any], seed: int, *, threads: int = 1
) -> Pipeline:
    """A Pipeline whose last step is named `model`; seed and n_jobs (`threads`) are set by the platform."""
    cls = _ESTIMATORS[(estimator, is_classification(problem_type))]
    accepted = cls().get_params()
    fixed: dict[str, Any] = {**_DEFAULTS.get(estimator, {}), **params}
    if "random_state" in accepted:
        fixed["random_state"] = seed
    if estimator in _PARALLEL:
        fixed["n_jobs"] = threads
    steps: list[tuple[str, Any]] = []
    if estimator in _SCALED:
        steps.append(("scale", StandardScaler()))
    steps.append((MODEL_STEP, cls(**fixed)))
    return Pipeline(steps)


class _IntLogUniform:
    """Integers drawn log-uniformly in [low, high] (scipy has no such distribution)."""

    def __init__(self, low: int, high: int) -> None:
        self._dist = stats.loguniform(low, high + 1)
        self.low, self.high = low, high

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        drawn = np.floor(self._dist.rvs(size=size, random_state=random_state)).astype(np.int64)
        return np.clip(drawn, self.low, self.high)


def _distribution(spec: list[Any] | Range) -> Any:
    if isinstance(spec, list):
        return spec
    if spec.is_int:
        low, high = int(spec.low), int(spec.high)
        return _IntLogUniform(low, high) if spec.log else stats.randint(low, high + 1)
    if spec.log:
        return stats.loguniform(spec.low, spec.high)
    return stats.uniform(spec.low, spec.high - spec.low)


class _Scorer:
    """The selection metric as a search score (sign flipped for lower-is-better metrics), computed by
    the same code as the reported validation metrics."""

    def __init__(self, metric: str, problem_type: ProblemType, n_classes: int | None) -> None:
        self.metric, self.problem_type, self.n_classes = metric, problem_type, n_classes
        self.sign = 1.0 if higher_is_better(metric) else -1.0

    def __call__(self, estimator: Any, x: NDArray[Any], y: NDArray[Any]) -> float:
        predictions, proba = predict(estimator, x, self.problem_type)
        value = compute_metrics(self.problem_type, y, predictions, proba, self.n_classes).get(self.metric)
        return self.sign * value if value is not None else float("nan")


def _n_classes(splits: Splits, problem_type: ProblemType) -> int | None:
    if not is_classification(problem_type):
        return None
    return int(max(splits.y_train.max(), splits.y_validation.max(), splits.y_test.max())) + 1


def model_bytes(model: Any) -> bytes:
    """The scikit-learn model kept for audit and for evaluate/export; serving uses the ONNX model."""
    return pickle.dumps(model, protocol=5)


def load_model(data: bytes, sha256: str | None = None) -> Any:
    """Unpickle a model this platform wrote; with `sha256`, refuse bytes that are not the recorded ones."""
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("model bytes do not match the recorded sha256; refusing to unpickle")
    return pickle.loads(data)


def fit_candidate(candidate: Candidate, splits: Splits, config: TrainingConfig, *, threads: int = 1) -> CandidateResult:
    """Search and fit one candidate. Never raises for a bad candidate: a failure comes back as
    `status="failed"` with the reason, so the other candidates of the run still count.

    `threads`: one in a Lambda (few vCPUs; on a shared machine oversubscribed threads make a fit many
    times slower); a Fargate task passes its vCPUs, used by the estimator (a forest's trees,
    HistGradientBoosting's OpenMP loops) and by BLAS, while the search's trials run one after another
    (each trial in parallel would multiply the memory)."""
    started = time.perf_counter()
    kind = config.problem_type
    metric = config.metric
    caught: list[str] = []
    summary: SearchSummary | None = None
    best: dict[str, Any] = {}
    try:
        with threadpool_limits(limits=threads), warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            n_classes = _n_classes(splits, kind)
            pipeline = build_estimator(candidate.estimator, kind, dict(candidate.params), config.seed, threads=threads)
            search = candidate.search
            if search is not None:
                x = np.concatenate([splits.X_train, splits.X_validation])
                y = np.concatenate([splits.y_train, splits.y_validation])
                folds = np.concatenate(
                    [np.full(splits.y_train.shape[0], -1), np.zeros(splits.y_validation.shape[0], dtype=np.int64)]
                )
                common: dict[str, Any] = {
                    "scoring": _Scorer(metric, kind, n_classes),
                    "cv": PredefinedSplit(folds),
                    "n_jobs": 1,
                    "refit": False,
                    "error_score": "raise",
                }
                searcher: Any
                if search.grid is not None:
                    grid = {f"{MODEL_STEP}__{k}": list(v) for k, v in search.grid.items()}
                    searcher = GridSearchCV(pipeline, grid, **common)
                else:
                    assert search.random is not None
                    space = {f"{MODEL_STEP}__{k}": _distribution(v) for k, v in search.random.params.items()}
                    searcher = RandomizedSearchCV(
                        pipeline, space, n_iter=search.random.n_iter, random_state=config.seed, **common
                    )
                searcher.fit(x, y)
                sign = 1.0 if higher_is_better(metric) else -1.0
                prefix = f"{MODEL_STEP}__"
                trials = [
                    Trial(
                        params={k.removeprefix(prefix): _python(v) for k, v in params.items()},
                        score=float(sign * s) if np.isfinite(s) else None,
                    )
                    for params, s in zip(
                        searcher.cv_results_["params"], searcher.cv_results_["mean_test_score"], strict=True
                    )
                ]
                summary = SearchSummary(
                    kind="grid" if search.grid is not None else "random", scoring=metric, trials=trials
                )
                best = {k.removeprefix(prefix): _python(v) for k, v in searcher.best_params_.items()}
                pipeline = build_estimator(
                    candidate.estimator, kind, {**candidate.params, **best}, config.seed, threads=threads
                )
            else:
                summary = SearchSummary(kind="none", scoring=metric)
            pipeline.fit(splits.X_train, splits.y_train)
            if threads != 1 and candidate.estimator in _PARALLEL:
                # Scored and stored as a Lambda fit is: a forest's predict_proba summed over threads adds
                # its trees in the order they finish, which moves the last digit of a metric.
                pipeline.set_params(**{f"{MODEL_STEP}__n_jobs": 1})
            predictions, proba = predict(pipeline, splits.X_validation, kind)
            validation = compute_metrics(kind, splits.y_validation, predictions, proba, n_classes)
            if summary.kind == "none":
                summary.trials.append(Trial(params={}, score=validation.get(metric)))
            data = model_bytes(pipeline)
        for w in recorded:
            text = f"{w.category.__name__}: {w.message}"
            if text not in caught and len(caught) < MAX_WARNINGS:
                caught.append(text)
    except Exception as exc:  # a candidate's failure is data, not a crash of the Map state
        return CandidateResult(
            name=candidate.name,
            estimator=candidate.estimator,
            status="failed",
            error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS],
            params=dict(candidate.params),
            search=summary,
            fit_seconds=round(time.perf_counter() - started, 3),
            warnings=caught,
        )
    return CandidateResult(
        name=candidate.name,
        estimator=candidate.estimator,
        status="succeeded",
        params={**candidate.params, **best},
        best_params=best,
        search=summary,
        validation_metrics=validation,
        fit_seconds=round(time.perf_counter() - started, 3),
        model_sha256=hashlib.sha256(data).hexdigest(),
        warnings=caught,
        model_bytes=data,
    )


def rank(results: Sequence[CandidateResult | dict[str, Any]], metric: str) -> list[CandidateResult]:
    """The succeeded candidates, best validation `metric` first (direction-aware; ties keep config
    order): the order in which the pipeline tries them until one exports with parity. Raises
    SelectionError listing every reason when none qualifies."""
    parsed = [r if isinstance(r, CandidateResult) else CandidateResult.model_validate(r) for r in results]
    sign = 1.0 if higher_is_better(metric) else -1.0
    scored: list[tuple[float, int, CandidateResult]] = []
    reasons: list[str] = []
    for position, result in enumerate(parsed):
        value = result.validation_metrics.get(metric)
        if result.status != "succeeded":
            reasons.append(f"{result.name}: {result.error}")
        elif value is None:
            reasons.append(f"{result.name}: {metric} undefined on the validation split")
        else:
            scored.append((-sign * value, position, result))
    if not scored:
        detail = "; ".join(reasons) if reasons else "no candidates"
        raise SelectionError(f"no candidate can be selected by {metric}: {detail}")
    return [result for _score, _position, result in sorted(scored, key=lambda s: (s[0], s[1]))]


def select(results: Sequence[CandidateResult | dict[str, Any]], metric: str) -> CandidateResult:
    """The best candidate by `rank`."""
    return rank(results, metric)[0]


def parameter_problems(config: TrainingConfig) -> list[tuple[str, str]]:
    """Every candidate parameter scikit-learn would refuse (a negative n_estimators, C = 0), by field,
    in scikit-learn's own words; checked when the config is deployed, not when a fit fails."""
    problems: list[tuple[str, str]] = []
    for i, candidate in enumerate(config.candidates):
        cls = _ESTIMATORS[(candidate.estimator, is_classification(config.problem_type))]
        values: list[tuple[str, str, Any]] = [(f"params.{n}", n, v) for n, v in candidate.params.items()]
        search = candidate.search
        if search is not None and search.grid is not None:
            values += [(f"search.grid.{n}", n, v) for n, options in search.grid.items() for v in options]
        elif search is not None and search.random is not None:
            for name, space in search.random.params.items():
                options = [space.low, space.high] if isinstance(space, Range) else list(space)
                values += [(f"search.random.params.{name}", name, v) for v in options]
        for path, name, value in values:
            try:
                cls(**{name: value})._validate_params()
            except (ValueError, TypeError) as error:  # sklearn's InvalidParameterError is both
                problems.append((f"candidates[{i}].{path}", str(error)))
    return problems
