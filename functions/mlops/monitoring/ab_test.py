"""The A/B test of a canary on outcomes (issue #19): the labelled rows the challenger answered
against those the champion answered, with a test suited to the metric, decided once, at a sample
size planned in advance, and the verdict `mlops.monitoring.canary_decision` acts on.

Why a planned size: the check runs every hour on the labelled rows so far. A fixed-alpha test
repeated on growing data is a new chance to be wrong each time: with identical models it "decided"
in 17 to 34 % of canaries over their life (bench/ab_labels.py, a look every 10 or 100 labelled rows),
half of them promoting a challenger no better. So the check is a fixed-horizon test, stateless:
- the plan: the labelled rows per variant `n` that detect `min_effect` at `alpha` with `power`
  (mlops.monitoring.sample_size), the baseline (the champion's accuracy, its errors' variance, its
  metric's bootstrap variance) taken from a fixed subset, the champion's first `min_labels` labelled
  rows, so the plan does not move as labels arrive; n is at least `min_labels` and at most
  `max_labels` (a tiny min_effect would plan an A/B that never ends: then the decision is at the
  cap, and the plan says the power there);
- before the plan is reached: `insufficient_labels` while a side has fewer than `min_labels` (for
  the champion: no plan yet), then `collecting`, with each side's `still_needed`. The current
  estimate, its interval and p-value are reported as information only: they decide nothing;
- once the challenger has n labelled rows and the champion n more than its baseline rows: the test
  on the challenger's first n labelled rows and the champion's n after its baseline rows. Every
  later check computes this same test, so it is one look, at alpha: `challenger_better`,
  `challenger_worse`, or `no_difference` (final: the canary did not show `min_effect` at the
  planned power; a person decides what to do with it). The bootstrap is seeded by the rows it
  resamples, so the same rows give the same p-value.

"First" is in the order the labels arrived (labelled_ms; then answered_ms, request id and row): a
label arrives after those already there, so once a side has its rows no later label joins them.
In the order the predictions were answered, labels arriving late for rows answered early would
push into the first n at every check, a new test each time. Simulated (identical classifiers right
9 times in 10, canary weight 0.5, min_effect 0.1: about 200 rows per side; a check every 20
requests; label delays exponential with a mean of 100, 400 or 1000 requests; 400 canaries each),
answer order decided wrongly in 9, 15 and 20 % of canaries, label order in 5.2, 5.5 and 5.5 %. A later
label for a row (a correction: the latest label wins) moves the row to when that label arrived: a
tested row leaves the test and the next row labelled takes its place, so each correction changes
the test by one row (the join keeps only the latest label's time).

The champion's baseline rows stay out of the test: a plan drawn from rows it then tests favours
their side (a small plan after a lucky champion start tests that lucky start); simulated, 400,000
identical canaries per setting at alpha 0.05 decided wrongly 0.051 to 0.052 of the time with them
tested, 0.049 to 0.050 with them left out.

The window must hold every labelled row since the canary started (`since_ms`), not a rolling
window: the first rows must stay in it.

Only the rows each version answered count: variant "champion" rows of the champion version against
variant "challenger" rows of the challenger version. A shadow is scored on requests the champion
answers; its rows answer nobody and are no A/B.

The tests, each two-sided at `alpha`, the interval at 1 - alpha:
- accuracy: the pooled two-proportion z-test; Newcombe's hybrid score interval for the difference
  (better than Wald's near 0 and 1, so the two may disagree at the edge: the verdict follows the p-value);
- mae, rmse: Welch's t-test on the rows' absolute or squared errors (rmse: the interval on the RMSE
  difference by the delta method);
- roc_auc, log_loss: a bootstrap of the difference, each side resampled on its own, the p-value the
  smallest level at which the percentile interval leaves out 0.

numpy and the standard library only: the scheduled function runs on the inference layer, which has
no scipy (the tests and distributions: mlops.monitoring.significance; the bootstrap:
mlops.monitoring.resampling; the planned size: mlops.monitoring.sample_size).

One module because the plan, the test at the plan and the verdict are one decision: each reads the
same ordered rows of each side, and the verdict's wording names the plan's figures.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.performance import ProblemType
from mlops.monitoring.resampling import Statistic, bootstrap, weighted_auc
from mlops.monitoring.sample_size import (
    CLOSED_FORM,
    SamplePlan,
    plan_at_cap,
    plan_for_means,
    plan_for_proportions,
    rmse_delta,
)
from mlops.monitoring.significance import normal_quantile, student_t_quantile, two_proportion_test, welch_test
from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.numbers import to_dynamo

Verdict = Literal["insufficient_labels", "collecting", "challenger_better", "challenger_worse", "no_difference"]
TestName = Literal["two_proportion_z", "welch_t", "bootstrap"]

HIGHER_IS_BETTER: dict[str, bool] = {"accuracy": True, "roc_auc": True, "log_loss": False, "mae": False, "rmse": False}
CLASSIFIER_METRICS = ("accuracy", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse")
FINAL_VERDICTS = ("challenger_better", "challenger_worse", "no_difference")
DEFAULT_RESAMPLES = 2000
BOOTSTRAP_APPROXIMATION = "approximation from the bootstrap's variance of the champion's metric"


# ------------------------------------------------------------------------------------ the records
@dataclass(frozen=True)
class VariantOutcome:
    """One side of the comparison: the labelled rows a version answered and its metric on the rows
    tested (the planned rows once both sides have them; all of them before)."""

    variant: str  # champion | challenger
    version: int
    labels: int  # labelled rows it answered (since the canary started)
    tested: int  # the rows `value` (and the test) are on
    tested_from: int  # the first of them, in label order (0-based; the champion's baseline rows come first)
    value: float | None  # None: no labelled rows, or the metric is undefined on them (AUC of one class)
    still_needed: int | None  # labelled rows it lacks for the planned size (None: no plan yet)

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "version": self.version,
            "labels": self.labels,
            "tested": self.tested,
            "tested_from": self.tested_from,
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
    p_value: float | None  # a decision's only at the plan; before it, information
    plan: SamplePlan | None  # None until the champion has min_labels labelled rows
    verdict: Verdict
    reason: str
    alpha: float
    power: float
    min_effect: float
    min_labels: int
    max_labels: int
    resamples: int | None = None  # the bootstrap's

    @property
    def decided(self) -> bool:
        """A significant difference at the plan: what end_canary acts on."""
        return self.verdict in ("challenger_better", "challenger_worse")

    @property
    def final(self) -> bool:
        """The test at the plan ran: later checks compute the same test (unless labels change)."""
        return self.verdict in FINAL_VERDICTS

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
            "plan": self.plan.as_dict() if self.plan else None,
            "alpha": self.alpha,
            "power": self.power,
            "min_effect": self.min_effect,
            "min_labels": self.min_labels,
            "max_labels": self.max_labels,
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
            f"{_rows(challenger)} vs champion v{champion.version} {_figure(champion.value)} on {_rows(champion)}"
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


def _rows(side: VariantOutcome) -> str:
    if side.tested == side.labels:
        return f"{side.labels} labels"
    return f"its labelled rows {side.tested_from + 1} to {side.tested_from + side.tested} of {side.labels}"


def _figure(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2g}"


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
    """One variant's labelled rows in the order their labels arrived, as the metric's test reads them."""

    variant: str
    version: int
    request_ids: NDArray[np.str_]
    request_rows: NDArray[np.int64]  # each row's place in its request
    per_row: NDArray[np.float64]  # correct (0/1), absolute or squared error, or log loss per row
    y: NDArray[np.int64] | None  # class indices (roc_auc)
    proba: NDArray[np.float64] | None  # rows x classes (roc_auc)

    @property
    def rows(self) -> int:
        return int(self.per_row.size)

    def part(self, start: int, rows: int) -> _Side:
        """`rows` rows from the `start`-th in label order."""
        cut = slice(start, start + rows)
        return _Side(
            self.variant,
            self.version,
            self.request_ids[cut],
            self.request_rows[cut],
            self.per_row[cut],
            None if self.y is None else self.y[cut],
            None if self.proba is None else self.proba[cut],
        )


def compare_canary(
    window: JoinedHour,
    *,
    champion: int,
    challenger: int,
    problem_type: ProblemType,
    classes: list[str] | None,
    config: ABTestConfig,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    since_ms: int | None = None,
) -> ABComparison:
    """Compare the challenger's labelled rows with the champion's in `window`, deciding only at the
    planned size (see the module's docstring).

    `window`: every labelled row since the canary started (not a rolling window: the first rows
    labelled must stay in it). `classes`: the model's, in its probabilities' order (None: the
    window's). `since_ms`: only rows answered from then on (the canary's start), so both sides saw
    the same period's traffic; None: every row of the window. The bootstrap's random numbers come
    from the rows it resamples and `seed` (keep it constant): the same rows give the same figures.
    Raises ValueError when the metric does not fit the problem or the window lacks what it needs."""
    classes = classes or window.classes
    metric = config.metric or default_metric(problem_type)
    _check_metric(metric, problem_type, window)
    answered = np.ones(window.size, dtype=bool) if since_ms is None else window.answered_ms >= since_ms
    sides = [
        _side(window, answered, variant, version, metric, classes)
        for variant, version in ((CHAMPION, champion), (CHALLENGER, challenger))
    ]
    plan = plan_sample(sides[0], metric, config, seed=seed, resamples=resamples)
    tested = _tested(sides, plan)
    test = test_for(metric)
    champion_rows, challenger_rows = tested or sides  # before the plan: every row so far, for information
    if test == "two_proportion_z":
        figures = _accuracy_figures(champion_rows, challenger_rows, config)
    elif test == "welch_t":
        figures = _error_figures(champion_rows, challenger_rows, metric, config)
    else:
        rng = _rows_rng(seed, [champion_rows, challenger_rows])
        figures = _bootstrap_figures(champion_rows, challenger_rows, metric, config, rng, resamples)
    return _comparison(
        window.model, metric, test, sides, tested, plan, figures, config, resamples if test == "bootstrap" else None
    )


def _tested(sides: list[_Side], plan: SamplePlan | None) -> list[_Side] | None:
    """The rows the test is on once the plan is reached (None before): the challenger's first
    `plan.labels` labelled rows, the champion's next `plan.labels` after the baseline rows its plan
    came from (those are left out of the test: a plan picked from the rows it tests would favour
    their side, a measurable rise of the false decisions above alpha)."""
    if plan is None:
        return None
    parts = [side.part(start, plan.labels) for side, start in zip(sides, (plan.baseline_labels, 0), strict=True)]
    return parts if all(part.rows == plan.labels for part in parts) else None


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
    where = np.flatnonzero(answered & (window.variants == variant) & (window.versions == version))
    index = where[
        _label_order(
            window.labelled_ms[where], window.answered_ms[where], window.request_ids[where], window.rows[where]
        )
    ]
    rows = index.size
    ids, places = window.request_ids[index], window.rows[index].astype(np.int64)
    labels, predictions = window.labels[index], window.predictions[index]
    if metric in REGRESSION_METRICS:
        error = labels.astype(np.float64) - predictions.astype(np.float64)
        per_row = np.abs(error) if metric == "mae" else error * error
        return _Side(variant, version, ids, places, per_row, None, None)
    if metric == "accuracy":
        correct = labels.astype(str) == predictions.astype(str)
        return _Side(variant, version, ids, places, correct.astype(np.float64), None, None)
    assert window.probabilities is not None or rows == 0  # _check_metric
    width = len(classes) if classes else 0
    proba = window.probabilities[index].astype(np.float64) if window.probabilities is not None else np.zeros((0, width))
    y = _class_indices(labels, classes or [])
    if metric == "log_loss":
        eps = np.finfo(np.float64).eps  # as mlops.monitoring.performance clips, so the figures agree
        losses = -np.log(np.clip(proba[np.arange(rows), y], eps, 1 - eps))
        return _Side(variant, version, ids, places, losses, None, None)
    return _Side(variant, version, ids, places, np.zeros(rows), y, proba)


def _label_order(
    labelled_ms: NDArray[np.int64],
    answered_ms: NDArray[np.int64],
    request_ids: NDArray[np.str_],
    rows: NDArray[np.int64],
) -> NDArray[np.intp]:
    """When the label arrived; for labels arriving together (one intake), when the prediction was
    answered, then the request id (a UUIDv7, itself time-ordered), then the row in the request. The
    strings are sorted only where the times tie."""
    order = np.lexsort((answered_ms, labelled_ms))
    ordered = np.stack([labelled_ms[order], answered_ms[order]])
    if not np.any(np.all(ordered[:, 1:] == ordered[:, :-1], axis=0)):
        return order
    return np.lexsort((rows, request_ids, answered_ms, labelled_ms))


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


def _rows_rng(seed: int, sides: list[_Side]) -> np.random.Generator:
    """Random numbers that depend only on `seed` and which rows each side holds, so every check
    that tests the same rows draws the same resamples and finds the same p-value."""
    digest = hashlib.blake2b(digest_size=16)
    for side in sides:
        digest.update(f"{side.variant}:{side.rows}\x1e".encode())
        digest.update("\x1f".join(side.request_ids.tolist()).encode())
        digest.update(side.request_rows.astype("<i8").tobytes())
    words = np.frombuffer(digest.digest(), dtype="<u4").tolist()
    return np.random.default_rng([seed, *words])


# ------------------------------------------------------------------------------------- the plan
def plan_sample(
    champion: _Side, metric: ABTestMetric, config: ABTestConfig, *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES
) -> SamplePlan | None:
    """The planned labelled rows per variant, from the champion's first `min_labels` rows in answer
    order (None until it has them): a fixed subset, so later labels do not move the plan."""
    if champion.rows < config.min_labels:
        return None
    base = champion.part(0, config.min_labels)
    if metric == "accuracy":
        return plan_for_proportions(float(base.per_row.mean()), base.rows, config)
    if metric in REGRESSION_METRICS:
        mean = float(base.per_row.mean())
        baseline = mean if metric == "mae" else math.sqrt(mean)
        delta = config.min_effect if metric == "mae" else rmse_delta(baseline, config.min_effect)
        variance = float(base.per_row.var(ddof=1))
        return plan_for_means(variance, delta, baseline, base.rows, CLOSED_FORM, config)
    point = _point(base, metric)
    replicates = bootstrap(base.rows, _weighted_statistic(base, metric), _rows_rng(seed, [base]), resamples)
    valid = replicates[np.isfinite(replicates)]
    if point is None or valid.size < resamples / 2:
        note = (
            f"{metric} is undefined on the champion's first {base.rows} labelled rows (or most of their "
            "resamples): one class among their labels, so no sample size can be computed"
        )
        return plan_at_cap(note, point, base.rows, BOOTSTRAP_APPROXIMATION, config)
    variance = float(valid.var()) * base.rows  # the metric's variance as if from one row
    return plan_for_means(variance, config.min_effect, point, base.rows, BOOTSTRAP_APPROXIMATION, config)


# --------------------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class _Figures:
    values: tuple[float | None, float | None]  # champion, challenger
    difference: float | None  # challenger - champion
    interval: tuple[float, float] | None  # of the difference
    p_value: float | None
    undefined: str | None = None  # why no test could run on rows that are there


def _comparison(
    model: str,
    metric: ABTestMetric,
    test: TestName,
    sides: list[_Side],
    tested: list[_Side] | None,
    plan: SamplePlan | None,
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
    starts = (plan.baseline_labels, 0) if plan else (0, 0)
    outcomes = [
        VariantOutcome(
            side.variant,
            side.version,
            side.rows,
            plan.labels if tested and plan else side.rows,
            start if tested else 0,
            value,
            None if plan is None else max(0, start + plan.labels - side.rows),
        )
        for side, start, value in zip(sides, starts, figures.values, strict=True)
    ]
    verdict, reason = _verdict(sides, tested is not None, plan, figures, effect, config, metric)
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
        plan=plan,
        verdict=verdict,
        reason=reason,
        alpha=config.alpha,
        power=config.power,
        min_effect=config.min_effect,
        min_labels=config.min_labels,
        max_labels=config.max_labels,
        resamples=resamples,
    )


def _verdict(
    sides: list[_Side],
    reached: bool,
    plan: SamplePlan | None,
    figures: _Figures,
    effect: float | None,
    config: ABTestConfig,
    metric: ABTestMetric,
) -> tuple[Verdict, str]:
    champion, challenger = sides
    have = f"the challenger has {challenger.rows} labelled rows and the champion {champion.rows}"
    if plan is None or challenger.rows < config.min_labels:
        planned = (
            f"the plan: {plan.text(metric, config)}"
            if plan
            else f"the champion's first {config.min_labels} fix how many the decision takes"
        )
        return "insufficient_labels", f"{have}; each needs {config.min_labels} before the figures mean much; {planned}"
    if not reached:
        return "collecting", (
            f"{have}; the decision is at {plan.text(metric, config)} (the champion's are counted after those "
            f"{plan.baseline_labels}); the figures so far are information only"
        )
    at = (
        f"on the challenger's first {plan.labels} labelled rows and the champion's {plan.labels} after the "
        f"{plan.baseline_labels} its plan came from"
    )
    if plan.capped:
        at += f" (capped at max_labels {plan.labels}: power {_share(plan.power)} to detect {config.min_effect:g})"
    if figures.p_value is None or effect is None:
        return "insufficient_labels", (
            f"{figures.undefined or f'{metric} cannot be compared'} {at}: no test at the plan, and more labels "
            "do not change which rows are tested; a person decides"
        )
    if figures.p_value < config.alpha and effect != 0:
        side = "better" if effect > 0 else "worse"
        return ("challenger_better" if effect > 0 else "challenger_worse"), (
            f"the challenger is significantly {side} at alpha {config.alpha:g} {at}, the planned size"
        )
    return "no_difference", (
        f"no significant difference at alpha {config.alpha:g} {at}, the planned size: the canary did not show "
        f"a difference of {config.min_effect:g} (power {_share(plan.power)}); a person decides"
    )


# --------------------------------------------------------------------------- accuracy: proportions
def _accuracy_figures(champion: _Side, challenger: _Side, config: ABTestConfig) -> _Figures:
    n1, n2 = champion.rows, challenger.rows
    x1, x2 = float(champion.per_row.sum()), float(challenger.per_row.sum())
    values = (x1 / n1 if n1 else None, x2 / n2 if n2 else None)
    if not (n1 and n2):
        return _Figures(values, None, None, None)
    difference, interval, p_value = two_proportion_test(x1, n1, x2, n2, alpha=config.alpha)
    return _Figures(values, difference, interval, p_value)


# ------------------------------------------------------------------------ mae, rmse: Welch's t-test
def _error_figures(champion: _Side, challenger: _Side, metric: str, config: ABTestConfig) -> _Figures:
    a, b = champion.per_row, challenger.per_row

    def value(errors: NDArray[np.float64]) -> float | None:
        if not errors.size:
            return None
        mean = float(errors.mean())
        return mean if metric == "mae" else math.sqrt(mean)

    values = (value(a), value(b))
    if a.size < 2 or b.size < 2:
        return _Figures(values, None, None, None)
    mean_difference, mean_interval, p_value, df = welch_test(a, b, alpha=config.alpha)
    if metric == "mae":
        return _Figures(values, mean_difference, mean_interval, p_value)
    assert values[0] is not None and values[1] is not None
    return _Figures(values, values[1] - values[0], _rmse_interval(a, b, df, config.alpha), p_value)


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


# ---------------------------------------------------------------------- roc_auc, log_loss: bootstrap
def _bootstrap_figures(
    champion: _Side,
    challenger: _Side,
    metric: str,
    config: ABTestConfig,
    rng: np.random.Generator,
    resamples: int,
) -> _Figures:
    values = (_point(champion, metric), _point(challenger, metric))
    if not (champion.rows and challenger.rows) or values[0] is None or values[1] is None:
        undefined = None
        if champion.rows and challenger.rows:
            undefined = f"{metric} is undefined on one side's rows (a single class among its labels)"
        return _Figures(values, None, None, None, undefined)
    replicates = [
        bootstrap(side.rows, _weighted_statistic(side, metric), rng, resamples) for side in (champion, challenger)
    ]
    differences = replicates[1] - replicates[0]
    valid = differences[np.isfinite(differences)]
    difference = values[1] - values[0]
    if valid.size < resamples / 2:  # most resamples lost a class: the bootstrap says nothing
        return _Figures(values, difference, None, None, f"{metric} is undefined on most resamples")
    low, high = np.quantile(valid, [config.alpha / 2, 1 - config.alpha / 2])
    # The smallest level at which the percentile interval leaves out 0 (add-one: never exactly 0).
    below = (np.count_nonzero(valid <= 0) + 1) / (valid.size + 1)
    above = (np.count_nonzero(valid >= 0) + 1) / (valid.size + 1)
    p_value = min(1.0, 2 * min(below, above))
    return _Figures(values, difference, (float(low), float(high)), p_value)


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
