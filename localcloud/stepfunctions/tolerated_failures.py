"""When a Map Run has failed too many items: `ToleratedFailureCount` / `ToleratedFailurePercentage`.

moto evaluates both fields and then ignores them: a Map whose children all failed succeeds. Step
Functions fails the Map Run with `States.ExceedToleratedFailureThreshold` when the failed (or timed
out) items exceed the count, or their share of all items exceeds the percentage; with both set,
exceeding either fails it; with neither set, one failed item fails it (both default to zero).
"""

from __future__ import annotations

from dataclasses import dataclass

EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"  # AWS's wording


@dataclass(frozen=True)
class FailureTolerance:
    """The tolerance of one Map Run: a field left out of the definition is `None`."""

    count: int | None
    percentage: float | None

    def exceeded(self, failed_items: int, total_items: int) -> bool:
        if self.count is None and self.percentage is None:
            return failed_items > 0
        if self.count is not None and failed_items > self.count:
            return True
        if self.percentage is not None and total_items > 0:
            return failed_items * 100.0 / total_items > self.percentage
        return False
