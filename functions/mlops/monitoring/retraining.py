"""When drift, a performance drop (or a schedule) may start a retraining run: at most one per
cooldown, a few a day, whichever check asks.

The decision reads the dataset's recent training runs from the registry, so it holds across drift
invocations and containers; the run is named by the model and the hour (`retrain-<model>-<hour>`,
mlops.training.start.run_id), so two checks racing in the same hour start one run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops.datasets.records import DatasetRecords
from mlops.registry.versions import ModelVersion
from mlops.training.start import run_id

# Reasons of the runs monitoring starts by itself: the cooldown and the daily cap count these.
AUTOMATIC_PREFIXES = ("drift:", "performance:", "schedule:")


@dataclass(frozen=True)
class RetrainingPolicy:
    """The model config's `retraining` section (stored with each version at registration)."""

    cooldown_hours: float = 24.0
    max_runs_per_day: int = 1
    on_drift: bool = True
    every_days: float | None = None
    on_performance_drop: bool = True

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
            on_performance_drop=bool(section.get("on_performance_drop", True)),
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
    dataset_drift: bool = False,
    drifted_features: Sequence[str] = (),
    runs: Sequence[Mapping[str, Any]],
    now: datetime,
    no_new_data: str | None = None,
    performance_drop: str | None = None,
) -> RetrainingDecision:
    """Whether to start a run now, given the dataset's recent runs (any order). `no_new_data` says why
    a run would train on what the champion was trained on: it would only reproduce the same model.
    `performance_drop` is what a performance check found past its floor (the check, the metric, the
    versions assessed, the feedback upload): the run's reason is `performance: ` and that text."""
    if policy is None:
        return RetrainingDecision(False, "the model's config has no retraining section")
    automatic = [(t, r) for r in runs if (t := _started(r)) and str(r.get("reason", "")).startswith(AUTOMATIC_PREFIXES)]
    every = [t for r in runs if (t := _started(r))]
    trigger: str | None = None
    if dataset_drift and policy.on_drift:
        listed = ", ".join(drifted_features[:5]) + (" …" if len(drifted_features) > 5 else "")
        trigger = f"drift: dataset drift in {len(drifted_features)} features ({listed})"
    elif performance_drop is not None and policy.on_performance_drop:
        trigger = f"performance: {performance_drop}"
    elif policy.every_days is not None:
        last = max(every, default=None)
        if last is None or now - last >= timedelta(days=policy.every_days):
            trigger = f"schedule: no training run for {policy.every_days:g} days"
    if trigger is None:
        if performance_drop is not None:
            return RetrainingDecision(False, "retraining on a performance drop is off")
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


def no_new_data(datasets: DatasetRecords, dataset: str, version: int, record: ModelVersion) -> str | None:
    """Why retraining now would only reproduce the champion: the newest dataset version its run used
    is still the newest accepted one. None when there is newer data, or nothing to compare."""
    used = (record.training_data or {}).get("versions") or []
    trained_on = str(used[-1].get("version") if used else record.dataset_version or "")
    latest = datasets.latest_dataset_version(dataset)
    if not trained_on or latest is None or latest.version != trained_on:
        return None
    return (
        f"no new data since v{version} was trained (dataset version {trained_on[:12]} is still the newest): "
        f"upload labelled data to raw/{dataset}/"
    )
