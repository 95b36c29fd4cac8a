"""The decision: an alarm's state from its datapoints, by AWS's M-out-of-N and missing-data rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# ComparisonOperator -> (does a value breach the threshold, how the alarm reason words it)
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation over the evaluation range (oldest slot first).

    `state` is None when the alarm keeps its current state; `evaluated` are the indices of the real
    datapoints evaluated; `filled` how many missing datapoints stood in, counted as breaching when
    TreatMissingData is `breaching`.
    """

    state: str | None
    evaluated: tuple[int, ...]
    breaching: int
    filled: int
    premature: bool = False


def decide(
    breaches: Sequence[bool | None],
    *,
    evaluation_periods: int,
    datapoints_to_alarm: int | None = None,
    treat_missing: str | None = "missing",
) -> Decision:
    """Alarm state from per-period breach flags (None = no datapoint), oldest first.

    Follows "How alarm state is evaluated when data is missing" in the CloudWatch guide:
    with at least N real datapoints in the range the newest N are evaluated and TreatMissingData
    does not matter; with none, `missing` gives INSUFFICIENT_DATA, `ignore` keeps the state,
    `breaching` ALARM and `notBreaching` OK; in between, missing datapoints fill up to N as the
    treatment says, and for `missing`/`ignore` the "premature alarm" rule applies: if every real
    datapoint breaches and the oldest is at least M periods old, the alarm goes to ALARM
    (`missing`) or keeps its state (`ignore`).
    """
    n = evaluation_periods
    m = datapoints_to_alarm or n
    treatment = treat_missing or "missing"
    real = [i for i, flag in enumerate(breaches) if flag is not None]
    if len(real) >= n:
        evaluated = tuple(real[-n:])
        count = sum(1 for i in evaluated if breaches[i])
        return Decision("ALARM" if count >= m else "OK", evaluated, count, 0)
    filled = n - len(real)
    real_breaching = sum(1 for i in real if breaches[i])
    if not real:
        state = {"missing": "INSUFFICIENT_DATA", "ignore": None, "breaching": "ALARM", "notBreaching": "OK"}.get(
            treatment, "INSUFFICIENT_DATA"
        )
        return Decision(state, (), filled if treatment == "breaching" else 0, filled)
    if treatment == "breaching":
        count = real_breaching + filled
        return Decision("ALARM" if count >= m else "OK", tuple(real), count, filled)
    if treatment == "notBreaching":
        return Decision("ALARM" if real_breaching >= m else "OK", tuple(real), real_breaching, filled)
    if real_breaching >= m:
        return Decision("ALARM", tuple(real), real_breaching, filled)
    oldest_age = len(breaches) - real[0]  # 1 = the newest period
    if real_breaching == len(real) and oldest_age >= m:
        return Decision("ALARM" if treatment == "missing" else None, tuple(real), real_breaching, filled, True)
    return Decision("OK", tuple(real), real_breaching, filled)
