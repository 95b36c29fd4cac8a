"""The A/B test of a canary on outcomes (issue #19): the labelled rows the challenger answered
against those the champion answered, with a test suited to the metric, the effect and its interval,
the labels still needed for a decision, and the verdict `mlops.monitoring.canary_decision` acts on.

Only the rows each version answered count: variant "champion" rows of the champion version against
variant "challenger" rows of the challenger version. A shadow is scored on requests the champion
answers; its rows answer nobody and are no A/B.

The tests, each two-sided at `alpha`, the interval at 1 - alpha:
- accuracy: the pooled two-proportion z-test; Newcombe's hybrid score interval for the difference
  (better than Wald's near 0 and 1, so the two may disagree at the edge: the verdict follows the p-value);
- mae, rmse: Welch's t-test on the rows' absolute or squared errors (rmse: the interval on the RMSE
  difference by the delta method);
- roc_auc, log_loss: a seeded bootstrap of the difference, each side resampled on its own, the
  p-value the smallest level at which the percentile interval leaves out 0.

numpy and the standard library only: the scheduled function runs on the inference layer, which has
no scipy (the tests and distributions: mlops.monitoring.significance; the bootstrap:
mlops.monitoring.resampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.performance import ProblemType
from mlops.monitoring.resampling import Statistic, bootstrap, weighted_auc
from mlops.monitoring.significance import normal_quantile, student_t_quantile, two_proportion_test, welch_test
from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.numbers import to_dynamo

Verdict = Literal["insufficient_labels", "challenger_better", "challenger_worse", "no_difference_yet"]
TestName = Literal["two_proportion_z", "welch_t", "bootstrap"]

HIGHER_IS_BETTER: dict[str, bool] = {"accuracy": True, "roc_auc": True, "log_loss": False, "mae": False, "rmse": False}
CLASSIFIER_METRICS = ("accuracy", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse")
DEFAULT_RESAMPLES = 2000
CLOSED_FORM = "closed form"
BOOTSTRAP_APPROXIMATION = "approximation from the bootstrap's variance of each side's metric"


# ------------------------------------------------------------------------------------ the records
@dataclass(frozen=True)
class VariantOutcome:
    """One side of the comparison: the labelled rows a version answered and its metric on them."""

    variant: str  # champion | challenger
    version: int
    labels: int
    value: float | None  # None: no labelled rows, or the metric is undefined on them (AUC of one class)
    still_needed: int | None  # labelled rows it still needs for a decision (None: not known yet)

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "version": self.version,
            "labels": self.labels,
            "value": _json_number(self.value),
            "still_needed": self.still_needed,
        }


@dataclass(frozen=True)
class ABComparison:
    """What one A/B check found; `effect` and `interval` are signed so that positive means the
    challenger is better, whichever way the metric points."""

    model: str
    metric: ABTestMetric
    test: TestName
    champion: VariantOutcome
    challenger: VariantOutcome
    difference: float | None  # challenger minus champion, in the metric's units
    effect: float | None  # the difference signed so that positive = challenger better
    interval: tuple[float, float] | None  # of the effect, at confidence 1 - alpha
    p_value: float | None
    labels_needed: int | None  # per variant, to detect min_effect at alpha with power
    labels_needed_method: str  # closed form, or the bootstrap's approximation
    verdict: Verdict
    reason: str
    alpha: float
    power: float
    min_effect: float
    min_labels: int
    resamples: int | None = None  # the bootstrap's

    @property
    def decided(self) -> bool:
        return self.verdict in ("challenger_better", "challenger_worse")

    def as_dict(self) -> dict[str, Any]:
        """For JSON (reports, logs): plain numbers, None where a figure is undefined."""
        return {
            "model": self.model,
            "metric": self.metric,
            "test": self.test,
            "verdict": self.verdict,
            "reason": self.reason,
            "champion": self.champion.as_dict(),
            "challenger": self.challenger.as_dict(),
            "difference": _json_number(self.difference),
            "effect": _json_number(self.effect),
            "interval": [_json_number(v) for v in self.interval] if self.interval else None,
            "p_value": _json_number(self.p_value),
            "labels_needed": self.labels_needed,
            "labels_needed_method": self.labels_needed_method,
            "alpha": self.alpha,
            "power": self.power,
            "min_effect": self.min_effect,
            "min_labels": self.min_labels,
            "resamples": self.resamples,
        }

    def as_summary(self) -> dict[str, Any]:
        """For the registry table (an audit event, a check's row): numbers as DynamoDB takes them."""
        summary: dict[str, Any] = to_dynamo(self.as_dict())
        return summary

    def text(self) -> str:
        """One line with the figures: an audit event's reason, a mail's line."""
        champion, challenger = self.champion, self.challenger
        line = (
            f"{self.metric} of challenger v{challenger.version} {_figure(challenger.value)} on "
            f"{challenger.labels} labels vs champion v{champion.version} {_figure(champion.value)} on "
            f"{champion.labels} labels"
        )
        if self.effect is not None:
            line += f"; effect {self.effect:+.4g} (positive: challenger better)"
        if self.interval is not None:
            line += f", {1 - self.alpha:.0%} interval {self.interval[0]:+.4g} to {self.interval[1]:+.4g}"
        if self.p_value is not None:
            line += f", p = {self.p_value:.3g} ({_TEST_NAMES[self.test]})"
        return f"{line}: {self.reason}"


_TEST_NAMES: dict[str, str] = {
    "two_proportion_z": "two-proportion z-test",
    "welch_t": "Welch's t-test",
    "bootstrap": "bootstrap",
}


def _figure(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _json_number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# ------------------------------------------------------------------------------- the comparison
def default_metric(problem_type: ProblemType) -> ABTestMetric:
    return "mae" if problem_type == "regression" else "accuracy"


def test_for(metric: ABTestMetric) -> TestName:
    if metric == "accuracy":
        return "two_proportion_z"
    return "welch_t" if metric in REGRESSION_METRICS else "bootstrap"


@dataclass(frozen=True)
class _Side:
    """One variant's labelled rows, as the metric's test reads them."""

    variant: str
    version: int
    rows: int
    per_row: NDArray[np.float64]  # correct (0/1), absolute or squared error, or log loss per row
    y: NDArray[np.int64] | None  # class indices (roc_auc)
    proba: NDArray[np.float64] | None  # rows x classes (roc_auc)


def compare_canary(
    window: JoinedHour,
    *,
    champion: int,
    challenger: int,
    problem_type: ProblemType,
    classes: list[str] | None,
    config: ABTestConfig,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    since_ms: int | None = None,
) -> ABComparison:
    """Compare the challenger's labelled rows with the champion's in `window`.

    `classes`: the model's, in its probabilities' order (None: the window's). `since_ms`: only rows
    answered from then on (the canary's start), so both sides saw the same period's traffic; None:
    every row of the window. `seed` makes a bootstrap repeatable. Raises ValueError when the metric
    does not fit the problem or the window lacks what it needs."""
    classes = classes or window.classes
    metric = config.metric or default_metric(problem_type)
    _check_metric(metric, problem_type, window)
    answered = np.ones(window.size, dtype=bool) if since_ms is None else window.answered_ms >= since_ms
    sides = [
        _side(window, answered, variant, version, metric, classes)
        for variant, version in ((CHAMPION, champion), (CHALLENGER, challenger))
    ]
    test = test_for(metric)
    if test == "two_proportion_z":
        figures = _accuracy_figures(sides[0], sides[1], config)
    elif test == "welch_t":
        figures = _error_figures(sides[0], sides[1], metric, config)
    else:
        figures = _bootstrap_figures(sides[0], sides[1], metric, config, np.random.default_rng(seed), resamples)
    return _comparison(window.model, metric, test, sides, figures, config, resamples if test == "bootstrap" else None)


def _check_metric(metric: ABTestMetric, problem_type: ProblemType, window: JoinedHour) -> None:
    allowed = REGRESSION_METRICS if problem_type == "regression" else CLASSIFIER_METRICS
    if metric not in allowed:
        raise ValueError(f"the A/B metric {metric!r} does not apply to a {problem_type} model")
    if metric in ("roc_auc", "log_loss") and window.probabilities is None and window.size:
        raise ValueError(f"the A/B metric {metric!r} needs the predictions' probabilities; the window has none")


def _side(
    window: JoinedHour,
    answered: NDArray[np.bool_],
    variant: str,
    version: int,
    metric: ABTestMetric,
    classes: list[str] | None,
) -> _Side:
    mask = answered & (window.variants == variant) & (window.versions == version)
    rows = int(np.count_nonzero(mask))
    labels, predictions = window.labels[mask], window.predictions[mask]
    if metric in REGRESSION_METRICS:
        error = labels.astype(np.float64) - predictions.astype(np.float64)
        return _Side(variant, version, rows, np.abs(error) if metric == "mae" else error * error, None, None)
    if metric == "accuracy":
        correct = labels.astype(str) == predictions.astype(str)
        return _Side(variant, version, rows, correct.astype(np.float64), None, None)
    assert window.probabilities is not None or rows == 0  # _check_metric
    width = len(classes) if classes else 0
    proba = window.probabilities[mask].astype(np.float64) if window.probabilities is not None else np.zeros((0, width))
    y = _class_indices(labels, classes or [])
    if metric == "log_loss":
        eps = np.finfo(np.float64).eps  # as mlops.monitoring.performance clips, so the figures agree
        losses = -np.log(np.clip(proba[np.arange(rows), y], eps, 1 - eps))
        return _Side(variant, version, rows, losses, None, None)
    return _Side(variant, version, rows, np.zeros(rows), y, proba)


def _class_indices(labels: NDArray[Any], classes: list[str]) -> NDArray[np.int64]:
    known = np.asarray(classes, dtype=str)
    order = np.argsort(known)
    found = np.searchsorted(known, labels.astype(str), sorter=order).clip(max=max(len(known) - 1, 0))
    index = order[found] if len(known) else np.zeros(labels.size, dtype=np.int64)
    unknown = ~np.isin(labels.astype(str), known)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} labelled rows name a class the model does not know "
            f"(e.g. {str(labels[unknown][0])!r}; classes {classes})"
        )
    return index.astype(np.int64)


