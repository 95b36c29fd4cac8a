"""A drift check of 1,000,000 captured rows x 20 features against the reference profile, in one run
with the exact answer computed from the raw data.

Data (fixed seed): a training set of 200,000 rows x 20 numeric features in five families (normal,
lognormal, uniform, Poisson counts, and a zero-inflated gamma: atoms and ties included), profiled
with `numeric_profile` as training profiles it (1,001-level sketches). The captured window has
1,000,000 rows: 6 features moved by amounts that matter (a mean or scale shift, a changed share of
zeros: Wasserstein 0.2 to 0.4 reference standard deviations), 6 by tiny amounts (0.01 to 0.03
standard deviations: a KS test on a million rows calls those significant, which is why large
windows use a distance) and 8 unchanged.

Platform: `check_drift` with the default `DriftConfig` on the window (a `CapturedWindow` over the
arrays; concatenating capture batches is a separate step, timed in the data column). Exact: for
each feature `scipy.stats.ks_2samp` on the raw training and captured values, and
`scipy.stats.wasserstein_distance` divided by the training values' standard deviation. The exact
decision applies the platform's own rule (the same code path's thresholds and tests, here the
Wasserstein threshold since the window is large) to the exact statistics, so "agreement" measures
the sketch's error, not a different rule.

Times: best of `repeats` runs each, one thread, the two taking turns. Memory: the tracemalloc peak
above what was allocated before the call (numpy reports its buffers to tracemalloc), in separate
runs from the timed ones.

    python -m bench drift            # full run (~1 min)
    python -m bench drift --quick    # 20,000 rows: checks the harness
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from bench.figures import Figure, speedup
from mlops.monitoring.config import DriftConfig
from mlops.monitoring.drift import check_drift
from mlops.monitoring.profile import ReferenceProfile, numeric_profile
from mlops.monitoring.report import DriftReport
from mlops.monitoring.statistics import ks_p_value
from mlops.monitoring.window import CapturedWindow

BENCHMARK = "drift"
EXACT = "exact: scipy ks_2samp + wasserstein_distance on the raw data"
SPEEDUP_TARGET = 10.0
KS_TARGET = 0.002
N_FEATURES = 20
BATCH_ROWS = 10_000  # rows per capture object when the window is assembled from batches


@dataclass(frozen=True)
class Scale:
    reference_rows: int
    window_rows: int
    repeats: int


FULL = Scale(reference_rows=200_000, window_rows=1_000_000, repeats=3)
QUICK = Scale(reference_rows=20_000, window_rows=20_000, repeats=1)

Sampler = Callable[[np.random.Generator, int], NDArray[np.float64]]


def _normal(mean: float, std: float) -> Sampler:
    return lambda rng, n: rng.normal(mean, std, n)


def _lognormal(mu: float, sigma: float) -> Sampler:
    return lambda rng, n: rng.lognormal(mu, sigma, n)


def _uniform(low: float, high: float) -> Sampler:
    return lambda rng, n: rng.uniform(low, high, n)


def _poisson(rate: float) -> Sampler:
    return lambda rng, n: rng.poisson(rate, n).astype(np.float64)


def _zero_inflated(zeros: float) -> Sampler:
    return lambda rng, n: np.where(rng.random(n) < zeros, 0.0, rng.gamma(2.0, 1.5, n))


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    change: str  # "meaningful" | "tiny" | "none"
    reference: Sampler
    window: Sampler
    what: str


def feature_specs() -> list[FeatureSpec]:
    """20 features: 6 meaningful shifts, 6 tiny ones, 8 unchanged, across the five families."""
    specs = [
        ("meaningful", _normal(0, 1), _normal(0.3, 1), "normal, mean +0.3 sd"),
        ("meaningful", _lognormal(0, 0.8), _lognormal(0.3, 0.8), "lognormal, mu +0.3"),
        ("meaningful", _uniform(0, 10), _uniform(0.6, 10.6), "uniform, +0.6"),
        ("meaningful", _poisson(3.0), _poisson(3.6), "Poisson, rate 3 -> 3.6"),
        ("meaningful", _zero_inflated(0.4), _zero_inflated(0.55), "zero-inflated gamma, zeros 40 % -> 55 %"),
        ("meaningful", _normal(5, 2), _normal(5, 2.8), "normal, sd x1.4"),
        ("tiny", _normal(0, 1), _normal(0.02, 1), "normal, mean +0.02 sd"),
        ("tiny", _lognormal(0, 0.8), _lognormal(0.01, 0.8), "lognormal, mu +0.01"),
        ("tiny", _uniform(0, 10), _uniform(0.05, 10.05), "uniform, +0.05"),
        ("tiny", _poisson(3.0), _poisson(3.05), "Poisson, rate 3 -> 3.05"),
        ("tiny", _zero_inflated(0.4), _zero_inflated(0.41), "zero-inflated gamma, zeros 40 % -> 41 %"),
        ("tiny", _normal(5, 2), _normal(5, 2.04), "normal, sd x1.02"),
    ]
    unchanged: list[tuple[Sampler, str]] = [
        (_normal(0, 1), "normal"),
        (_lognormal(0, 0.8), "lognormal"),
        (_uniform(0, 10), "uniform"),
        (_poisson(3.0), "Poisson"),
        (_zero_inflated(0.4), "zero-inflated gamma"),
        (_normal(100, 15), "normal"),
        (_lognormal(2, 0.5), "lognormal"),
        (_poisson(0.7), "Poisson (mostly 0 and 1)"),
    ]
    out = [FeatureSpec(f"f{i:02d}", c, r, w, what) for i, (c, r, w, what) in enumerate(specs)]
    out += [FeatureSpec(f"f{len(specs) + i:02d}", "none", s, s, what) for i, (s, what) in enumerate(unchanged)]
    assert len(out) == N_FEATURES
    return out


@dataclass
class Data:
    specs: list[FeatureSpec]
    reference: dict[str, NDArray[np.float64]]
    window: dict[str, NDArray[np.float64]]
    profile: ReferenceProfile
    profile_seconds: float


def make_data(scale: Scale, seed: int = 0) -> Data:
    specs = feature_specs()
    rng = np.random.default_rng(seed)
    reference = {s.name: s.reference(rng, scale.reference_rows) for s in specs}
    window = {s.name: s.window(rng, scale.window_rows) for s in specs}
    started = time.perf_counter()
    no_missing = np.zeros(scale.reference_rows, dtype=bool)
    features = {name: numeric_profile(values, no_missing) for name, values in reference.items()}
    seconds = time.perf_counter() - started
    profile = ReferenceProfile(rows=scale.reference_rows, features=features)  # type: ignore[arg-type]
    return Data(specs, reference, window, profile, seconds)


def window_of(data: Data) -> CapturedWindow:
    rows = next(iter(data.window.values())).size
    return CapturedWindow(
        fields=dict.fromkeys(data.window, "numeric"),
        numeric=data.window,
        categorical={},
        missing={},
        predictions=None,
        probabilities=None,
        classes=None,
        rows=rows,
    )


def from_batches_seconds(data: Data) -> float:
    """Assembling the same window from capture batches of BATCH_ROWS rows (what the drift function
    does after reading the hour's objects)."""
    rows = next(iter(data.window.values())).size
    meta = {"fields": dict.fromkeys(data.window, "numeric"), "classes": None}
    batches = []
    for part in np.array_split(np.arange(rows), max(rows // BATCH_ROWS, 1)):
        start, stop = int(part[0]), int(part[-1]) + 1
        arrays = {f"input:{name}": values[start:stop] for name, values in data.window.items()}
        arrays["variant"] = np.full(stop - start, "champion")
        batches.append(({**meta, "rows": stop - start}, arrays))
    started = time.perf_counter()
    window = CapturedWindow.from_batches(batches)
    seconds = time.perf_counter() - started
    assert window.rows == rows
    return seconds


def platform(data: Data, config: DriftConfig) -> DriftReport:
    return check_drift(
        data.profile,
        window_of(data),
        config,
        model="bench",
        version=1,
        checked_at="bench",
        window_start=None,
        window_end=None,
    )


@dataclass(frozen=True)
class Exact:
    ks: float
    ks_p: float
    wasserstein: float  # over the reference's std
    drifted: bool


def exact(data: Data, config: DriftConfig) -> dict[str, Exact]:
    """scipy on the raw arrays, and the platform's rule applied to those statistics."""
    out = {}
    for name, reference in data.reference.items():
        current = data.window[name]
        ks = float(stats.ks_2samp(reference, current).statistic)
        distance = float(stats.wasserstein_distance(reference, current)) / float(reference.std())
        p = ks_p_value(ks, current.size, reference.size)
        small = current.size <= config.small_sample_rows
        drifted = p < config.p_value if small else distance >= config.wasserstein_threshold
        out[name] = Exact(ks, p, distance, drifted)
    return out


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_mb(fn: Callable[[], Any]) -> float:
    """tracemalloc's peak above the memory allocated before the call."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / 1e6


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def run(quick: bool) -> list[Figure]:
    scale = QUICK if quick else FULL
    config = DriftConfig()
    data = make_data(scale)
    rows, cells = scale.window_rows, f"{scale.window_rows:,} rows x {N_FEATURES}"
    platform_times: list[float] = []
    exact_times: list[float] = []
    before = load()
    for _ in range(scale.repeats):  # taking turns, so a load change on a shared machine hits both
        platform_times.append(timed(lambda: platform(data, config)))
        exact_times.append(timed(lambda: exact(data, config)))
    window_load = f"{before} -> {load()}"
    report = platform(data, config)
    truth = exact(data, config)
    platform_mb = peak_mb(lambda: platform(data, config))
    exact_mb = peak_mb(lambda: exact(data, config))
    assembly = from_batches_seconds(data)

    by_name = {f.name: f for f in report.features}
    ks_errors = {n: abs((by_name[n].ks_statistic or 0.0) - truth[n].ks) for n in truth}
    w_errors = {n: abs((by_name[n].wasserstein or 0.0) - truth[n].wasserstein) for n in truth}
    agree = [n for n in truth if by_name[n].drifted == truth[n].drifted]
    worst_ks = max(ks_errors, key=ks_errors.__getitem__)
    worst_w = max(w_errors, key=w_errors.__getitem__)
    spec = {s.name: s for s in data.specs}
    flagged = [n for n in truth if by_name[n].drifted]
    exact_flagged = [n for n in truth if truth[n].drifted]
    significant = [n for n in truth if truth[n].ks_p < config.p_value]
    expected = [s.name for s in data.specs if s.change == "meaningful"]
    timing_data = (
        f"{cells} against a {scale.reference_rows:,}-row reference; best of {scale.repeats}, 1 thread; "
        f"{window_load}; assembling the window from {max(rows // BATCH_ROWS, 1)} capture batches: "
        f"{assembly:.2f} s more; profiling the reference at training time: {data.profile_seconds:.2f} s"
    )
    return [
        speedup(
            BENCHMARK,
            f"drift check of {cells} features: time",
            min(platform_times),
            "s",
            baseline=EXACT,
            baseline_value=min(exact_times),
            target_ratio=SPEEDUP_TARGET,
            data=timing_data,
        ),
        speedup(
            BENCHMARK,
            f"drift check of {cells} features: peak extra memory",
            platform_mb,
            "MB",
            baseline=EXACT,
            baseline_value=exact_mb,
            data=f"tracemalloc peak above the inputs ({rows * N_FEATURES * 8 / 1e6:.0f} MB of float64 window)",
        ),
        Figure(
            BENCHMARK,
            "max abs ΔKS statistic (sketch vs scipy ks_2samp)",
            ks_errors[worst_ks],
            "",
            target=f"<= {KS_TARGET:g}",
            met=ks_errors[worst_ks] <= KS_TARGET,
            data=f"worst {worst_ks} ({spec[worst_ks].what}): sketch {by_name[worst_ks].ks_statistic:.5f}, "
            f"exact {truth[worst_ks].ks:.5f}; mean abs error {np.mean(list(ks_errors.values())):.5f}",
        ),
        Figure(
            BENCHMARK,
            "drift decisions agreeing with the exact rule",
            float(len(agree)),
            "features",
            target=f"{N_FEATURES}/{N_FEATURES}",
            met=len(agree) == N_FEATURES,
            data=f"platform flags {', '.join(flagged) or 'none'}; exact {', '.join(exact_flagged) or 'none'}; "
            f"meant to move: {', '.join(expected)}; a KS test at p {config.p_value:g} would flag "
            f"{len(significant)} of {N_FEATURES}; dataset drift {'yes' if report.dataset_drift else 'no'} "
            f"(share {report.drift_share:.2f})",
        ),
        Figure(
            BENCHMARK,
            "max abs Δ normalized Wasserstein (sketch vs scipy)",
            w_errors[worst_w],
            "",
            data=f"worst {worst_w} ({spec[worst_w].what}): sketch {by_name[worst_w].wasserstein:.4f}, "
            f"exact {truth[worst_w].wasserstein:.4f} (threshold {config.wasserstein_threshold:g}); "
            f"mean abs error {np.mean(list(w_errors.values())):.4f}",
        ),
    ]
