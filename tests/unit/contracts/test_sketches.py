"""Statistics that merge across parts: what each promises (exact up to rounding, or within its
documented error), on seeded data with ties, heavy tails and parts that do not overlap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops.contracts.sketches import HLL_RELATIVE_ERROR, HyperLogLog, Moments, RankSummary, rank_error

QS = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)


def _data(kind: str, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "lognormal":
        return rng.lognormal(0, 2, n)
    if kind == "ties":  # a handful of values, one of them most of the rows
        return rng.choice([0.0, 1.0, 2.5, 7.0], n, p=[0.7, 0.1, 0.1, 0.1])
    if kind == "counts":  # whole numbers over a narrow span: summarized by counting, not sorting
        return rng.poisson(3, n).astype(np.float64) - 2
    return np.sort(rng.normal(0, 1, n))  # sorted: each part a disjoint range of values


@pytest.mark.parametrize("kind", ["lognormal", "ties", "counts", "sorted"])
@pytest.mark.parametrize("parts", [1, 8, 40])
def test_merged_quantiles_stay_within_the_documented_rank_error(kind: str, parts: int) -> None:
    levels = 129  # few levels, so the summaries are lossy and the bound is what is tested
    values = _data(kind, 200_000)
    merged = RankSummary.union([RankSummary.of(p, levels) for p in np.array_split(values, parts)])
    bound = merged.rank_error_bound(levels)
    assert bound == pytest.approx(1 / (levels - 1) + parts / values.size)
    for q in QS:
        estimate = merged.quantile(q)
        assert estimate is not None
        assert rank_error(values, estimate, q) <= bound


def test_a_summary_that_kept_every_value_is_numpy_exact() -> None:
    values = _data("lognormal", 1000)
    merged = RankSummary.union([RankSummary.of(p) for p in np.array_split(values, 4)])
    assert merged.rank_error_bound() == 0.0
    for q in QS:
        assert merged.quantile(q) == pytest.approx(float(np.quantile(values, q)), rel=1e-12)


@pytest.mark.parametrize(
    "kind", ["whole, narrow span", "whole, wide span", "prices (2 decimals)", "measurements (3 decimals)", "normal"]
)
def test_a_summary_keeps_the_sorted_values_at_its_positions(kind: str) -> None:
    """Numbers with few decimals are counted, not sorted (whole numbers, prices, rounded measurements,
    as a CSV holds them); either way each kept value is the sorted value at the first position it
    stands for."""
    rng = np.random.default_rng(len(kind))
    values = {
        "whole, narrow span": rng.integers(-5, 60, 100_000).astype(np.float64),
        "whole, wide span": rng.integers(-(10**6), 10**6, 100_000).astype(np.float64),
        "prices (2 decimals)": np.round(rng.lognormal(3, 1, 100_000), 2),
        "measurements (3 decimals)": np.round(rng.normal(-20, 30, 100_000), 3),
        "normal": rng.normal(0, 1, 100_000),
    }[kind]
    summary = RankSummary.of(values, 257)
    weights = np.asarray(summary.weights)
    first_positions = np.cumsum(weights) - weights
    assert summary.values == np.sort(values)[first_positions].tolist()
    assert summary.count == values.size and len(set(summary.values)) > 30


def test_chan_merge_gives_the_moments_of_all_values() -> None:
    values = _data("lognormal", 100_001) + 1e6  # a large offset: naive sums of squares would lose it
    merged = Moments()
    for part in np.array_split(values, 7):
        merged = merged.merge(Moments.of(part))
    assert merged.count == values.size
    assert merged.mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    assert merged.std == pytest.approx(float(np.std(values, ddof=1)), rel=1e-9)
    assert Moments.of(values[:1]).std == 0.0  # one value: the single-file check says 0.0


@pytest.mark.parametrize("distinct", [1_000, 60_000, 500_000])
def test_distinct_counts_merge_within_three_standard_errors(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    values = rng.integers(0, distinct, 2 * distinct)  # every value about twice, some not at all
    truth = np.unique(values).size
    hashes = pd.util.hash_array(values)
    merged = HyperLogLog.of(np.zeros(0, dtype=np.uint64))
    for part in np.array_split(hashes, 8):
        merged = merged.merge(HyperLogLog.of(part))
    assert abs(merged.estimate() - truth) <= 3 * HLL_RELATIVE_ERROR * truth
    assert merged.estimate() == HyperLogLog.of(hashes).estimate()  # merging loses nothing
