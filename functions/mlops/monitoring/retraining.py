"""When drift (or a schedule) may start a retraining run: at most one per cooldown, a few a day.

The decision reads the dataset's recent training runs from the registry, so it holds across drift
invocations and containers; the run is named by the model and the hour (`retrain-<model>-<hour>`,
mlops.training.start.run_id), so two checks racing in the same hour start one run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops.training.start import run_id

AUTOMATIC_PREFIXES = ("drift:", "schedule:")


@dataclass(frozen=True)
class RetrainingPolicy:
    """The model config's `retraining` section (stored with each version at registration)."""

    cooldown_hours: float = 24.0
    max_runs_per_day: int = 1
    on_drift: bool = True
    every_days: float | None = None

    @classmethod
    def from_record(cls, section: Mapping[str, Any] | None) -> RetrainingPolicy | None:
        """None when the config has no `retraining` section: drift is reported, nothing retrains."""
        if not section:
            return None
        every = section.get("every_days")
        return cls(
            cooldown_hours=float(section.get("cooldown_hours", 24.0)),
            max_runs_per_day=int(section.get("max_runs_per_day", 1)),
            on_drift=bool(section.get("on_drift", True)),
            every_days=float(every) if every is not None else None,
        )


@dataclass(frozen=True)
class RetrainingDecision:
    start: bool
    reason: str  # why it starts, or why not (recorded with the drift result either way)
    execution_name: str | None = None


def _started(run: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(run["started_at"]))
    except (KeyError, ValueError):
        return None


def decide_retraining(
    *,
    model: str,
    policy: RetrainingPolicy | None,
    dataset_drift: bool,
    drifted_features: Sequence[str],
    runs: Sequence[Mapping[str, Any]],
    now: datetime,
    no_new_data: str | None = None,
) -> RetrainingDecision:
    """Whether to start a run now, given the dataset's recent runs (any order). `no_new_data` says why
    a run would train on what the champion was trained on: it would only reproduce the same model."""
    if policy is None:
        return RetrainingDecision(False, "the model's config has no retraining section")
    automatic = [(t, r) for r in runs if (t := _started(r)) and str(r.get("reason", "")).startswith(AUTOMATIC_PREFIXES)]
    every = [t for r in runs if (t := _started(r))]
    trigger: str | None = None
    if dataset_drift and policy.on_drift:
        listed = ", ".join(drifted_features[:5]) + (" …" if len(drifted_features) > 5 else "")
        trigger = f"drift: dataset drift in {len(drifted_features)} features ({listed})"
    elif policy.every_days is not None:
        last = max(every, default=None)
        if last is None or now - last >= timedelta(days=policy.every_days):
            trigger = f"schedule: no training run for {policy.every_days:g} days"
    if trigger is None:
        return RetrainingDecision(False, "no dataset drift" if not dataset_drift else "retraining on drift is off")
    last_automatic = max((t for t, _ in automatic), default=None)
    if last_automatic is not None and now - last_automatic < timedelta(hours=policy.cooldown_hours):
        return RetrainingDecision(
            False,
            f"cooldown: the last automatic run started {last_automatic.isoformat()} ({policy.cooldown_hours:g} h)",
        )
    today = [t for t, _ in automatic if now - t < timedelta(days=1)]
    if len(today) >= policy.max_runs_per_day:
        return RetrainingDecision(False, f"daily cap: {len(today)} automatic runs in the last 24 h")
    if no_new_data is not None:
        return RetrainingDecision(False, no_new_data)
    return RetrainingDecision(True, trigger, run_id("retrain", model, f"{now:%Y%m%dT%H}"))
