"""Drift checks: a window of captured traffic against the version's reference profile.

Per feature, the statistic fits the sample size and the type (as Evidently's data-drift preset):

- up to `small_sample_rows` non-missing values, a test at `p_value`: two-sample Kolmogorov-Smirnov
  for numbers (the sketch's CDF against the window's ECDF, p from the Kolmogorov distribution with
  the effective size n·m/(n+m)), Pearson's chi-square test of homogeneity for categories (the
  reference's counts against the window's, rare cells pooled to an expected count of 5);
- above that, a distance with a threshold, since with huge samples every test rejects shifts far
  too small to matter: the Wasserstein-1 distance divided by the reference's standard deviation
  (0.1: the mass moved a tenth of a standard deviation on average) for numbers, the Jensen-Shannon
  distance (natural log, as scipy and Evidently, so 0.1 means the same) for categories. Its cells
  are categories with 50 values expected or seen in the window, the rest pooled: sampling noise
  alone gives a JS distance of about sqrt((k - 1) / 8n) for k cells, and with at most 2n / 50
  cells that stays under 0.071, while a rare category that became common keeps its own cell.

A feature also drifts when its missing rate moved by `missing_rate_threshold` or more (and a
two-proportion test agrees at `p_value`, so a small window's noise does not count), or when more
than `new_category_share` of its values are categories the reference never saw. When the reference
folded its rarest categories into `__other__`, a value outside its list may be one of those: it
counts as `__other__`, never as new.

Rows the serving policy refused (captured without a prediction) count like answered ones in every
feature's distribution, out-of-range and unseen values included: the check sees the same traffic
whatever the policy, and a shift that the policy refuses is exactly the drift to see. They are left
out of prediction drift (there is no prediction) and reported on their own: the refused share (rows
of refused requests / captured rows), by reason and by field, flagged at `refused_share_threshold`.

Prediction drift compares the predicted classes (as a categorical feature) and the score the profile
sketched (as a numeric one). Dataset drift: the share of drifted features (the prediction counted as
one more when `prediction_drift` is on) reaches `dataset_drift_share`. The report's status is
`drift` exactly then: single features drift by chance at about the `p_value` rate each.

The sketch's KS is within 0.001 of the exact two-sample statistic (`profile.ks_statistic`); its
Wasserstein distance within about 0.005 reference standard deviations for the tails tried (normal,
lognormal, Pareto, Student t, counts), the extreme levels shaped to the profile's exact mean and std.

numpy and pydantic only (the drift function's layer has no scipy): the two survival functions are
implemented here and tested against scipy. Each numeric feature is sorted once; everything else is
a few vectorized passes, so a million rows by 20 features takes about half a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mlops.monitoring.profile import (
    OTHER,
    CategoricalProfile,
    NumericProfile,
    PredictionProfile,
    QuantileSketch,
    ReferenceProfile,
)

TestName = Literal["ks", "chi_square", "wasserstein", "jensen_shannon"]
Status = Literal["ok", "drift", "insufficient_data"]
Kind = Literal["numeric", "categorical"]

CHI_SQUARE_MIN_EXPECTED = 5.0  # the textbook rule for the chi-square approximation
JENSEN_SHANNON_MIN_EXPECTED = 50.0  # keeps the JS distance's sampling noise well under the default threshold
MAX_NEW_CATEGORY_EXAMPLES = 20
HISTOGRAM_BINS = 20
HISTOGRAM_TAIL = 0.005  # numeric bins span the reference's 0.5 % .. 99.5 % quantiles; the tails join the end bins
TOP_CATEGORIES = 10
NEW = "(new)"
REST = "(rest)"
DEFAULT_EXCLUDED_VARIANTS = ("shadow",)


class DriftConfig(BaseModel):
    """How a drift check decides; the training config's `monitoring.drift` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(
        default=200, ge=1, description="fewer captured rows in the window: status insufficient_data, nothing drifts"
    )
    small_sample_rows: int = Field(
        default=1000,
        ge=1,
        description="up to this many non-missing values a feature is tested (KS, chi-square) at p_value; "
        "above it, distances with thresholds (Wasserstein, Jensen-Shannon)",
    )
    p_value: float = Field(default=0.01, gt=0, lt=1, description="significance level of the tests")
    wasserstein_threshold: float = Field(
        default=0.1, gt=0, description="Wasserstein-1 distance over the reference's standard deviation"
    )
    jensen_shannon_threshold: float = Field(
        default=0.1, gt=0, le=1, description="Jensen-Shannon distance (natural log; at most sqrt(ln 2) = 0.83)"
    )
    missing_rate_threshold: float = Field(
        default=0.1, gt=0, le=1, description="absolute change of a feature's missing rate that counts as drift"
    )
    new_category_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="share of a feature's values in categories the reference never saw above which it drifts",
    )
    dataset_drift_share: float = Field(
        default=0.5, gt=0, le=1, description="dataset drift when at least this share of features drifted"
    )
    prediction_drift: bool = Field(
        default=True,
        description="count the prediction (classes or score drifted) as one more feature in the drift share; "
        "prediction drift is reported either way",
    )
    refused_share_threshold: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="the share of captured rows the serving policy refused (out_of_range, unseen_category) at "
        "which a check raises the RefusedShare alarm; reported either way",
    )


# ------------------------------------------------------------------------------------- the window


