"""The scheduled join of labels with captured predictions (issue #19, item 2): for each model whose
champion's config has `monitoring.performance`, join the hours of predictions whose labels changed,
touching nothing else, and name the joined hours of the model's window for its performance check.

The hours joined are those whose label folder got an object received after the model's watermark
(`mlops.registry.label_joins`), and those joined while their capture could still be landing (before
the hour's end plus the capture lag), again on each run until it cannot. Hours past the horizon are
never joined again: their unlabelled predictions age out. A joined hour is derived data, written
only when its content changed, so a rerun writes nothing; one join of a model runs at a time.

AWS is reached only through `ArtifactsBucket` and the registry's data access, so the whole flow
runs in tests against moto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlops.buckets import ArtifactsBucket
from mlops.monitoring.checks import MonitoringPolicy
from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.join import Capture, join_hour, same_content
from mlops.monitoring.joined import JoinedHour, joined_key, joined_npz, read_joined
from mlops.monitoring.label_store import LabelBatch, hour_of, predictions_hour, read_labels, received_at
from mlops.names import CAPTURE_PREFIX, CHAMPION, JOINED_PREFIX, LABELS_PREFIX
from mlops.registry.label_joins import JoinState, LabelJoins
from mlops.registry.models import ModelRegistry
from mlops.serving.capture import read_capture, written_at

HOUR = timedelta(hours=1)
# An hour's capture batches are written up to this long after it ends: a batch waits in a container
# up to serving.capture_max_age_seconds (at most an hour) before its next request writes it.
DEFAULT_CAPTURE_LAG = timedelta(hours=2)
# A label object lands this long after its received time at most (the intake writes it then).
DEFAULT_SETTLE = timedelta(minutes=5)


@dataclass
class JoinServices:
    artifacts: ArtifactsBucket
    joins: LabelJoins
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Who joins (the invocation's request id) and how long a join may hold a model (the function's
    # timeout, so a join that died frees the model by the next schedule).
    owner: str = "label-join"
    lease: timedelta = timedelta(minutes=16)
    capture_lag: timedelta = DEFAULT_CAPTURE_LAG
    settle: timedelta = DEFAULT_SETTLE


@dataclass(frozen=True)
class JoinOutcome:
    model: str
    status: str  # joined | up_to_date | skipped | failed
    detail: str
    hours: tuple[datetime, ...] = ()  # the hours joined (their objects written or found unchanged)
    written: int = 0  # joined objects written (the others' content had not changed)
    labels_read: int = 0  # label rows read, superseded ones included
    matched: int = 0  # captured rows labelled (a shadow's row of a labelled request too)
    unmatched: int = 0  # labels about no captured row of their hour
    superseded: int = 0  # labels a later label for the same row replaced
    watermark: datetime | None = None
    open_hours: tuple[datetime, ...] = ()  # joined again on the next run
    failures: Mapping[str, str] = field(default_factory=dict)  # hour -> why its join failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "detail": self.detail,
            "hours": [h.isoformat() for h in self.hours],
            "written": self.written,
            "labels_read": self.labels_read,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "superseded": self.superseded,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "open_hours": [h.isoformat() for h in self.open_hours],
            "failures": dict(self.failures),
        }


def join_model(services: JoinServices, model: str, config: PerformanceConfig, *, rejoin: bool = False) -> JoinOutcome:
    """Join the hours of `model` with new labels (every labelled hour in the horizon with `rejoin`)."""
    now = services.now()
    claim = services.joins.claim_label_join(model, owner=services.owner, now=now, lease=services.lease)
    if claim.state is None:
        return JoinOutcome(model, "skipped", f"another join holds this model ({claim.held_by})")
    committed = False
    try:
        outcome = _join_claimed(services, model, config, claim.state, now, rejoin)
        committed = services.joins.commit_label_join(
            model,
            owner=services.owner,
            now=services.now(),
            watermark=outcome.watermark,
            open_hours=outcome.open_hours,
            summary={k: v for k, v in outcome.as_dict().items() if k not in ("model", "hours", "open_hours")},
        )
        if not committed:
            return replace(outcome, detail=f"{outcome.detail}; its lease ran out: the next run joins these hours again")
        return outcome
    finally:
        if not committed:
            services.joins.release_label_join(model, owner=services.owner, now=services.now())


def _join_claimed(
    services: JoinServices, model: str, config: PerformanceConfig, state: JoinState, now: datetime, rejoin: bool
) -> JoinOutcome:
    first = hour_of(now - timedelta(days=config.horizon_days))  # older hours are never joined again
    objects = label_objects(services.artifacts, model, first, hour_of(now))
    fresh = {
        hour
        for hour, found in objects.items()
        if rejoin or state.watermark is None or any(at > state.watermark for at, _ in found)
    }
    hours = sorted(fresh | {h for h in state.open_hours if h in objects})
    watermark = state.watermark
    newest = max((at for found in objects.values() for at, _ in found), default=None)
    if newest is not None:
        # An object received just now may land after one received a moment earlier, still in
        # flight: up to `settle` ago, the listing is complete; anything newer is read again next run.
        seen = min(newest, now - services.settle)
        watermark = seen if watermark is None else max(watermark, seen)
    capture = _CaptureReader(services.artifacts, model)
    stored = _JoinedStore(services.artifacts, model)
    joined: list[JoinedHour] = []
    failures: dict[str, str] = {}
    written = 0
    for hour in hours:
        try:
            labels = [_read_labels(services.artifacts, key) for _, key in objects[hour]]
            result = join_hour(
                model, hour, labels, capture.batches(hour, hour + HOUR + services.capture_lag), joined_at=now
            )
            written += stored.write(result)
            joined.append(result)
        except Exception as error:  # the other hours are joined; this one is tried again next run
            failures[hour.isoformat()] = f"{type(error).__name__}: {error}"
    # Joined before its capture could all have landed: joined again until it has.
    landing = {h for h in hours if now < h + HOUR + services.capture_lag + services.settle}
    failed = {h for h in hours if h.isoformat() in failures}
    outcome = JoinOutcome(
        model=model,
        status="failed" if failures else "joined" if hours else "up_to_date",
        detail="",
        hours=tuple(j.hour for j in joined),
        written=written,
        labels_read=sum(j.label_rows for j in joined),
        matched=sum(j.size for j in joined),
        unmatched=sum(j.unmatched_labels for j in joined),
        superseded=sum(j.superseded_labels for j in joined),
        watermark=watermark,
        open_hours=tuple(sorted(landing | failed)),
        failures=failures,
    )
    return replace(outcome, detail=_detail(outcome, len(objects)))


def _detail(outcome: JoinOutcome, labelled_hours: int) -> str:
    if not outcome.hours and not outcome.failures:
        return f"no new labels ({labelled_hours} labelled hours in the horizon)"
    text = (
        f"{len(outcome.hours)} hours joined ({outcome.written} changed): {outcome.labels_read} labels read, "
        f"{outcome.matched} predictions labelled, {outcome.unmatched} labels unmatched, "
        f"{outcome.superseded} superseded"
    )
    if outcome.failures:
        text += "; failed: " + "; ".join(f"{hour}: {why}" for hour, why in outcome.failures.items())
    return text


def _read_labels(artifacts: ArtifactsBucket, key: str) -> LabelBatch:
    try:
        return read_labels(artifacts.get(key))
    except Exception as error:  # not an npz, not a label object's arrays or meta: named, with its key
        raise ValueError(
            f"s3://{artifacts.name}/{key} is not a label object ({type(error).__name__}: {error})"
        ) from None


def _days(first: datetime, last: datetime) -> list[date]:
    days, day = [], first.date()
    while day <= last.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def label_objects(
    artifacts: ArtifactsBucket, model: str, first: datetime, last: datetime
) -> dict[datetime, list[tuple[datetime, str]]]:
    """The label objects of each hour from `first` to `last` (received time and key, in key order),
    one listing per day."""
    found: dict[datetime, list[tuple[datetime, str]]] = {}
    for day in _days(first, last):
        for key in sorted(artifacts.keys(f"{LABELS_PREFIX}{model}/date={day:%Y-%m-%d}/")):
            hour, at = predictions_hour(key), received_at(key)
            if hour is not None and at is not None and first <= hour <= last:
                found.setdefault(hour, []).append((at, key))
    return found


class _CaptureReader:
    """Capture batches by write time, for hours joined in ascending order: each version's day is
    listed once and each batch read once, and batches older than the hour being joined are let go."""

    def __init__(self, artifacts: ArtifactsBucket, model: str) -> None:
        self._artifacts = artifacts
        self._model = model
        self._versions: list[str] | None = None
        self._listed: dict[tuple[str, date], list[tuple[datetime, str]]] = {}
        self._read: dict[str, Capture] = {}

    def batches(self, start: datetime, end: datetime) -> list[Capture]:
        """Every version's batches written from `start` to `end`, in write order."""
        if self._versions is None:  # version=<v>/ folders: every version that ever captured
            self._versions = self._artifacts.folders(f"{CAPTURE_PREFIX}{self._model}/")
        found: list[tuple[datetime, str]] = []
        for folder in self._versions:
            for day in _days(start, end):
                if (folder, day) not in self._listed:
                    keys = self._artifacts.keys(f"{folder}date={day:%Y-%m-%d}/")
                    self._listed[(folder, day)] = [(at, k) for k in keys if (at := written_at(k)) is not None]
                found += [(at, k) for at, k in self._listed[(folder, day)] if start <= at <= end]
        for key in [k for k in self._read if (written_at(k) or start) < start]:
            del self._read[key]
        batches = []
        for _, key in sorted(found):
            if key not in self._read:
                self._read[key] = read_capture(self._artifacts.get(key))
            batches.append(self._read[key])
        return batches


