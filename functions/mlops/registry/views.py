"""How registry records are shown to people and programs: plain JSON, and the model card."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mlops.registry.keys import KEY_ATTRIBUTES
from mlops.registry.limits import readable_tags
from mlops.registry.numbers import plain_number

_INTERNAL_KEYS = {*KEY_ATTRIBUTES, "kind"}


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, and the table's key attributes left out."""
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k not in _INTERNAL_KEYS}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def model_card(version: dict[str, Any]) -> dict[str, Any]:
    """The facts a reviewer needs about one version, assembled from its record (never stored twice)."""
    record = plain(version)
    gates = record.get("gates") or {}
    data = record.get("training_data") or {}
    return {
        "model": record.get("model"),
        "version": record.get("version"),
        "status": record.get("status"),
        "created_at": record.get("created_at"),
        "estimator": record.get("estimator"),
        # The chosen hyperparameters: the selected candidate's fixed parameters with the best its search found.
        "chosen_candidate": readable_tags(record.get("tags")).get("selected_candidate"),
        "parameters": record.get("params", {}),
        "training_data": {"dataset": record.get("dataset"), "dataset_version": record.get("dataset_version")},
        "lineage": {
            "training_run": record.get("run_id"),
            "code_version": record.get("code_version"),
            "code_asset_hash": record.get("code_asset_hash"),  # CDK's hash of the code that trained it
            "trigger": record.get("trigger"),  # manual, new_data, schedule, drift, performance
            "config": {"key": record.get("config_key"), "sha256": record.get("config_sha256")},
            # Trained here, or imported (`mlops models import`: the file's name and sha256). Versions
            # registered before imports existed were all trained here.
            "origin": record.get("origin") or "trained",
            "imported_file": record.get("imported_file"),
            "compared_with_champion": record.get("parent_version"),
            # Which dataset versions the run combined: rows each held, and those dropped as already
            # in an older one. Absent for versions trained before runs recorded it (one version each).
            "data_policy": data.get("policy"),
            "dataset_versions": [
                {key: v.get(key) for key in ("version", "rows", "duplicates")} for v in data.get("versions", [])
            ],
            "skipped_dataset_versions": [
                {key: v.get(key) for key in ("version", "rows", "reason")} for v in data.get("skipped", [])
            ],
        },
        "evaluation": record.get("metrics", {}),
        "quality_gates": [
            {"gate": g.get("name"), "passed": g.get("passed"), "detail": g.get("message")}
            for g in gates.get("results", [])
        ],
        "feature_importance": importance_card(record.get("feature_importance")),
        "onnx_parity": record.get("parity", {}),
        "latency_ms": record.get("latency_ms", {}),
        "artifacts": record.get("artifacts", {}),
        "tags": record.get("tags", {}),
    }


TOP_FEATURES = 10  # fields a model card lists; the version record holds every one


def importance_card(importance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The most important input fields (permutation importance on the test split) and how the
    figure was bounded; None for a version registered before it was measured."""
    if not isinstance(importance, Mapping):
        return None
    features = list(importance.get("features") or [])
    return {
        "metric": importance.get("metric"),
        "bound": f"{importance.get('rows')} test rows x {importance.get('repeats')} shuffles per field",
        "top": [{k: f.get(k) for k in ("feature", "mean", "std")} for f in features[:TOP_FEATURES]],
        "fields": len(features),
    }


def audit_state(value: Mapping[str, Any] | None) -> str:
    """An audit event's before/after as `v2 registered`, not a dict."""
    if not value:
        return "-"
    if "serving" in value and "version" not in value:  # a deployed serving policy
        serving = value["serving"] or {}
        fields = ("out_of_range", "unseen_category", "capture_sample_rate")
        return " ".join(f"{k}={serving[k]}" for k in fields if serving.get(k) is not None) or "(each version's own)"
    parts = [f"v{value['version']}" if value.get("version") is not None else "(none)"]
    parts += [str(value[k]) for k in ("status",) if value.get(k)]
    if "tags" in value:
        parts.append(f"tags {value['tags']}")
    return " ".join(parts)


def ordered_metrics(metrics: Mapping[str, Any], selection_metric: str | None) -> list[str]:
    """The selection metric first, then the rest by name: the same order on every page and line."""
    rest = sorted(k for k in metrics if k != selection_metric)
    return [selection_metric, *rest] if selection_metric is not None and selection_metric in metrics else rest