@dataclass
class CapturedWindow:
    """The captured rows of one check, column by column.

    A field's arrays hold only the rows of batches that captured it, so `rows` (all served rows)
    may exceed a field's length when the request schema changed inside the window.
    """

    fields: dict[str, str]  # name -> "numeric" | "categorical" (as the capture's meta)
    numeric: dict[str, NDArray[np.float64]]  # NaN = missing
    categorical: dict[str, NDArray[np.str_]]
    missing: dict[str, NDArray[np.bool_]]  # categorical fields only
    predictions: NDArray[Any] | None  # class values (str) or regression values (float64)
    probabilities: NDArray[np.float32] | None  # rows x classes, classifiers only
    classes: list[str] | None
    rows: int
    first_ms: int | None = None
    last_ms: int | None = None
    refused_rows: int = 0  # rows of requests the serving policy refused (no prediction)
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)  # (field, why) -> rows
    offending_rows: int = 0  # refused rows with a value of their own the policy refused

    @classmethod
    def empty(cls, profile: ReferenceProfile | None = None) -> CapturedWindow:
        """No captured rows (a check over a quiet window still writes a report: insufficient data)."""
        fields = {
            name: "numeric" if isinstance(p, NumericProfile) else "categorical"
            for name, p in (profile.features.items() if profile is not None else ())
        }
        return cls(
            fields=fields,
            numeric={n: np.zeros(0, dtype=np.float64) for n, k in fields.items() if k == "numeric"},
            categorical={n: np.zeros(0, dtype=str) for n, k in fields.items() if k == "categorical"},
            missing={n: np.zeros(0, dtype=bool) for n, k in fields.items() if k == "categorical"},
            predictions=None,
            probabilities=None,
            classes=None,
            rows=0,
        )

    @classmethod
    def from_batches(
        cls,
        batches: Sequence[tuple[Mapping[str, Any], Mapping[str, NDArray[Any]]]],
        exclude_variants: Sequence[str] = DEFAULT_EXCLUDED_VARIANTS,
    ) -> CapturedWindow:
        """Concatenate capture batches (`read_capture` results), leaving out `exclude_variants`.

        Shadow rows repeat the champion's inputs, so they would count twice; champion and
        challenger rows are both served traffic. The newest batch (latest `time_ms`) names the
        fields and their kinds: an older batch contributes to a field only if it captured it with
        the same kind, and its probabilities only if its classes are the same.
        """
        if not batches:
            return cls.empty()
        newest_meta, _ = max(enumerate(batches), key=lambda item: (_latest_ms(item[1][1]), item[0]))[1]
        fields = {str(n): str(k) for n, k in dict(newest_meta.get("fields") or {}).items()}
        raw_classes = newest_meta.get("classes")
        classes = [str(c) for c in raw_classes] if raw_classes is not None else None
        numeric: dict[str, list[NDArray[np.float64]]] = {n: [] for n, k in fields.items() if k == "numeric"}
        categorical: dict[str, list[NDArray[np.str_]]] = {n: [] for n, k in fields.items() if k != "numeric"}
        missing: dict[str, list[NDArray[np.bool_]]] = {n: [] for n in categorical}
        predictions: list[NDArray[Any]] = []
        probabilities: list[NDArray[np.float32]] = []
        rows = 0
        refused_rows = offending_rows = 0
        refusals: dict[tuple[str, str], int] = {}
        first: int | None = None
        last: int | None = None
        excluded = np.asarray(list(exclude_variants), dtype=str)
        for meta, arrays in batches:
            size = _batch_rows(meta, arrays)
            variant = arrays.get("variant")
            keep = (
                ~np.isin(np.asarray(variant).astype(str), excluded)
                if variant is not None and excluded.size
                else np.ones(size, dtype=bool)
            )
            kept = int(keep.sum())
            if kept == 0:
                continue
            rows += kept
            stored_answered = arrays.get("answered")
            answered = (
                np.asarray(stored_answered, dtype=bool)
                if stored_answered is not None and np.asarray(stored_answered).size == size
                else np.ones(size, dtype=bool)
            )
            refused_rows += int((keep & ~answered).sum())
            offending = np.zeros(size, dtype=bool)
            for key, reasons in arrays.items():
                if not key.startswith("refused:") or np.asarray(reasons).size != size:
                    continue
                why = np.asarray(reasons).astype(str)[keep]
                offending[keep] |= why != ""
                codes, counts = np.unique(why[why != ""], return_counts=True)
                for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                    pair = (key.removeprefix("refused:"), str(code))
                    refusals[pair] = refusals.get(pair, 0) + int(count)
            offending_rows += int(offending.sum())
            times = arrays.get("time_ms")
            if times is not None and np.asarray(times).size == size:
                t = np.asarray(times, dtype=np.int64)[keep]
                first = int(t.min()) if first is None else min(first, int(t.min()))
                last = int(t.max()) if last is None else max(last, int(t.max()))
            batch_fields = dict(meta.get("fields") or {})
            for name, kind in fields.items():
                values = arrays.get(f"input:{name}")
                if values is None or batch_fields.get(name) != kind:
                    continue
                if kind == "numeric":
                    numeric[name].append(np.asarray(values, dtype=np.float64)[keep])
                else:
                    categorical[name].append(np.asarray(values).astype(str)[keep])
                    nulls = arrays.get(f"null:{name}")
                    mask = np.asarray(nulls, dtype=bool) if nulls is not None else np.zeros(size, dtype=bool)
                    missing[name].append(mask[keep])
            batch_classes = meta.get("classes")
            prediction = arrays.get("prediction")
            if prediction is not None and (batch_classes is None) == (classes is None):
                scored = keep & answered  # refused rows have no prediction
                predictions.append(np.asarray(prediction)[scored])
                proba = arrays.get("probabilities")
                same = classes is not None and [str(c) for c in batch_classes or []] == classes
                if proba is not None and same:
                    probabilities.append(np.asarray(proba, dtype=np.float32)[scored])
        return cls(
            fields=fields,
            numeric={n: _concat(v, np.float64) for n, v in numeric.items()},
            categorical={n: _concat(v, np.str_) for n, v in categorical.items()},
            missing={n: _concat(v, np.bool_) for n, v in missing.items()},
            predictions=(np.concatenate(predictions) if predictions else None),
            probabilities=(np.concatenate(probabilities) if probabilities else None),
            classes=classes,
            rows=rows,
            first_ms=first,
            last_ms=last,
            refused_rows=refused_rows,
            refusals=refusals,
            offending_rows=offending_rows,
        )


