"""Permutation importance of every input field on the test split, in the evaluate step.

scikit-learn's `permutation_importance`, measured on the selection metric (sign-aware: a positive
importance is how much the metric worsens when the field's values are shuffled), per input field
rather than per encoded column: a one-hot field's columns, or a date's parts, are shuffled together,
since shuffling one of them alone makes rows no request could send. The trick that keeps scikit-learn's
own loop: the matrix it permutes holds, per field, the row number whose values that field takes, and
the model wrapper assembles the encoded rows from it.

Bounded: at most MAX_ROWS test rows (drawn with the run's seed) times REPEATS shuffles per field,
one predict call each: for the default config on 20 fields, measured at load 10 on 2 CPUs, 2 s
(logistic regression), 3 s (gradient boosting), 7 s (histogram gradient boosting) and 27 s (the
200-tree forest) of the evaluate step's 15 minutes. The cost grows with the number of fields, so a
wide dataset would outrun the step: one scoring call is timed first, and when all of them would take
more than BUDGET_SECONDS the rows, then the shuffles, are cut to fit (to no fewer than MIN_ROWS rows
and one shuffle); the record says how many were used.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from mlops.training.config import ProblemType, higher_is_better
from mlops.training.evaluation import FeatureImportance, FieldImportance, compute_metrics, predict

MAX_ROWS = 2_000
REPEATS = 5
MIN_ROWS = 100
BUDGET_SECONDS = 120.0


class _RowsByField:
    """The model seen through a matrix of row numbers (rows x input fields): column f of a row says
    whose values field f takes. scikit-learn shuffles those columns; this assembles the rows."""

    def __init__(self, model: Any, x: NDArray[np.float32], groups: NDArray[np.int64], fields: int) -> None:
        self.model, self.x = model, x
        self.columns = [np.flatnonzero(groups == f) for f in range(fields)]

    def fit(self, x: Any, y: Any) -> _RowsByField:  # scikit-learn's estimator protocol; never refitted
        return self

    def encoded(self, rows: NDArray[Any]) -> NDArray[np.float32]:
        index = rows.astype(np.int64)
        out = np.empty((index.shape[0], self.x.shape[1]), dtype=np.float32)
        for f, columns in enumerate(self.columns):
            out[:, columns] = self.x[index[:, f][:, None], columns]
        return out


def permutation_importances(
    model: Any,
    x: NDArray[np.float32],
    y: NDArray[Any],
    *,
    inputs: list[str],
    groups: NDArray[np.int64],
    problem_type: ProblemType,
    metric: str,
    n_classes: int | None,
    seed: int,
) -> FeatureImportance:
    """Mean and standard deviation of each field's importance, most important first."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(y.size, MAX_ROWS, replace=False)) if y.size > MAX_ROWS else np.arange(y.size)
    wrapped = _RowsByField(model, np.ascontiguousarray(x[rows]), groups, len(inputs))
    sign = 1.0 if higher_is_better(metric) else -1.0

    def score(estimator: _RowsByField, index: NDArray[Any], truth: NDArray[Any]) -> float:
        predictions, proba = predict(estimator.model, estimator.encoded(index), problem_type)
        value = compute_metrics(problem_type, truth, predictions, proba, n_classes).get(metric)
        return sign * value if value is not None else float("nan")

    by_row = np.repeat(np.arange(rows.size, dtype=np.float64)[:, None], len(inputs), axis=1)
    # One thread: HistGradientBoosting's OpenMP loops on a busy machine were 13x slower than on one
    # thread (96 s against 7 s for 2,000 rows x 20 fields at load 10 on 2 CPUs).
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        score(wrapped, by_row, y[rows])
        per_call = time.perf_counter() - started
        kept, repeats = fitted_to_budget(rows.size, len(inputs), per_call)
        if kept < rows.size:  # the first `kept` of a seeded draw: still a seeded sample of the split
            rows = np.sort(rng.permutation(rows)[:kept])
            wrapped = _RowsByField(model, np.ascontiguousarray(x[rows]), groups, len(inputs))
            by_row = by_row[:kept]
        found = permutation_importance(
            wrapped, by_row, y[rows], scoring=score, n_repeats=repeats, random_state=seed, n_jobs=1
        )

    def number(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None

    fields = [
        FieldImportance(feature=name, mean=number(found.importances_mean[i]), std=number(found.importances_std[i]))
        for i, name in enumerate(inputs)
    ]
    fields.sort(key=lambda f: (-(f.mean if f.mean is not None else -math.inf), f.feature))
    return FeatureImportance(
        metric=metric,
        rows=int(rows.size),
        repeats=repeats,
        seed=seed,
        features=fields,
    )


def fitted_to_budget(rows: int, fields: int, seconds_per_call: float) -> tuple[int, int]:
    """Rows and shuffles per field whose scoring calls (one per field and shuffle, plus the baseline)
    fit BUDGET_SECONDS, given one call's time on `rows` rows, taken as proportional to rows: fewer
    rows first, down to MIN_ROWS, then fewer shuffles, down to one. Under the budget (every shipped
    config on tens of fields) nothing depends on the clock, so identical runs give identical figures."""
    calls = 1 + fields * REPEATS
    if calls * seconds_per_call <= BUDGET_SECONDS:
        return rows, REPEATS
    per_row = seconds_per_call / max(rows, 1)
    kept = min(rows, max(MIN_ROWS, int(BUDGET_SECONDS / (calls * per_row))))
    call = per_row * kept
    if calls * call <= BUDGET_SECONDS:
        return kept, REPEATS
    return kept, max(1, min(REPEATS, int((BUDGET_SECONDS / call - 1) // fields)))