@dataclass(frozen=True)
class _Figures:
    values: tuple[float | None, float | None]  # champion, challenger
    difference: float | None  # challenger - champion
    interval: tuple[float, float] | None  # of the difference
    p_value: float | None
    labels_needed: int | None
    undefined: str | None = None  # why no test could run on rows that are there


def _comparison(
    model: str,
    metric: ABTestMetric,
    test: TestName,
    sides: list[_Side],
    figures: _Figures,
    config: ABTestConfig,
    resamples: int | None,
) -> ABComparison:
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    effect = None if figures.difference is None else sign * figures.difference
    interval = None
    if figures.interval is not None:
        low, high = (sign * figures.interval[0], sign * figures.interval[1])
        interval = (min(low, high), max(low, high))
    needed = figures.labels_needed
    outcomes = [
        VariantOutcome(
            side.variant,
            side.version,
            side.rows,
            value,
            None if needed is None else max(0, max(needed, config.min_labels) - side.rows),
        )
        for side, value in zip(sides, figures.values, strict=True)
    ]
    verdict, reason = _verdict(sides, figures, effect, config, metric)
    return ABComparison(
        model=model,
        metric=metric,
        test=test,
        champion=outcomes[0],
        challenger=outcomes[1],
        difference=figures.difference,
        effect=effect,
        interval=interval,
        p_value=figures.p_value,
        labels_needed=needed,
        labels_needed_method=BOOTSTRAP_APPROXIMATION if test == "bootstrap" else CLOSED_FORM,
        verdict=verdict,
        reason=reason,
        alpha=config.alpha,
        power=config.power,
        min_effect=config.min_effect,
        min_labels=config.min_labels,
        resamples=resamples,
    )