def _latest_ms(arrays: Mapping[str, NDArray[Any]]) -> int:
    times = arrays.get("time_ms")
    return int(np.max(times)) if times is not None and np.asarray(times).size else -1


def _batch_rows(meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> int:
    for key in ("variant", "prediction", "time_ms"):
        if key in arrays:
            return int(np.asarray(arrays[key]).shape[0])
    return int(meta.get("rows", 0))


def _concat(parts: list[NDArray[Any]], dtype: type[Any]) -> NDArray[Any]:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


# ------------------------------------------------------------------------------------- the report


class Histogram(BaseModel):
    """Shares of non-missing values per bin, reference against window (the report page's plot)."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str]
    edges: list[float] | None = Field(default=None, description="numeric: bin edges; the end bins take the tails")
    reference: list[float]
    current: list[float]


class FeatureDrift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind
    test: TestName | None = Field(description="None when one side has no values to compare")
    statistic: float = Field(description="the test's or distance's value (0 when no test ran)")
    threshold: float = Field(description="tests: the p-value level drift is below; distances: the threshold")
    p_value: float | None = Field(default=None, description="tests only")
    distribution_drifted: bool
    drifted: bool = Field(description="distribution, missing rate or new categories")
    rows: int = Field(description="captured rows of this feature in the window")
    present: int = Field(description="non-missing values among them")
    reference_count: int = Field(description="non-missing reference values")
    ks_statistic: float | None = Field(default=None, description="numeric: two-sample KS against the sketch")
    wasserstein: float | None = Field(default=None, description="numeric: Wasserstein-1 / reference std")
    missing_rate_reference: float
    missing_rate_current: float
    missing_rate_p_value: float | None = None
    missing_rate_drifted: bool = False
    new_categories: list[str] = Field(default_factory=list, description=f"up to {MAX_NEW_CATEGORY_EXAMPLES}")
    new_category_share: float = 0.0
    new_categories_drifted: bool = False
    histogram: Histogram | None = None
    note: str | None = None


class PredictionDrift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["classification", "regression"]
    score_name: str = Field(description="positive_probability, max_probability or prediction")
    classes: FeatureDrift | None = Field(default=None, description="the predicted classes' frequencies")
    score: FeatureDrift | None = None
    drifted: bool


class RefusedTraffic(BaseModel):
    """What the serving policy refused in the window: those rows got a 400, not an answer."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(default=0, description="captured rows of requests the serving policy refused")
    share: float = Field(default=0.0, description="refused rows / captured rows")
    offending_rows: int = Field(
        default=0, description="refused rows with a value of their own refused (the rest came in the same request)"
    )
    by_reason: dict[str, int] = Field(
        default_factory=dict, description="refused values per reason (out_of_range, …); a row may have several"
    )
    by_field: dict[str, dict[str, int]] = Field(default_factory=dict, description="rows per field and reason")
    threshold: float = Field(default=0.05, description="the share at which the check flags it")
    exceeded: bool = Field(default=False, description="share reached the threshold with at least min_rows rows")


class DriftReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    version: int
    checked_at: str
    window_start: str | None
    window_end: str | None
    rows: int = Field(description="captured rows in the window, answered or refused (shadow rows left out)")
    reference_rows: int
    status: Status
    message: str = Field(description="why the status, in a sentence")
    features: list[FeatureDrift]
    prediction: PredictionDrift | None
    drifted_features: list[str]
    drift_share: float = Field(description="drifted / compared features, the prediction counted if configured")
    dataset_drift: bool
    not_captured: list[str] = Field(default_factory=list, description="profiled features absent from the window")
    refused: RefusedTraffic = Field(default_factory=RefusedTraffic)
    config: DriftConfig


# ---------------------------------------------------------------------------- distribution functions


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (the limit of sqrt(n)·D_n), to ~1e-15."""
    if x <= 0.0:
        return 1.0
    if x < 1.0:  # Jacobi's form converges fast for small x
        s = sum(math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * x * x)) for k in range(1, 12))
        return float(min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / x * s)))
    s = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x) for k in range(1, 12))
    return float(min(1.0, max(0.0, 2.0 * s)))


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of a two-sample KS statistic for samples of n and m values."""
    if n <= 0 or m <= 0:
        return 1.0
    effective = n * m / (n + m)
    return kolmogorov_sf(math.sqrt(effective) * statistic)


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a): series below a + 1, Lentz's continued fraction above."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0.0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return float(min(1.0, max(0.0, 1.0 - total * math.exp(log_prefix))))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return float(min(1.0, max(0.0, math.exp(log_prefix) * h)))


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for a chi-square variable with `dof` degrees of freedom."""
    if dof <= 0:
        return 1.0
    return regularized_gamma_q(dof / 2.0, statistic / 2.0)


def _two_proportion_p_value(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two-sided p-value that two rates are equal (pooled z test)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if spread == 0.0:
        return 1.0 if p1 == p2 else 0.0
    return math.erfc(abs(p1 - p2) / spread / math.sqrt(2.0))


# ---------------------------------------------------------------------------------- numeric features


@dataclass(frozen=True)
class _NumericComparison:
    present: int
    ks: float
    wasserstein: float  # normalized
    histogram: Histogram | None


def sketch_moments(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation of the sketch read as piecewise-uniform between its quantiles
    (the prediction score's profile stores no std)."""
    q = np.asarray(values, dtype=np.float64)
    if q.size < 2:
        return (float(q[0]) if q.size else 0.0), 0.0
    a, b = q[:-1], q[1:]
    mean = float(np.mean((a + b) / 2.0))
    second = float(np.mean((a * a + a * b + b * b) / 3.0))
    return mean, math.sqrt(max(second - mean * mean, 0.0))


