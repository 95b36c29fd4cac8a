"""The significance tests of the A/B check and the distributions they need, without scipy (the
inference layer has none): the two-proportion z-test with Newcombe's interval, Welch's t-test, and
the Student t distribution from the regularized incomplete beta function, computed by its continued
fraction as Numerical Recipes does (3rd ed., 6.4). tests/unit/monitoring/test_ab_test.py holds each
equal to scipy's."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray


def normal_quantile(probability: float) -> float:
    return NormalDist().inv_cdf(probability)


def two_proportion_test(
    x1: float, n1: int, x2: float, n2: int, *, alpha: float
) -> tuple[float, tuple[float, float], float]:
    """(p2 - p1, Newcombe's interval of it at 1 - alpha, the pooled z-test's two-sided p-value)."""
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Both sides all right (or all wrong): nothing varies, nothing differs.
    p_value = 1.0 if se == 0 else math.erfc(abs(p2 - p1) / se / math.sqrt(2))
    z = normal_quantile(1 - alpha / 2)
    low1, high1 = wilson_interval(x1, n1, z)
    low2, high2 = wilson_interval(x2, n2, z)
    difference = p2 - p1
    low = difference - math.sqrt((p2 - low2) ** 2 + (high1 - p1) ** 2)
    high = difference + math.sqrt((high2 - p2) ** 2 + (p1 - low1) ** 2)
    return difference, (low, high), min(1.0, p_value)


def wilson_interval(successes: float, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def welch_test(
    a: NDArray[np.float64], b: NDArray[np.float64], *, alpha: float
) -> tuple[float, tuple[float, float], float, float]:
    """(mean(b) - mean(a), its interval at 1 - alpha, the two-sided p-value, the Welch-Satterthwaite
    degrees of freedom) of Welch's t-test; at least two values on each side."""
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    difference = float(b.mean() - a.mean())
    se = math.sqrt(va + vb)
    if se == 0:  # neither side varies: the difference is what it is
        return difference, (difference, difference), 1.0 if difference == 0 else 0.0, math.inf
    df = (va + vb) ** 2 / (va * va / (a.size - 1) + vb * vb / (b.size - 1))
    t = difference / se
    p_value = 2 * student_t_sf(abs(t), df)
    half = student_t_quantile(1 - alpha / 2, df) * se
    return difference, (difference - half, difference + half), min(1.0, p_value), df


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` (any positive real) degrees of freedom."""
    if not math.isfinite(df) or df > 1e7:  # the normal, to far better than the p-values' use
        return 1 - NormalDist().cdf(t)
    tail = 0.5 * regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1 - tail


def student_t_cdf(t: float, df: float) -> float:
    return 1 - student_t_sf(t, df)


def student_t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = probability, by bisection on the CDF (monotone; 200 halvings reach
    float precision from any bracket the doubling finds)."""
    if not 0 < probability < 1:
        raise ValueError(f"a quantile needs a probability strictly between 0 and 1; got {probability}")
    if probability < 0.5:
        return -student_t_quantile(1 - probability, df)
    low, high = 0.0, max(1.0, normal_quantile(probability))
    while student_t_cdf(high, df) < probability:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if student_t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), from the continued fraction on the side where it converges fast (Numerical
    Recipes, 3rd ed., 6.4: betai and betacf)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float, *, iterations: int = 10_000, eps: float = 1e-15) -> float:
    """The incomplete beta's continued fraction by the modified Lentz method."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, iterations + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1) < eps:
            return h
    raise ArithmeticError(f"the incomplete beta's continued fraction did not converge (a={a}, b={b}, x={x})")
