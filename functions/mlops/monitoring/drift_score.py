"""Each feature's drift on one scale, whatever test or distance judged it: 1 is the drift line.

The drift function logs it per feature (`feature_scores` in its `drift check` entry), so features
read side by side and one threshold means the same for all of them; not a metric per feature, which
would cost $0.30 a month each. Standard library only.
"""

from __future__ import annotations

import math
from typing import Protocol


class JudgedFeature(Protocol):
    """What a drift check found for one feature (a drift report's feature entry)."""

    @property
    def test(self) -> str | None: ...  # None: one side had no values, so nothing was compared

    @property
    def statistic(self) -> float: ...

    @property
    def threshold(self) -> float: ...  # tests: the p-value level; distances: the distance threshold

    @property
    def p_value(self) -> float | None: ...  # tests only


def drift_score(feature: JudgedFeature) -> float:
    """Distances: distance / threshold. Tests: log(p) / log(level), which is 1 when p equals the level
    and grows as p shrinks (a chi-square value is not comparable across features; its p-value is)."""
    if feature.test is None:
        return 0.0
    if feature.p_value is not None:
        p = max(feature.p_value, 1e-300)
        return math.log(p) / math.log(feature.threshold) if 0 < feature.threshold < 1 else 0.0
    return feature.statistic / feature.threshold if feature.threshold > 0 else 0.0