WASSERSTEIN_GRID = 100_000  # at least this many points of the midpoint rule over u (error < range / grid)


def _ks_sorted(q: NDArray[np.float64], data: NDArray[np.float64], rank: NDArray[np.float64]) -> float:
    """`profile.ks_statistic` for sorted, NaN-free data (`rank` = i / n), without np.unique and
    without a binary search per value.

    The one-sample formula D = max(max((i + 1)/n - F(x_i)), max(F(x_i-) - i/n)) covers ties: a run
    of equal values has its extremes at its ends. Between two sketch values F (`QuantileSketch.cdf`)
    is linear, so it is laid out per element with np.repeat over the runs of data between sketch
    values; F(x-) differs from F(x) only at a sketch value v, where it is (first level of v) / steps.
    """
    n = data.size
    steps = q.size - 1
    if steps < 1:
        return 1.0
    first_at = np.searchsorted(data, q, side="left")  # per level j: first element >= q[j]
    counts = np.diff(np.concatenate(([0], first_at, [n])))  # elements with r = 0 .. steps + 1 levels <= x
    r = np.arange(steps + 2)
    k = r - 1  # the level interpolated from, as in QuantileSketch.cdf
    inside = (k >= 0) & (k < steps)
    ki = np.clip(k, 0, steps - 1)
    span = q[ki + 1] - q[ki]
    usable = inside & (span > 0)
    offset = np.where(k < 0, 0.0, np.where(k >= steps, 1.0, ki / steps))
    anchor = np.where(inside, q[ki], 0.0)
    scale = np.where(usable, 1.0 / (steps * np.where(usable, span, 1.0)), 0.0)
    diff = data - np.repeat(anchor, counts)
    diff *= np.repeat(scale, counts)
    diff += np.repeat(offset, counts)
    diff -= rank  # F(x_i) - i/n
    above = 1.0 / n - float(diff.min())
    distinct = np.flatnonzero(np.concatenate(([True], q[1:] != q[:-1])))  # first level of each sketch value
    lo, hi = first_at[distinct], np.searchsorted(data, q[distinct], side="right")
    present = hi > lo
    at_knots = -np.inf
    if present.any():
        lo, hi, levels = lo[present], hi[present], distinct[present]
        at_knots = float(np.max(levels / steps - lo / n))
        lengths = np.diff(np.concatenate(([0], np.column_stack((lo, hi)).ravel(), [n])))
        flags = np.zeros(lengths.size, dtype=bool)
        flags[1::2] = True
        off_knots = ~np.repeat(flags, lengths)
        below = float(np.max(diff, where=off_knots, initial=-np.inf))
    else:
        below = float(diff.max())
    return float(max(above, below, at_knots))


def tail_shapes(q: NDArray[np.float64], mean: float, std: float) -> tuple[float, float] | None:
    """How the sketch's two extreme levels are filled, from the reference's exact mean and std.

    Between its levels the sketch is read as linear, which is exact enough everywhere but in the
    two extreme intervals: for a heavy tail the last 0.1 % spans from q[L-1] to the maximum, and a
    straight line there puts far too much mass far out (a Wasserstein error of 0.01 to 0.03 reference
    standard deviations for a lognormal or Pareto tail). Top: Q(t) = a + (b - a) t^(1/s - 1), bottom:
    Q(t) = b - (b - a) (1 - t)^(1/s - 1), t in [0, 1] across the interval; s = 1/2 is the straight line,
    a small s a tail that stays near its inner end. The two s are chosen so the sketch's mean is the
    profile's (exactly, a line in (s_bottom, s_top)) and its variance as close as the line allows.
    None when no shape on that line fits (then straight lines)."""
    steps = q.size - 1
    if steps < 3 or not math.isfinite(mean) or not math.isfinite(std):
        return None
    c = q - mean  # centred: the second moment is the variance, without cancellation
    a, b = c[1:-2], c[2:-1]  # interior intervals 1 .. steps - 2
    mean_inner = float(np.sum(a + b)) / 2.0 / steps
    second_inner = float(np.sum(a * a + a * b + b * b)) / 3.0 / steps
    top_a, top_w = float(c[-2]), float(c[-1] - c[-2])
    bottom_b, bottom_w = float(c[1]), float(c[1] - c[0])
    if top_w <= 0 and bottom_w <= 0:
        return None
    mean_rest = -steps * mean_inner - top_a - bottom_b  # top_w·s_top - bottom_w·s_bottom must equal this
    second_rest = steps * (std * std - second_inner) - top_a * top_a - bottom_b * bottom_b
    low = 1e-4
    grid = np.linspace(low, 1.0, 4001)  # along the narrower interval's s: the other follows from the mean
    if bottom_w <= top_w:
        s_bottom, s_top = grid, (mean_rest + bottom_w * grid) / top_w
    else:
        s_top, s_bottom = grid, (top_w * grid - mean_rest) / bottom_w
    fits = (s_bottom >= low) & (s_bottom <= 1.0) & (s_top >= low) & (s_top <= 1.0)
    if not fits.any():
        return None
    s_bottom, s_top = s_bottom[fits], s_top[fits]
    second = (
        2 * top_a * top_w * s_top
        + top_w * top_w * s_top / (2 - s_top)
        - 2 * bottom_b * bottom_w * s_bottom
        + bottom_w * bottom_w * s_bottom / (2 - s_bottom)
    )
    best = int(np.argmin(np.abs(second - second_rest)))
    return float(s_bottom[best]), float(s_top[best])