def _verdict(
    sides: list[_Side], figures: _Figures, effect: float | None, config: ABTestConfig, metric: str
) -> tuple[Verdict, str]:
    champion, challenger = sides
    needed = (
        f"; about {figures.labels_needed} labelled rows per variant detect a difference of {config.min_effect:g}"
        if figures.labels_needed
        else ""
    )
    if min(champion.rows, challenger.rows) < config.min_labels:
        return "insufficient_labels", (
            f"the challenger has {challenger.rows} labelled rows and the champion {champion.rows}; "
            f"each needs {config.min_labels} before a decision{needed}"
        )
    if figures.p_value is None or effect is None:
        return "insufficient_labels", figures.undefined or f"{metric} cannot be compared on these rows"
    if figures.p_value < config.alpha and effect != 0:
        side = "better" if effect > 0 else "worse"
        return ("challenger_better" if effect > 0 else "challenger_worse"), (
            f"the challenger is significantly {side} at alpha {config.alpha:g}"
        )
    return "no_difference_yet", f"no significant difference at alpha {config.alpha:g} yet{needed}"


# --------------------------------------------------------------------------- accuracy: proportions
def _accuracy_figures(champion: _Side, challenger: _Side, config: ABTestConfig) -> _Figures:
    n1, n2 = champion.rows, challenger.rows
    x1, x2 = float(champion.per_row.sum()), float(challenger.per_row.sum())
    values = (x1 / n1 if n1 else None, x2 / n2 if n2 else None)
    reference = values[0] if values[0] is not None else values[1]
    needed = None if reference is None else labels_for_proportions(reference, config)
    if not (n1 and n2):
        return _Figures(values, None, None, None, needed)
    difference, interval, p_value = two_proportion_test(x1, n1, x2, n2, alpha=config.alpha)
    return _Figures(values, difference, interval, p_value, needed)


