"""The planned sample size of the A/B check: how many labelled rows per variant its test needs to
detect `min_effect` at `alpha` with `power`, and the power a given number of rows has. The check
decides only at that planned size (mlops.monitoring.ab_test says why), so these figures are its plan,
not a progress bar.

Both tests are two-sided at `alpha`; the formulas ignore the far tail (the chance to find the effect
with the wrong sign), as the usual sample-size formulas do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from mlops.monitoring.config import ABTestConfig
from mlops.monitoring.significance import normal_quantile

CLOSED_FORM = "closed form"


@dataclass(frozen=True)
class SamplePlan:
    """The planned labelled rows per variant, fixed by the champion's first `baseline_labels` rows."""

    labels: int  # per variant: the decision is on each side's first this many
    labels_needed: int | None  # what alpha, power and min_effect ask for, before the floor and the cap
    power: float | None  # to detect min_effect with `labels` rows (below the config's when capped)
    baseline: float | None  # the champion's metric on its first baseline_labels rows
    baseline_labels: int
    capped: bool  # labels_needed was above max_labels (or unknown: a baseline without a figure)
    method: str  # closed form, or the bootstrap's approximation
    note: str | None = None  # why there is no labels_needed

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "labels_needed": self.labels_needed,
            "power": _json_number(self.power),
            "baseline": _json_number(self.baseline),
            "baseline_labels": self.baseline_labels,
            "capped": self.capped,
            "method": self.method,
            "note": self.note,
        }

    def text(self, metric: str, config: ABTestConfig) -> str:
        if self.note:
            return f"{self.labels} per variant, the cap: {self.note}"
        baseline = "undefined" if self.baseline is None else f"{self.baseline:.4g}"
        power = "unknown" if self.power is None else f"{self.power:.2g}"
        planned = (
            f"{self.labels} per variant to detect {config.min_effect:g} at alpha {config.alpha:g} with power "
            f"{power}, from the champion's {metric} {baseline} on its first {self.baseline_labels} labelled rows"
        )
        if self.capped:
            planned += f"; capped at max_labels (it would take {self.labels_needed} for power {config.power:g})"
        return planned


def plan_for_proportions(accuracy: float, baseline_labels: int, config: ABTestConfig) -> SamplePlan:
    """The plan of the two-proportion test against a champion right `accuracy` of the time."""
    needed = labels_for_proportions(accuracy, config)
    return _bounded(
        needed, accuracy, baseline_labels, CLOSED_FORM, config, lambda n: power_for_proportions(accuracy, n, config)
    )


def plan_for_means(
    variance: float, delta: float, baseline: float, baseline_labels: int, method: str, config: ABTestConfig
) -> SamplePlan:
    """The plan of a test of two means to detect `delta` when each side's rows vary with `variance`."""
    needed = labels_for_means(variance, delta, config)
    return _bounded(
        needed, baseline, baseline_labels, method, config, lambda n: power_for_means(variance, delta, n, config)
    )


def plan_at_cap(
    note: str, baseline: float | None, baseline_labels: int, method: str, config: ABTestConfig
) -> SamplePlan:
    """No figure to plan from (`note` says why): the decision is at the cap, its power unknown."""
    return SamplePlan(config.max_labels, None, None, baseline, baseline_labels, True, method, note)


def _bounded(
    needed: int,
    baseline: float,
    baseline_labels: int,
    method: str,
    config: ABTestConfig,
    power: Callable[[int], float],
) -> SamplePlan:
    """At least min_labels (the baseline's own rows), at most max_labels, with the power there."""
    labels = min(max(needed, config.min_labels), config.max_labels)
    return SamplePlan(labels, needed, power(labels), baseline, baseline_labels, needed > labels, method)


def _json_number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _compared_proportion(reference: float, delta: float) -> float:
    """The accuracy `delta` away from `reference`: worse, unless worse would leave [0, 1]."""
    return reference - delta if reference - delta > 0 else min(1.0, reference + delta)


def labels_for_proportions(reference: float, config: ABTestConfig) -> int:
    """Rows per variant for the two-proportion test to find a challenger `min_effect` worse than a
    champion right `reference` of the time (better, when worse would leave [0, 1]) at `alpha`
    with `power` (Fleiss's formula, without continuity correction)."""
    p1 = reference
    p2 = _compared_proportion(p1, config.min_effect)
    if p2 == p1:
        raise ValueError(f"an accuracy min_effect of {config.min_effect:g} leaves no other accuracy to detect")
    mean = (p1 + p2) / 2
    z_alpha, z_power = normal_quantile(1 - config.alpha / 2), normal_quantile(config.power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return max(2, math.ceil(root * root / (p2 - p1) ** 2))


def power_for_proportions(reference: float, labels: int, config: ABTestConfig) -> float:
    """The power of the two-proportion test with `labels` rows per variant against a difference of
    `min_effect` from `reference` (Fleiss's formula solved for the power)."""
    p1 = reference
    p2 = _compared_proportion(p1, config.min_effect)
    mean = (p1 + p2) / 2
    spread = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    if spread == 0:  # both proportions 0 or 1: any difference is seen
        return 1.0
    z_alpha = normal_quantile(1 - config.alpha / 2)
    z = (math.sqrt(labels) * abs(p2 - p1) - z_alpha * math.sqrt(2 * mean * (1 - mean))) / spread
    return NormalDist().cdf(z)


def labels_for_means(variance: float, delta: float, config: ABTestConfig) -> int:
    """Rows per variant for a test of two means to detect `delta` at `alpha` with `power` when each
    side's rows vary with `variance`: n = (z_alpha/2 + z_power)^2 * 2 variance / delta^2."""
    z = normal_quantile(1 - config.alpha / 2) + normal_quantile(config.power)
    return max(2, math.ceil(z * z * 2 * variance / (delta * delta)))


def power_for_means(variance: float, delta: float, labels: int, config: ABTestConfig) -> float:
    """The power of that test with `labels` rows per variant."""
    if variance <= 0:  # nothing varies: any difference is seen
        return 1.0
    z = abs(delta) * math.sqrt(labels / (2 * variance)) - normal_quantile(1 - config.alpha / 2)
    return NormalDist().cdf(z)


def rmse_delta(rmse: float, min_effect: float) -> float:
    """The change of the mean squared error (what Welch's test compares for rmse) that moves an
    RMSE of `rmse` by `min_effect`."""
    return (rmse + min_effect) ** 2 - rmse**2