def _wasserstein_sorted(q: NDArray[np.float64], data: NDArray[np.float64], shapes: tuple[float, float] | None) -> float:
    """W1 = ∫|Q_ref(u) - Q_cur(u)| du between the sketch's quantile function (linear between its
    levels, the inverse of `QuantileSketch.cdf`, with `tail_shapes` in the two extreme intervals)
    and the data's (a step function), by the midpoint rule on max(n, WASSERSTEIN_GRID) points:
    off by at most (range of both) / points in all."""
    n = data.size
    points = max(n, WASSERSTEIN_GRID)
    rank = _ranks(points)
    steps = q.size - 1
    # Q_ref is linear on each level's u-interval, so at u_i = rank_i + 0.5/points it is a + b·rank_i per block
    rise = np.diff(q)
    slope = steps * rise
    intercept = q[:-1] - np.arange(steps) * rise + (0.5 / points) * slope
    starts = np.ceil(np.arange(1, steps) * (points / steps) - 0.5).clip(0, points).astype(np.int64)
    counts = np.diff(np.concatenate(([0], starts, [points])))
    gaps = np.repeat(slope, counts)
    gaps *= rank
    gaps += np.repeat(intercept, counts)
    if shapes is not None and steps >= 3:
        s_bottom, s_top = shapes
        head = slice(0, int(starts[0]))
        t = np.clip((rank[head] + 0.5 / points) * steps, 0.0, 1.0)
        gaps[head] = q[1] - (q[1] - q[0]) * (1.0 - t) ** (1.0 / s_bottom - 1.0)
        tail = slice(int(starts[-1]), points)
        t = np.clip((rank[tail] + 0.5 / points - (steps - 1) / steps) * steps, 0.0, 1.0)
        gaps[tail] = q[-2] + (q[-1] - q[-2]) * t ** (1.0 / s_top - 1.0)
    gaps -= data if points == n else data[((rank + 0.5 / points) * n).astype(np.int64)]
    return float(np.abs(gaps, out=gaps).mean())


def _numeric_histogram(sketch: QuantileSketch, data: NDArray[np.float64]) -> Histogram:
    q = np.asarray(sketch.values, dtype=np.float64)
    last = q.size - 1
    lo, hi = float(q[round(HISTOGRAM_TAIL * last)]), float(q[round((1 - HISTOGRAM_TAIL) * last)])
    if not hi > lo:
        lo, hi = float(q[0]), float(q[-1])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    inner = edges[1:-1]
    reference = np.diff(np.concatenate(([0.0], sketch.cdf(inner), [1.0])))
    current = np.diff(np.concatenate(([0.0], np.searchsorted(data, inner, side="right") / max(data.size, 1), [1.0])))
    if data.size == 0:
        current = np.zeros(HISTOGRAM_BINS)
    labels = [f"{a:.4g} to {b:.4g}" for a, b in pairwise(edges.tolist())]
    return Histogram(
        labels=labels,
        edges=[float(e) for e in edges],
        reference=[float(v) for v in reference],
        current=[float(v) for v in current],
    )


@lru_cache(maxsize=2)
def _ranks(n: int) -> NDArray[np.float64]:
    """i / n for i < n, shared by the features of a window without missing values (read-only)."""
    rank = np.arange(n, dtype=np.float64) / n
    rank.flags.writeable = False
    return rank


