"""Statistics of a column that merge across the parts of a partitioned dataset version.

A part is validated on its own (a Distributed Map child); the version's figures are then merged
from the parts' records, never from the rows again:

- `Moments`: count, mean and M2 (the sum of squared deviations), merged by Chan, Golub and LeVeque's
  parallel update. Algebraically exact; in floating point the merged mean and standard deviation
  differ from one pass over all rows by rounding only (a few units in the 15th digit).
- `RankSummary`: a quantile summary with a deterministic bound. A part keeps its sorted values at
  `levels` evenly spaced positions (all of them when it has fewer rows). Each kept value stands for
  the positions up to the next kept one, at most ceil((n_i - 1) / (levels - 1)) of them, so an
  estimate read from the union of P parts' summaries misplaces a rank by at most
  sum_i ceil((n_i - 1) / (levels - 1)) <= n / (levels - 1) + P positions: a normalized rank error
  of at most 1 / (levels - 1) + P / n (`rank_error_bound`). With the default 2,049 levels and 8
  parts of a million rows that is 0.000496. Its records hold `levels` floats per part and column.
- `HyperLogLog`: distinct values from 64-bit value hashes, 2^14 one-byte registers (16 KB), merged
  by taking the larger register; relative standard error 1.04 / sqrt(2^14) = 0.81 % (Flajolet et
  al., 2007), with linear counting below 2.5 x 2^14 distinct values, where it is near exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

DEFAULT_LEVELS = 2049
HLL_PRECISION = 14
HLL_RELATIVE_ERROR = 1.04 / math.sqrt(1 << HLL_PRECISION)


class Moments(BaseModel):
    """Count, mean and M2 of a column's valid numbers: mergeable without the rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: npt.NDArray[np.float64]) -> Moments:
        if values.size == 0:
            return cls()
        mean = float(np.mean(values))
        deviations = values - mean
        # A numpy sum (pairwise, as `np.std` adds), not `np.dot`: BLAS threads would spin beside the
        # part's own column threads.
        return cls(count=int(values.size), mean=mean, m2=float(np.square(deviations).sum()))

    def merge(self, other: Moments) -> Moments:
        """Chan et al.'s update: the moments of both sets of values together."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Moments(count=count, mean=mean, m2=m2)

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1), 0.0 for one value, as the single-file check reports it."""
        return math.sqrt(max(self.m2, 0.0) / (self.count - 1)) if self.count > 1 else 0.0


class RankSummary(BaseModel):
    """Kept values of one or more parts with the number of sorted positions each stands for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: list[float]
    weights: list[int]
    parts: int = 1

    @classmethod
    def of(cls, values: npt.NDArray[np.float64], levels: int = DEFAULT_LEVELS) -> RankSummary:
        """Sorted values at `levels` evenly spaced positions, each weighted by its share of positions."""
        if levels < 2:
            raise ValueError("a rank summary needs at least 2 levels")
        values = np.asarray(values, dtype=np.float64)
        n = values.size
        if n <= levels:
            return cls(values=np.sort(values).tolist(), weights=[1] * n)
        positions = np.unique(np.round(np.linspace(0, n - 1, levels)).astype(np.int64))
        weights = np.diff(np.append(positions, n))
        return cls(values=_order_statistics(values, positions).tolist(), weights=weights.tolist())

    @property
    def count(self) -> int:
        return sum(self.weights)

    @staticmethod
    def union(summaries: Sequence[RankSummary]) -> RankSummary:
        """Every part's kept values, sorted: the bound adds up over the parts (see the module)."""
        values = np.concatenate([np.asarray(s.values, dtype=np.float64) for s in summaries] or [np.zeros(0)])
        weights = np.concatenate([np.asarray(s.weights, dtype=np.int64) for s in summaries] or [np.zeros(0, np.int64)])
        order = np.argsort(values, kind="stable")
        return RankSummary(
            values=values[order].tolist(), weights=weights[order].tolist(), parts=sum(s.parts for s in summaries)
        )

    def quantile(self, q: float) -> float | None:
        """The q-quantile as `numpy.quantile` defines it (linear between the two nearest positions),
        each position's value read from the summary."""
        n = self.count
        if n == 0:
            return None
        values = np.asarray(self.values, dtype=np.float64)
        ends = np.cumsum(np.asarray(self.weights, dtype=np.int64))  # one past the last position each stands for
        position = q * (n - 1)
        low, high = math.floor(position), math.ceil(position)
        at_low = values[int(np.searchsorted(ends, low, side="right"))]
        at_high = values[int(np.searchsorted(ends, high, side="right"))]
        return float(at_low + (position - low) * (at_high - at_low))

    def rank_error_bound(self, levels: int = DEFAULT_LEVELS) -> float:
        """The largest normalized rank error a quantile read from this summary can have (module text)."""
        n = self.count
        if n == 0 or max(self.weights) == 1:  # every value kept: exact
            return 0.0
        return min(1.0, 1.0 / (levels - 1) + self.parts / n)