class _JoinedStore:
    """The model's joined objects: each day listed once, an hour rewritten only when it changed."""

    def __init__(self, artifacts: ArtifactsBucket, model: str) -> None:
        self._artifacts = artifacts
        self._model = model
        self._days: dict[date, set[str]] = {}

    def write(self, joined: JoinedHour) -> int:
        """1 when written, 0 when the stored object already held the same rows and counts."""
        key = joined_key(self._model, joined.hour)
        day = joined.hour.date()
        if day not in self._days:
            self._days[day] = set(self._artifacts.keys(f"{JOINED_PREFIX}{self._model}/date={day:%Y-%m-%d}/"))
        if key in self._days[day] and same_content(read_joined(self._artifacts.get(key)), joined):
            return 0
        self._artifacts.put(key, joined_npz(joined), "application/octet-stream")
        self._days[day].add(key)
        return 1


def joined_window(artifacts: ArtifactsBucket, model: str, start: datetime, end: datetime) -> list[str]:
    """The joined hours with predictions between `start` and `end` (their keys, oldest first): what a
    performance check of that window reads."""
    keys: list[str] = []
    for day in _days(hour_of(start), end):
        for key in sorted(artifacts.keys(f"{JOINED_PREFIX}{model}/date={day:%Y-%m-%d}/")):
            hour = predictions_hour(key)
            if hour is not None and hour + HOUR > start and hour < end:
                keys.append(key)
    return keys