def _compare_numeric(
    sketch: QuantileSketch, std: float | None, values: NDArray[Any], *, mean: float | None = None
) -> _NumericComparison:
    """KS against the sketch, normalized Wasserstein and the histogram, from one sort. With the
    reference's exact `mean` (and `std`) the sketch's extreme intervals are shaped to match them."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    present = int(np.searchsorted(ordered, np.nan))  # NaN sorts last, and searchsorted agrees
    data = ordered[:present]
    if data.size == 0 or sketch.count == 0:
        return _NumericComparison(present, 0.0, 0.0, _numeric_histogram(sketch, data) if sketch.count else None)
    q = np.asarray(sketch.values, dtype=np.float64)
    scale = std if std is not None and std > 0 else 1.0
    shapes = tail_shapes(q, mean, std) if mean is not None and std is not None and std > 0 else None
    return _NumericComparison(
        present=present,
        ks=_ks_sorted(q, data, _ranks(data.size)),
        wasserstein=_wasserstein_sorted(q, data, shapes) / scale,
        histogram=_numeric_histogram(sketch, data),
    )


# ------------------------------------------------------------------------------ categorical features


@dataclass(frozen=True)
class _CategoricalComparison:
    present: int
    cells: list[str]  # reference categories (incl. __other__), then NEW when unseen values exist
    reference: NDArray[np.float64]  # shares, summing to 1
    current: NDArray[np.float64]  # counts
    new_categories: list[str]
    new_share: float


def _compare_categorical(frequencies: Mapping[str, float], values: NDArray[Any]) -> _CategoricalComparison:
    """Counts of the window's values in the reference's categories, and what the reference never saw."""
    data = np.asarray(values).astype(str)
    known = sorted(c for c in frequencies if c != OTHER)
    cells = list(frequencies)
    position = {c: i for i, c in enumerate(cells)}
    counts = np.zeros(len(cells) + 1, dtype=np.float64)
    if known and data.size:
        table = np.asarray(known, dtype=str)
        index = np.minimum(np.searchsorted(table, data), len(known) - 1)
        hit = table[index] == data
        sorted_counts = np.bincount(index[hit], minlength=len(known))
        for category, count in zip(known, sorted_counts.tolist(), strict=True):
            counts[position[category]] = count
        unseen = data[~hit]
    else:
        unseen = data
    new: list[str] = []
    new_share = 0.0
    if unseen.size:
        if OTHER in position:  # folded reference: a rare training value cannot be told from a new one
            counts[position[OTHER]] += unseen.size
        else:
            names, found = np.unique(unseen, return_counts=True)
            order = np.argsort(-found, kind="stable")[:MAX_NEW_CATEGORY_EXAMPLES]
            new = [str(names[i]) for i in order]
            counts[-1] = unseen.size
            new_share = unseen.size / data.size
    reference = np.array([float(frequencies[c]) for c in cells] + [0.0], dtype=np.float64)
    total = reference.sum()
    reference = reference / total if total > 0 else reference
    return _CategoricalComparison(int(data.size), [*cells, NEW], reference, counts, new, new_share)


def pooled_cells(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    effective: float,
    min_expected: float,
    *,
    keep_observed: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cells with fewer than `min_expected` expected values (reference share x effective size)
    merged into one, and that one, if still too small, into the smallest remaining cell.

    `keep_observed` also keeps a cell the window filled to `min_expected` on its own (the JS
    distance: a category that was rare and became common must stay visible; no test's
    approximation is at stake there). With nothing left to keep, one cell: nothing to compare.
    """
    rare = reference * effective < min_expected
    if keep_observed:
        rare &= current < min_expected
    if not rare.any():
        return reference, current
    kept_reference, kept_current = reference[~rare], current[~rare]
    rest_reference, rest_current = float(reference[rare].sum()), float(current[rare].sum())
    too_small = rest_reference * effective < min_expected and (not keep_observed or rest_current < min_expected)
    if too_small and kept_reference.size:
        smallest = int(np.argmin(kept_reference))
        kept_reference[smallest] += rest_reference
        kept_current[smallest] += rest_current
        return kept_reference, kept_current
    return np.append(kept_reference, rest_reference), np.append(kept_current, rest_current)


