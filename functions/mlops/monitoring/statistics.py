"""How far a window's values are from the reference profile: the numbers a drift check decides on
(`mlops.monitoring.drift` says which one counts, and at what level).

Numeric features against the profile's quantile sketch: the two-sample KS statistic, the
Wasserstein-1 distance and the report's histogram, from one sort of the window's values. The
sketch's KS is within 0.001 of the exact two-sample statistic (`profile.ks_statistic`); its
Wasserstein distance within about 0.005 reference standard deviations for the tails tried (normal,
lognormal, Pareto, Student t, counts), the extreme levels shaped to the profile's exact mean and std.

Categorical features against the profile's frequencies: counts per reference category and what the
reference never saw, cells pooled for a test, Pearson's chi-square and the Jensen-Shannon distance.

numpy only (the drift function's layer has no scipy): the Kolmogorov and chi-square survival
functions are implemented here and tested against scipy. Each numeric feature is sorted once;
everything else is a few vectorized passes, so a million rows by 20 features takes about half a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.profile import OTHER, QuantileSketch
from mlops.monitoring.report import MAX_NEW_CATEGORY_EXAMPLES, Histogram

HISTOGRAM_BINS = 20
HISTOGRAM_TAIL = 0.005  # numeric bins span the reference's 0.5 % .. 99.5 % quantiles; the tails join the end bins
TOP_CATEGORIES = 10
NEW = "(new)"
REST = "(rest)"


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


def two_proportion_p_value(p1: float, n1: int, p2: float, n2: int) -> float:
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
class NumericComparison:
    """A numeric feature's window against the sketch, from one sort of its values."""

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


def compare_numeric(
    sketch: QuantileSketch, std: float | None, values: NDArray[Any], *, mean: float | None = None
) -> NumericComparison:
    """KS against the sketch, normalized Wasserstein and the histogram, from one sort. With the
    reference's exact `mean` (and `std`) the sketch's extreme intervals are shaped to match them."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    present = int(np.searchsorted(ordered, np.nan))  # NaN sorts last, and searchsorted agrees
    data = ordered[:present]
    if data.size == 0 or sketch.count == 0:
        return NumericComparison(present, 0.0, 0.0, _numeric_histogram(sketch, data) if sketch.count else None)
    q = np.asarray(sketch.values, dtype=np.float64)
    scale = std if std is not None and std > 0 else 1.0
    shapes = tail_shapes(q, mean, std) if mean is not None and std is not None and std > 0 else None
    return NumericComparison(
        present=present,
        ks=_ks_sorted(q, data, _ranks(data.size)),
        wasserstein=_wasserstein_sorted(q, data, shapes) / scale,
        histogram=_numeric_histogram(sketch, data),
    )


# ------------------------------------------------------------------------------ categorical features


@dataclass(frozen=True)
class CategoricalComparison:
    """A categorical feature's window counted in the reference's categories."""

    present: int
    cells: list[str]  # reference categories (incl. __other__), then NEW when unseen values exist
    reference: NDArray[np.float64]  # shares, summing to 1
    current: NDArray[np.float64]  # counts
    new_categories: list[str]
    new_share: float


def compare_categorical(frequencies: Mapping[str, float], values: NDArray[Any]) -> CategoricalComparison:
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
    return CategoricalComparison(int(data.size), [*cells, NEW], reference, counts, new, new_share)


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


def categorical_histogram(comparison: CategoricalComparison) -> Histogram:
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