def _order_statistics(values: npt.NDArray[np.float64], positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The values at these positions of the sorted values: the numbers `np.sort(values)[positions]` gives.

    Numbers written with a few decimals (counts, codes, prices, measurements: what a CSV holds), over
    a span of at most `_STEPS_PER_VALUE` steps of their last decimal per value, are counted instead
    of sorted: each number is k / 10^d for a whole k, found and checked exactly, and the counts of
    the k in order are the sorted numbers (one pass, where sorting a part's 125,000 numbers takes
    about 5 ms here). Anything else is sorted.
    """
    low, high = float(values.min()), float(values.max())
    for places in _decimal_places(low, high, values):
        scale = 10.0**places
        keys = np.round(values * scale)
        if not np.array_equal(keys / scale, values):
            continue
        first, last = float(np.round(low * scale)), float(np.round(high * scale))
        counts = np.bincount((keys - first).astype(np.int64), minlength=int(last - first) + 1)
        ends = np.cumsum(counts)  # one past the last sorted position that holds (first + k) / scale
        return (first + np.searchsorted(ends, positions, side="right").astype(np.float64)) / scale
    return np.sort(values)[positions]


_STEPS_PER_VALUE = 4  # the counts take at most 4 int64 per value: 32 bytes, where a sort copies 8
_MAX_PLACES = 6


def _decimal_places(low: float, high: float, values: npt.NDArray[np.float64]) -> list[int]:
    """The decimals worth trying, fewest first: those the span allows that the first few values do
    not exceed (a cheap refusal for numbers not written with a few decimals)."""
    span, size, head = high - low, values.size, values[:64]
    if not (np.isfinite(span) and max(abs(low), abs(high)) < 2.0**52):
        return []
    most = -1
    while most < _MAX_PLACES and span * 10.0 ** (most + 1) <= _STEPS_PER_VALUE * size:
        most += 1
    tried = []
    for places in sorted({0, most}) if most >= 0 else []:
        scale = 10.0**places
        if max(abs(low), abs(high)) * scale < 2.0**52 and np.array_equal(np.round(head * scale) / scale, head):
            tried.append(places)
    return tried


def rank_error(values: npt.NDArray[np.float64], estimate: float, q: float) -> float:
    """How far `estimate` is from being a q-quantile of `values`: 0 when q lies between the shares
    of values below it and at or below it, else the distance to the nearer of the two."""
    n = values.size
    below = np.count_nonzero(values < estimate) / n
    at_or_below = np.count_nonzero(values <= estimate) / n
    return float(max(0.0, below - q, q - at_or_below))


class HyperLogLog(BaseModel):
    """Distinct values of a column from their 64-bit hashes (`HLL_RELATIVE_ERROR`, module text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registers: bytes  # 2^precision one-byte registers

    @classmethod
    def of(cls, hashes: npt.NDArray[np.uint64], precision: int = HLL_PRECISION) -> HyperLogLog:
        size = 1 << precision
        registers = np.zeros(size, dtype=np.uint8)
        if hashes.size:
            hashes = np.asarray(hashes, dtype=np.uint64)
            index = (hashes >> np.uint64(64 - precision)).astype(np.intp)
            rest = hashes << np.uint64(precision)  # the remaining bits, at the top
            # Leading zeros from the top 53 bits (exact in a float64); below them they do not matter.
            # A float64's biased exponent is 1023 + its highest bit's place, so rho = 1076 - it
            # (an all-zero 0.0 has exponent 0: capped, as rho never exceeds 64 - precision + 1).
            top = (rest >> np.uint64(11)).astype(np.float64)
            rho = np.minimum(1076 - (top.view(np.int64) >> 52), 64 - precision + 1)
            np.maximum.at(registers, index, rho.astype(np.uint8))
        return cls(registers=registers.tobytes())

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        mine = np.frombuffer(self.registers, dtype=np.uint8)
        theirs = np.frombuffer(other.registers, dtype=np.uint8)
        return HyperLogLog(registers=np.maximum(mine, theirs).tobytes())

    def estimate(self) -> int:
        registers = np.frombuffer(self.registers, dtype=np.uint8)
        m = registers.size
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -registers.astype(np.int64))))
        zeros = int(np.count_nonzero(registers == 0))
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))
        return round(raw)