# -- every model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelJoin:
    """One model's join, and where its performance check starts: the champion whose config asked
    for it, that config, and the joined hours of its window (keys, oldest first)."""

    outcome: JoinOutcome
    version: int | None = None
    config: PerformanceConfig | None = None
    window: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**self.outcome.as_dict(), "version": self.version, "window": list(self.window)}


def run_joins(
    registry: ModelRegistry, services: JoinServices, *, models: list[str] | None, rejoin: bool = False
) -> list[ModelJoin]:
    """Join every model with a champion whose config has `monitoring.performance` (or the named
    ones); one model's failure does not stop the others."""
    if models is None:
        models = []
        token = None
        while True:
            page, token = registry.list_models(limit=100, next_token=token)
            models += [str(m["model"]) for m in page]
            if not token:
                break
    joins: list[ModelJoin] = []
    for model in models:
        try:
            joins.append(_run_join(registry, services, model, rejoin))
        except Exception as error:  # reported, and the handler fails the invocation after the others ran
            joins.append(ModelJoin(JoinOutcome(model, "failed", f"{type(error).__name__}: {error}")))
    return joins


def _run_join(registry: ModelRegistry, services: JoinServices, model: str, rejoin: bool) -> ModelJoin:
    aliases = registry.aliases(model)
    if CHAMPION not in aliases:
        return ModelJoin(JoinOutcome(model, "skipped", "no champion to monitor"))
    version = int(aliases[CHAMPION]["version"])
    record = registry.model_version(model, version)
    config = MonitoringPolicy.from_record(record.monitoring if record else None).performance
    if config is None:
        return ModelJoin(JoinOutcome(model, "skipped", f"v{version}'s config has no monitoring.performance"), version)
    outcome = join_model(services, model, config, rejoin=rejoin)
    now = services.now()
    window = joined_window(services.artifacts, model, now - timedelta(hours=config.window_hours), now)
    return ModelJoin(outcome, version, config, tuple(window))
