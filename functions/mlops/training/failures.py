"""A failed training run: recorded with its reason, and announced.

Apart from mlops.training.run on purpose: the function that runs it carries no ML libraries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlops.names import CHAMPION
from mlops.registry.models import ModelRegistry


def record_failure_step(
    state: dict[str, Any], execution_name: str, models: ModelRegistry, notify: Callable[[str, str], None], now: datetime
) -> dict[str, Any]:
    """Any failure path: the run is marked failed with its reason, and people are told."""
    error = state.get("error") or {}
    reason = str(error.get("Cause") or error.get("Error") or "unknown failure")
    kind = str(error.get("Error") or "Error")
    try:  # the cause of a Lambda error is the handler's JSON error payload
        cause = json.loads(reason)
        reason = f"{cause.get('errorType', kind)}: {cause.get('errorMessage', reason)}"
    except (json.JSONDecodeError, AttributeError):
        pass
    run = state.get("run") or {}
    request = state if "dataset" in state else state.get("request", {})
    run_id = str(run.get("run_id") or execution_name)
    dataset = str(run.get("dataset") or request.get("dataset") or "unknown")
    existing = models.get_run(run_id)
    if existing is None:
        models.start_run(
            run_id,
            {"dataset": dataset, "started_at": now.isoformat(), "reason": str(request.get("reason") or "requested")},
        )
    registered = _registered_before_failing(models, existing)
    models.update_run(
        run_id,
        {
            "status": "failed",
            "error": kind,
            "failure_reason": reason[:2000],
            "finished_at": now.isoformat(),
            **({"registered_before_failure": registered} if registered else {}),
        },
    )
    notify(
        f"Training failed for dataset {dataset}"[:100],
        f"Training run {run_id} for dataset {dataset} failed.\n"
        + (reason if reason.startswith(f"{kind}:") else f"{kind}: {reason}")
        + (f"\n{registered}" if registered else ""),
    )
    return {"run_id": run_id, "status": "failed", "reason": reason}


def _registered_before_failing(models: ModelRegistry, run: dict[str, Any] | None) -> str:
    """A run that failed after its registration wrote: say what the registry now holds, so nobody
    reads "failed" as "nothing changed"."""
    if not run or run.get("registered_version") is None or not run.get("model"):
        return ""
    model, version = str(run["model"]), int(run["registered_version"])
    record = models.model_version(model, version)
    champion = models.get_alias(model, CHAMPION)
    is_champion = champion is not None and int(champion["version"]) == version
    return (
        f"Before failing, the run registered {model} version {version} ({record.status if record else 'unknown'})"
        + ("; it is the champion" if is_champion else "; it is not the champion")
        + f": see `mlops models show {model}`."
    )