def chi_square_homogeneity(reference: NDArray[np.float64], current: NDArray[np.float64], m: int) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom of the 2 x k table (m reference values with these
    shares, the window's counts): n·m/(n+m) · Σ (p_ref - p_cur)² / p_pooled."""
    n = float(current.sum())
    if n <= 0 or m <= 0:
        return 0.0, 0
    shares = current / n
    pooled = (current + reference * m) / (n + m)
    used = pooled > 0
    statistic = n * m / (n + m) * float(np.sum((reference[used] - shares[used]) ** 2 / pooled[used]))
    return statistic, int(used.sum()) - 1


def jensen_shannon_distance(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """sqrt of the Jensen-Shannon divergence (natural log), as scipy.spatial.distance.jensenshannon."""
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0

    def part(x: NDArray[np.float64]) -> float:
        used = x > 0
        return float(np.sum(x[used] * np.log(x[used] / m[used])))

    return math.sqrt(max((part(p) + part(q)) / 2.0, 0.0))


def _categorical_histogram(comparison: _CategoricalComparison) -> Histogram:
    current = comparison.current / max(comparison.current.sum(), 1.0)
    top = np.argsort(-np.maximum(comparison.reference, current), kind="stable")[:TOP_CATEGORIES]
    top = np.array([i for i in top.tolist() if comparison.reference[i] > 0 or current[i] > 0], dtype=np.int64)
    labels = [comparison.cells[i] for i in top.tolist()]
    reference = comparison.reference[top].tolist()
    shares = current[top].tolist()
    rest_ref, rest_cur = 1.0 - float(sum(reference)), 1.0 - float(sum(shares))
    if len(top) < len(comparison.cells) and (rest_ref > 1e-12 or rest_cur > 1e-12):
        labels.append(REST)
        reference.append(max(rest_ref, 0.0))
        shares.append(max(rest_cur, 0.0) if comparison.current.sum() > 0 else 0.0)
    return Histogram(labels=labels, reference=reference, current=shares)


# ---------------------------------------------------------------------------------------- one feature


def _missing_rate(
    reference_rate: float, reference_rows: int, missing: int, rows: int, config: DriftConfig
) -> tuple[float, float | None, bool]:
    current = missing / rows if rows else 0.0
    if rows == 0:
        return current, None, False
    p = _two_proportion_p_value(reference_rate, max(reference_rows, 1), current, rows)
    drifted = abs(current - reference_rate) >= config.missing_rate_threshold and p < config.p_value
    return current, p, drifted


def _numeric_feature(
    name: str,
    sketch: QuantileSketch,
    std: float | None,
    values: NDArray[Any],
    config: DriftConfig,
    *,
    missing_rate: float,
    reference_rows: int,
    mean: float | None = None,
) -> FeatureDrift:
    comparison = _compare_numeric(sketch, std, values, mean=mean)
    rows = int(np.asarray(values).shape[0])
    current_rate, rate_p, rate_drifted = _missing_rate(
        missing_rate, reference_rows, rows - comparison.present, rows, config
    )
    test: TestName | None = None
    statistic, threshold, p_value, drifted = 0.0, config.p_value, None, False
    if comparison.present and sketch.count:
        if comparison.present <= config.small_sample_rows:
            test, statistic = "ks", comparison.ks
            p_value = ks_p_value(statistic, comparison.present, sketch.count)
            drifted = p_value < config.p_value
        else:
            test, statistic, threshold = "wasserstein", comparison.wasserstein, config.wasserstein_threshold
            drifted = statistic >= threshold
    return FeatureDrift(
        name=name,
        kind="numeric",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        distribution_drifted=drifted,
        drifted=drifted or rate_drifted,
        rows=rows,
        present=comparison.present,
        reference_count=sketch.count,
        ks_statistic=comparison.ks if test is not None else None,
        wasserstein=comparison.wasserstein if test is not None else None,
        missing_rate_reference=missing_rate,
        missing_rate_current=current_rate,
        missing_rate_p_value=rate_p,
        missing_rate_drifted=rate_drifted,
        histogram=comparison.histogram,
        note=None if test is not None else "no values to compare",
    )


def _categorical_feature(
    name: str,
    frequencies: Mapping[str, float],
    reference_count: int,
    values: NDArray[Any],
    missing: NDArray[np.bool_],
    config: DriftConfig,
    *,
    missing_rate: float,
    reference_rows: int,
) -> FeatureDrift:
    rows = int(np.asarray(values).shape[0])
    comparison = _compare_categorical(frequencies, np.asarray(values)[~missing])
    current_rate, rate_p, rate_drifted = _missing_rate(
        missing_rate, reference_rows, rows - comparison.present, rows, config
    )
    n, m = comparison.present, reference_count
    test: TestName | None = None
    statistic, threshold, p_value, drifted = 0.0, config.p_value, None, False
    if n and m:
        effective = n * m / (n + m)
        if n <= config.small_sample_rows:
            reference, current = pooled_cells(
                comparison.reference, comparison.current, effective, CHI_SQUARE_MIN_EXPECTED
            )
            statistic, dof = chi_square_homogeneity(reference, current, m)
            test, p_value = "chi_square", chi_square_sf(statistic, dof)
            drifted = p_value < config.p_value
        else:
            reference, current = pooled_cells(
                comparison.reference, comparison.current, effective, JENSEN_SHANNON_MIN_EXPECTED, keep_observed=True
            )
            test, threshold = "jensen_shannon", config.jensen_shannon_threshold
            statistic = jensen_shannon_distance(reference, current)
            drifted = statistic >= threshold
    new_drifted = bool(comparison.new_categories) and comparison.new_share > config.new_category_share
    return FeatureDrift(
        name=name,
        kind="categorical",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        distribution_drifted=drifted,
        drifted=drifted or rate_drifted or new_drifted,
        rows=rows,
        present=n,
        reference_count=m,
        missing_rate_reference=missing_rate,
        missing_rate_current=current_rate,
        missing_rate_p_value=rate_p,
        missing_rate_drifted=rate_drifted,
        new_categories=comparison.new_categories,
        new_category_share=comparison.new_share,
        new_categories_drifted=new_drifted,
        histogram=_categorical_histogram(comparison) if m else None,
        note=None if test is not None else "no values to compare",
    )


def _as_categories(
    values: NDArray[np.float64], profile: CategoricalProfile
) -> tuple[NDArray[np.str_], NDArray[np.bool_]]:
    """Numbers captured for a categorically profiled field: a bool (captured 1.0 / 0.0, profiled as
    "true" / "false"), or numbers spelled as the dataset spells integers."""
    missing = np.isnan(values)
    if set(profile.frequencies) <= {"true", "false", OTHER}:
        text = np.where(values == 1.0, "true", np.where(values == 0.0, "false", values.astype(str)))
    else:
        integral = np.isfinite(values) & (values == np.round(values))
        text = np.where(integral, np.where(integral, values, 0).astype(np.int64).astype(str), values.astype(str))
    return np.where(missing, "", text).astype(str), missing


def _as_numbers(text: NDArray[np.str_], missing: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Text captured for a numerically profiled field (a schema change): numbers that parse, else missing."""
    values = np.full(text.shape, np.nan)
    for i, value in enumerate(text.tolist()):
        if not missing[i]:
            try:
                values[i] = float(value)
            except ValueError:
                continue
    return values


def _feature_drift(
    name: str,
    profile: NumericProfile | CategoricalProfile,
    window: CapturedWindow,
    config: DriftConfig,
    reference_rows: int,
) -> FeatureDrift:
    captured_as = window.fields.get(name)
    if isinstance(profile, NumericProfile):
        values = (
            window.numeric[name]
            if captured_as == "numeric"
            else _as_numbers(window.categorical[name], window.missing[name])
        )
        return _numeric_feature(
            name,
            profile.sketch,
            profile.std,
            values,
            config,
            missing_rate=profile.missing_rate,
            reference_rows=reference_rows,
            mean=profile.mean,
        )
    if captured_as == "numeric":
        categories, missing = _as_categories(window.numeric[name], profile)
    else:
        categories, missing = window.categorical[name], window.missing[name]
    return _categorical_feature(
        name,
        profile.frequencies,
        profile.count,
        categories,
        missing,
        config,
        missing_rate=profile.missing_rate,
        reference_rows=reference_rows,
    )


# ------------------------------------------------------------------------------------------ predictions


def _scores(profile: PredictionProfile, window: CapturedWindow) -> NDArray[np.float64] | None:
    if profile.score == "prediction":
        if window.predictions is None or window.predictions.dtype.kind not in "fiu":
            return None
        return np.asarray(window.predictions, dtype=np.float64)
    proba = window.probabilities
    if proba is None or proba.ndim != 2 or proba.shape[0] == 0:
        return None
    if profile.score == "positive_probability":
        return np.asarray(proba[:, 1], dtype=np.float64) if proba.shape[1] > 1 else None
    return np.asarray(proba.max(axis=1), dtype=np.float64)


def _prediction_drift(profile: PredictionProfile, window: CapturedWindow, config: DriftConfig) -> PredictionDrift:
    classes: FeatureDrift | None = None
    if profile.class_frequencies is not None and window.predictions is not None and window.predictions.size:
        labels = np.asarray(window.predictions).astype(str)
        classes = _categorical_feature(
            "predicted class",
            profile.class_frequencies,
            profile.count,
            labels,
            np.zeros(labels.shape, dtype=bool),
            config,
            missing_rate=0.0,
            reference_rows=profile.count,
        )
    score: FeatureDrift | None = None
    values = _scores(profile, window)
    if values is not None and values.size:
        _, std = sketch_moments(profile.sketch.values)
        score = _numeric_feature(
            f"score ({profile.score})",
            profile.sketch,
            std,
            values,
            config,
            missing_rate=0.0,
            reference_rows=profile.count,
        )
    drifted = any(f is not None and f.drifted for f in (classes, score))
    return PredictionDrift(kind=profile.kind, score_name=profile.score, classes=classes, score=score, drifted=drifted)


# ---------------------------------------------------------------------------------------------- check


def refused_traffic(window: CapturedWindow, config: DriftConfig) -> RefusedTraffic:
    """The window's refused rows by reason and field; flagged only with enough rows to mean something."""
    share = window.refused_rows / window.rows if window.rows else 0.0
    by_reason: dict[str, int] = {}
    by_field: dict[str, dict[str, int]] = {}
    for (name, why), count in sorted(window.refusals.items()):
        by_reason[why] = by_reason.get(why, 0) + count
        by_field.setdefault(name, {})[why] = count
    return RefusedTraffic(
        rows=window.refused_rows,
        share=share,
        offending_rows=window.offending_rows,
        by_reason=by_reason,
        by_field=by_field,
        threshold=config.refused_share_threshold,
        exceeded=window.rows >= config.min_rows and window.refused_rows > 0 and share >= config.refused_share_threshold,
    )


def check_drift(
    profile: ReferenceProfile,
    window: CapturedWindow,
    config: DriftConfig,
    *,
    model: str,
    version: int,
    checked_at: str,
    window_start: str | None,
    window_end: str | None,
) -> DriftReport:
    """Every profiled feature and the predictions of `window` against `profile`."""
    base: dict[str, Any] = {
        "model": model,
        "version": version,
        "checked_at": checked_at,
        "window_start": window_start,
        "window_end": window_end,
        "rows": window.rows,
        "reference_rows": profile.rows,
        "refused": refused_traffic(window, config),
        "config": config,
    }
    if window.rows < config.min_rows:
        return DriftReport(
            **base,
            status="insufficient_data",
            message=f"insufficient data: {window.rows} rows captured, {config.min_rows} needed; nothing is flagged",
            features=[],
            prediction=None,
            drifted_features=[],
            drift_share=0.0,
            dataset_drift=False,
        )
    features: list[FeatureDrift] = []
    not_captured: list[str] = []
    for name, feature_profile in profile.features.items():
        if name not in window.fields:
            not_captured.append(name)
            continue
        features.append(_feature_drift(name, feature_profile, window, config, profile.rows))
    prediction = _prediction_drift(profile.prediction, window, config) if profile.prediction is not None else None
    if prediction is not None and prediction.classes is None and prediction.score is None:
        prediction = None
    drifted = [f.name for f in features if f.drifted]
    counted = config.prediction_drift and prediction is not None
    compared = len(features) + int(counted)
    drifted_count = len(drifted) + int(counted and prediction is not None and prediction.drifted)
    share = drifted_count / compared if compared else 0.0
    dataset_drift = compared > 0 and share >= config.dataset_drift_share
    what = f"{drifted_count} of {compared}" + (f" ({len(features)} features and the prediction)" if counted else "")
    if dataset_drift:
        message = f"dataset drift: {what} drifted ({share:.0%}), at least {config.dataset_drift_share:.0%}"
    else:
        message = f"no dataset drift: {what} drifted ({share:.0%}), below {config.dataset_drift_share:.0%}"
    if not_captured:
        message += f"; not captured: {', '.join(not_captured)}"
    return DriftReport(
        **base,
        status="drift" if dataset_drift else "ok",
        message=message,
        features=features,
        prediction=prediction,
        drifted_features=drifted,
        drift_share=share,
        dataset_drift=dataset_drift,
        not_captured=not_captured,
    )
