"""A training run as the command line follows it: started through the platform's one way to start a
run (`mlops.training.start`), followed state by state until it ends, and read back as what it did.
`mlops train`, `mlops smoke-test` and the demo all follow runs this way."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopsctl.target import Target

if TYPE_CHECKING:
    from mlops.training.start import ImportedFile, StartedRun


def start_run(
    target: Target,
    dataset: str,
    reason: str,
    dataset_version: str | None = None,
    *,
    imported: ImportedFile | None = None,
) -> StartedRun:
    """Start a new run of the training pipeline, named `train-<dataset>-<time>-<random>` (or
    `import-...` for a model trained elsewhere): each `mlops train` or `mlops models import` is a run
    of its own (a trigger that may fire twice passes a key instead)."""
    from mlops.training.start import TrainingRequest, run_id, start_training

    key = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return start_training(
        target.client("stepfunctions"),
        target.output("TrainingStateMachineArn"),
        TrainingRequest(dataset, reason, dataset_version, imported=imported),
        run_id("import" if imported else "train", dataset, key),
    )


def follow_training(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float | None = None,
    on_state: Callable[[str], None] | None = None,
    poll_seconds: float = 1.0,
) -> dict[str, Any] | None:
    """Poll the execution until it ends (its description), calling `on_state` with each state it
    enters (as `state_label` names it); None when it still runs after `timeout` s (None: no limit)."""
    seen = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in history[seen:]:
            entered = event.get("stateEnteredEventDetails")
            if entered and on_state is not None:
                on_state(state_label(entered))
        seen = len(history)
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(poll_seconds)
    return None


def state_label(entered: dict[str, Any]) -> str:
    """A state as a person follows a run: `Fit candidate: forest`, not four identical lines."""
    candidate = _candidate_name(entered.get("input"))
    return f"{entered['name']}: {candidate}" if candidate else str(entered["name"])


def _candidate_name(state_input: Any) -> str | None:
    """The candidate a Map iteration works on: its input is {"run": ..., "candidate": {"name": ...}}
    (or the Lambda payload wrapping it)."""
    try:
        document = json.loads(state_input) if isinstance(state_input, str) else state_input
    except ValueError:
        return None
    for holder in (document, document.get("Payload") if isinstance(document, dict) else None):
        candidate = holder.get("candidate") if isinstance(holder, dict) else None
        if isinstance(candidate, dict) and isinstance(candidate.get("name"), str):
            return str(candidate["name"])
    return None


def _quality_gates(target: Target, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's gate results (gates.json next to its artifacts); none when it stopped before the gates."""
    prefix = run.get("prefix")
    if not prefix:
        return []
    try:
        body = target.client("s3").get_object(Bucket=target.output("ArtifactsBucketName"), Key=f"{prefix}gates.json")
    except Exception:  # a run that failed before gating has no gates.json
        return []
    results = json.loads(body["Body"].read()).get("results", [])
    return [
        {"name": g.get("name"), "passed": bool(g.get("passed")), "detail": g.get("message") or g.get("detail")}
        for g in results
    ]


FAILURE_SUMMARY_CHARS = 200


@dataclass(frozen=True)
class FailedCandidate:
    """A candidate that failed while the run went on without it: the closing summary names it, since
    the states a person watched scroll by do not say which fits failed."""

    name: str
    estimator: str
    reason: str

    @property
    def line(self) -> str:
        """One line: the reason's first line, cut short (a Fargate task's reason carries 20 log lines)."""
        first = self.reason.strip().splitlines()[0] if self.reason.strip() else "no reason recorded"
        if len(first) > FAILURE_SUMMARY_CHARS:
            first = first[: FAILURE_SUMMARY_CHARS - 1] + "…"
        return f"Failed candidate: {self.name} ({self.estimator}): {first}"


def failed_candidates(run: dict[str, Any]) -> list[FailedCandidate]:
    """The run record's failed candidates, in the config's order."""
    return [
        FailedCandidate(str(c.get("name")), str(c.get("estimator") or "unknown"), str(c.get("error") or ""))
        for c in run.get("candidates") or []
        if c.get("status") == "failed"
    ]


def training_outcome(target: Target, execution: dict[str, Any], run_id: str) -> tuple[dict[str, Any], str]:
    """What a finished run did, from the registry's run record and the pipeline's output: (document, text)."""
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    run = table.get_item(Key={"pk": f"RUN#{run_id}", "sk": "META"}).get("Item", {})
    document = {
        "run_id": run_id,
        "execution_status": execution["status"],
        "run_status": run.get("status"),
        "model": run.get("model"),
        "version": int(run["version"]) if run.get("version") is not None else None,
        "failure_reason": run.get("failure_reason"),
    }
    failed = failed_candidates(run)
    document["failed_candidates"] = [{"name": f.name, "estimator": f.estimator, "reason": f.reason} for f in failed]
    failed_text = "".join(f"\n{f.line}" for f in failed)
    if failed:
        failed_text += f"\n(`mlops runs {run_id}` shows each candidate's whole reason)"
    if execution["status"] == "SUCCEEDED":
        output = json.loads(execution.get("output") or "{}")
        registration = output.get("registration", {})
        document.update({"status": registration.get("status"), "promoted": registration.get("promoted")})
        text = registration.get("message", f"run {run_id} succeeded") + failed_text
        gates = _quality_gates(target, run)
        document["quality_gates"] = gates
        text += "".join(f"\n  {'✓' if g['passed'] else '✗'} {g['detail']}" for g in gates)
    else:
        text = f"run {run_id} {execution['status']}: {run.get('failure_reason') or execution.get('cause', '')}"
        text += failed_text
    return document, text


def training_succeeded(document: dict[str, Any]) -> bool:
    """A run that ended and registered a version the gates did not reject."""
    return document["execution_status"] == "SUCCEEDED" and document.get("status") != "rejected"
