"""The one shape every benchmark reports in, so `make bench` can write one table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure and, where an issue names one, its baseline from the same run.

    `ratio` is baseline / value for times and memory (higher is better: "3x faster"), or as stated
    in `ratio_meaning`; `target` is the issue's goal in the same terms as `ratio` (or `value`).
    """

    benchmark: str
    figure: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    ratio_meaning: str = "baseline / value"
    target: str | None = None
    met: bool | None = None
    data: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def speedup(
    benchmark: str,
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: str,
    baseline_value: float,
    target_ratio: float | None = None,
    data: str = "",
) -> Figure:
    """A time (or memory) figure with its baseline; met when baseline / value reaches the target ratio."""
    ratio = baseline_value / value if value > 0 else float("inf")
    return Figure(
        benchmark=benchmark,
        figure=figure,
        value=value,
        unit=unit,
        baseline=baseline,
        baseline_value=baseline_value,
        ratio=ratio,
        target=f">= {target_ratio:g}x" if target_ratio is not None else None,
        met=ratio >= target_ratio if target_ratio is not None else None,
        data=data,
    )
