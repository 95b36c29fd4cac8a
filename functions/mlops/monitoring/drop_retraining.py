"""What a performance drop starts: the labelled rows written back as training data (when the config's
`monitoring.performance.feedback.on_drop` asks), and a retraining run under the same `retraining`
cooldown and daily cap as drift, whose reason names the check, the metric, the versions assessed
and the feedback upload.

The run must train on the feedback rows, but they become a dataset version only when the ingest
function has checked the upload against the contract, which happens after this returns. So when a
feedback upload is written, the run is not started here: it is recorded with the upload (on the
registry table, before the upload lands) and the ingest function starts it once it accepts the file,
adding the dataset version to the reason. A rejected file starts nothing (retraining on the data the
champion already learnt from would only reproduce it; the quarantine mail says what to fix). When
no upload is written (too few new labels), the run starts here if there is newer data than the
champion's, as a drift check's would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops.monitoring.feedback_dataset import (
    FeedbackOutcome,
    FeedbackServices,
    FeedbackSource,
    plan_feedback,
    write_feedback,
)
from mlops.monitoring.retraining import RetrainingDecision, RetrainingPolicy, decide_retraining
from mlops.registry.feedback_exports import RequestedRun
from mlops.training.start import StartedRun, TrainingRequest


@dataclass(frozen=True)
class PerformanceDrop:
    """What a performance check found past its floor: enough to say why a run started."""

    model: str
    dataset: str  # the dataset the model trains on (the version record's)
    check: str  # the check's id, as its record on the registry table names it (its time)
    metric: str
    value: float
    floor: float
    window_start: datetime
    window_end: datetime
    versions: tuple[int, ...]  # the versions whose labelled answers were assessed
    labels: int  # labelled rows the metric was computed on

    def describe(self) -> str:
        versions = ", ".join(f"v{v}" for v in self.versions) or "none"
        return (
            f"{self.metric} {self.value:.4g} past its floor {self.floor:g} over "
            f"{_minute(self.window_start)} to {_minute(self.window_end)} ({self.labels} labels; {versions}; "
            f"check {self.check})"
        )

    def cause(self) -> dict[str, str]:
        return {
            "trigger": "performance",
            "check": self.check,
            "metric": self.metric,
            "value": f"{self.value:.6g}",
            "floor": f"{self.floor:g}",
            "versions": ",".join(str(v) for v in self.versions),
        }


def _minute(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


@dataclass
class DropServices:
    feedback: FeedbackServices
    # mlops.training.start.start_training on the stack's pipeline; None back: this stack trains nothing.
    start_training: Callable[[TrainingRequest, str], StartedRun | None]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class DropRetraining:
    """What a drop led to: the retraining decision, the feedback upload (None: the config writes
    none on a drop), and the run, either requested from the upload's acceptance or started now."""

    decision: RetrainingDecision
    feedback: FeedbackOutcome | None = None
    requested: RequestedRun | None = None
    started: StartedRun | None = None

    @property
    def summary(self) -> str:
        """One line for the check's record and mail."""
        if self.requested is not None and self.feedback is not None:
            return f"retraining {self.requested.run_id} starts when {self.feedback.key} is accepted"
        if self.started is not None:
            again = " (already started)" if self.started.already_started else ""
            return f"retraining started: {self.started.run_id}{again}"
        return f"no retraining: {self.decision.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "reason": self.decision.reason,
            "feedback": self.feedback.as_dict() if self.feedback is not None else None,
            "run_id": self.requested.run_id if self.requested else self.started.run_id if self.started else None,
            "execution_arn": self.started.execution_arn if self.started is not None else None,
        }


def retrain_on_drop(
    services: DropServices,
    drop: PerformanceDrop,
    *,
    policy: RetrainingPolicy | None,
    runs: Sequence[Mapping[str, Any]],
    no_new_data: str | None,
    source: FeedbackSource | None,
) -> DropRetraining:
    """Write the feedback upload (if `source` is given and its config's `on_drop`) and start or
    request the retraining run the policy allows. `runs` are the dataset's recent training runs;
    `no_new_data` why a run now would see only the champion's data (mlops.monitoring.retraining.
    no_new_data), which a feedback upload overrides."""
    plan = None
    if source is not None and source.config.on_drop:
        plan = plan_feedback(source, services.feedback.exports.watermark(drop.model))
    ready = plan is not None and plan.ready
    found = drop.describe()
    if plan is not None and plan.ready:
        found += f"; feedback {plan.key} ({plan.rows.size} rows)"
    decision = decide_retraining(
        model=drop.model,
        policy=policy,
        runs=runs,
        now=services.now(),
        no_new_data=None if ready else no_new_data,
        performance_drop=found,
    )
    requested = started = None
    if decision.start and decision.execution_name:
        cause = drop.cause()
        if plan is not None and plan.ready and plan.key is not None:
            requested = RequestedRun(decision.execution_name, decision.reason, {**cause, "feedback_key": plan.key})
        else:
            request = TrainingRequest(drop.dataset, decision.reason, cause=cause)
            started = services.start_training(request, decision.execution_name)
    feedback = write_feedback(services.feedback, plan, retraining=requested) if plan is not None else None
    return DropRetraining(decision, feedback, requested, started)