def labels_for_proportions(reference: float, config: ABTestConfig) -> int:
    """Rows per variant for the two-proportion test to find a challenger `min_effect` worse than a
    champion right `reference` of the time (better, when worse would leave [0, 1]) at `alpha`
    with `power` (Fleiss's formula, without continuity correction)."""
    delta = config.min_effect
    p1 = reference
    p2 = p1 - delta if p1 - delta > 0 else min(1.0, p1 + delta)
    mean = (p1 + p2) / 2
    z_alpha, z_power = normal_quantile(1 - config.alpha / 2), normal_quantile(config.power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return max(2, math.ceil(root * root / (p2 - p1) ** 2))


# ------------------------------------------------------------------------ mae, rmse: Welch's t-test
def _error_figures(champion: _Side, challenger: _Side, metric: str, config: ABTestConfig) -> _Figures:
    a, b = champion.per_row, challenger.per_row

    def value(errors: NDArray[np.float64]) -> float | None:
        if not errors.size:
            return None
        mean = float(errors.mean())
        return mean if metric == "mae" else math.sqrt(mean)

    values = (value(a), value(b))
    needed = labels_for_means(a, b, metric, config)
    if a.size < 2 or b.size < 2:
        return _Figures(values, None, None, None, needed)
    mean_difference, mean_interval, p_value, df = welch_test(a, b, alpha=config.alpha)
    if metric == "mae":
        return _Figures(values, mean_difference, mean_interval, p_value, needed)
    assert values[0] is not None and values[1] is not None
    return _Figures(values, values[1] - values[0], _rmse_interval(a, b, df, config.alpha), p_value, needed)


def _rmse_interval(
    a: NDArray[np.float64], b: NDArray[np.float64], df: float, alpha: float
) -> tuple[float, float] | None:
    """The RMSE difference's interval by the delta method: var(sqrt(m)) ~ var(m) / (4 m), with the
    squared errors' Welch degrees of freedom. None when a side has no error at all."""
    ma, mb = float(a.mean()), float(b.mean())
    if ma <= 0 or mb <= 0:
        return None
    se = math.sqrt(float(a.var(ddof=1)) / (4 * ma * a.size) + float(b.var(ddof=1)) / (4 * mb * b.size))
    difference = math.sqrt(mb) - math.sqrt(ma)
    half = (student_t_quantile(1 - alpha / 2, df) if math.isfinite(df) else normal_quantile(1 - alpha / 2)) * se
    return difference - half, difference + half


def labels_for_means(a: NDArray[np.float64], b: NDArray[np.float64], metric: str, config: ABTestConfig) -> int | None:
    """Rows per variant for Welch's test to detect `min_effect` (in the metric's units) at `alpha`
    with `power`, from the variances observed: n = (z_alpha/2 + z_power)^2 (s_a^2 + s_b^2) / delta^2.
    For rmse the squared errors are tested, so delta is the change of the mean squared error that
    moves the champion's RMSE by `min_effect`. None until a side has two rows."""
    sides = [s for s in (a, b) if s.size >= 2]
    if not sides:
        return None
    variances = [float(s.var(ddof=1)) for s in sides]
    total = sum(variances) * (2 / len(variances))  # one side known: assume the other varies alike
    delta = config.min_effect
    if metric == "rmse":
        rmse = math.sqrt(float(sides[0].mean()))
        delta = (rmse + delta) ** 2 - rmse**2
    z = normal_quantile(1 - config.alpha / 2) + normal_quantile(config.power)
    return max(2, math.ceil(z * z * total / (delta * delta)))


# ---------------------------------------------------------------------- roc_auc, log_loss: bootstrap
def _bootstrap_figures(
    champion: _Side,
    challenger: _Side,
    metric: str,
    config: ABTestConfig,
    rng: np.random.Generator,
    resamples: int,
) -> _Figures:
    statistics = [_weighted_statistic(side, metric) for side in (champion, challenger)]
    values = tuple(_point(side, metric) for side in (champion, challenger))
    if not (champion.rows and challenger.rows) or values[0] is None or values[1] is None:
        undefined = None
        if champion.rows and challenger.rows:
            undefined = f"{metric} is undefined on one side's rows (a single class among its labels)"
        return _Figures((values[0], values[1]), None, None, None, None, undefined)
    replicates = [
        bootstrap(side.rows, statistic, rng, resamples)
        for side, statistic in zip((champion, challenger), statistics, strict=True)
    ]
    differences = replicates[1] - replicates[0]
    valid = differences[np.isfinite(differences)]
    difference = values[1] - values[0]
    if valid.size < resamples / 2:  # most resamples lost a class: the bootstrap says nothing
        return _Figures(
            (values[0], values[1]), difference, None, None, None, f"{metric} is undefined on most resamples"
        )
    low, high = np.quantile(valid, [config.alpha / 2, 1 - config.alpha / 2])
    # The smallest level at which the percentile interval leaves out 0 (add-one: never exactly 0).
    below = (np.count_nonzero(valid <= 0) + 1) / (valid.size + 1)
    above = (np.count_nonzero(valid >= 0) + 1) / (valid.size + 1)
    p_value = min(1.0, 2 * min(below, above))
    spread = [float(np.nanvar(r)) * side.rows for r, side in zip(replicates, (champion, challenger), strict=True)]
    z = normal_quantile(1 - config.alpha / 2) + normal_quantile(config.power)
    needed = max(2, math.ceil(z * z * sum(spread) / config.min_effect**2))
    return _Figures((values[0], values[1]), difference, (float(low), float(high)), p_value, needed)


def _weighted_statistic(side: _Side, metric: str) -> Statistic:
    if metric == "log_loss":
        losses = side.per_row
        return lambda weights: (weights @ losses) / max(side.rows, 1)
    assert side.y is not None and side.proba is not None
    y, proba = side.y, side.proba
    return lambda weights: weighted_auc(y, proba, weights)


def _point(side: _Side, metric: str) -> float | None:
    if not side.rows:
        return None
    if metric == "log_loss":
        return float(side.per_row.mean())
    assert side.y is not None and side.proba is not None
    value = float(weighted_auc(side.y, side.proba, np.ones((1, side.rows)))[0])
    return value if math.isfinite(value) else None
