"""The model version record: an item in the shape the register step has always written reads as a
typed record and writes back unchanged, older and hand-made items still read, and a registration
through the typed record stores that same shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion, TrainedVersion

AT = "2026-11-23T12:00:00+00:00"
PREFIX = "models/churn/runs/run-7/"
# A version item exactly as the register step stores it (numbers as boto3 reads them back).
STORED: dict[str, Any] = {
    "pk": "MODEL#churn",
    "sk": "VERSION#000000003",
    "kind": "model_version",
    "model": "churn",
    "version": Decimal("3"),
    "run_id": "run-7",
    "created_at": AT,
    "gsi1pk": "MODEL#churn#STATUS#registered",
    "gsi1sk": "VERSION#000000003",
    "status": "registered",
    "metrics": {"roc_auc": Decimal("0.9871"), "log_loss": Decimal("0.1203"), "brier": None},
    "gates": {"passed": True, "results": [{"name": "roc_auc", "passed": True, "message": "0.99 >= 0.9"}]},
    "parity": {
        "passed": True,
        "max_abs_probability_diff": Decimal("3.1E-7"),
        "label_agreement": Decimal("1"),
        "max_relative_diff": None,
        "candidates_tried": [{"rank": Decimal("1"), "candidate": "logreg", "estimator": "lr", "passed": True}],
    },
    "latency_ms": {"p50": Decimal("0.021"), "p99": Decimal("0.09")},
    "params": {"C": Decimal("1"), "max_iter": Decimal("1000")},
    "estimator": "logistic_regression",
    "artifacts": {
        "model.onnx": {"key": f"{PREFIX}model.onnx", "sha256": "ab" * 32},
        "signature.json": {"key": f"{PREFIX}signature.json", "sha256": None},
    },
    "onnx_sha256": "ab" * 32,
    "signature_key": f"{PREFIX}signature.json",
    "serving": {"out_of_range": "reject", "unseen_category": "warn", "capture_sample_rate": Decimal("0.1")},
    "retraining": None,
    "monitoring": {"every_hours": Decimal("24"), "drift": {"min_rows": Decimal("200")}},
    "profile_key": f"{PREFIX}profile.json",
    "dataset": "churn",
    "dataset_version": "9f2c" * 16,
    "training_data": {"policy": "latest", "versions": [{"version": "9f2c" * 16, "rows": Decimal("569")}]},
    "code_version": "0.9.0",
    "code_asset_hash": "7d" * 32,
    "config_key": "configs/churn.yaml",
    "config_sha256": "c0" * 32,
    "split_rows": {"train": Decimal("341"), "validation": Decimal("114"), "test": Decimal("114")},
    "parent_version": Decimal("2"),
    "tags": {"selected_candidate": "logreg"},
    "reason": "drift: dataset drift in 3 features (a, b, c)",
    "trigger": "drift",
    "feature_importance": {
        "metric": "roc_auc",
        "rows": Decimal("114"),
        "repeats": Decimal("5"),
        "seed": Decimal("42"),
        "features": [{"feature": "mean_radius", "mean": Decimal("0.031"), "std": Decimal("0.004")}],
    },
    "origin": "trained",
    "imported_file": None,
}


def test_an_item_in_todays_shape_reads_as_a_typed_record() -> None:
    record = ModelVersion.from_item(STORED)
    assert (record.model, record.version, record.status, record.run_id) == ("churn", 3, "registered", "run-7")
    assert isinstance(record.version, int) and record.parent_version == 2
    assert record.metrics == {"roc_auc": 0.9871, "log_loss": 0.1203, "brier": None}
    assert record.params == {"C": 1, "max_iter": 1000} and isinstance(record.params["max_iter"], int)
    assert record.artifacts["model.onnx"]["key"] == f"{PREFIX}model.onnx"
    assert record.serving["capture_sample_rate"] == 0.1 and record.retraining is None
    assert record.monitoring == {"every_hours": 24, "drift": {"min_rows": 200}}
    assert record.training_data is not None and record.training_data["versions"][0]["rows"] == 569
    assert record.tags == {"selected_candidate": "logreg"} and record.extra == {}
    assert not any(isinstance(v, Decimal) for v in record.metrics.values()), "numbers converted in one place"


def test_an_item_in_todays_shape_writes_back_unchanged() -> None:
    assert ModelVersion.from_item(STORED).to_item() == STORED


def test_what_a_person_changed_later_reads_and_writes_back() -> None:
    approved = {**STORED, "updated_at": "2026-11-24T09:00:00+00:00", "notes": "kept as stored"}
    record = ModelVersion.from_item(approved)
    assert record.updated_at == "2026-11-24T09:00:00+00:00" and record.extra == {"notes": "kept as stored"}
    assert record.to_item() == approved


def test_a_version_from_before_serving_and_monitoring_sections_still_reads() -> None:
    older = {k: v for k, v in STORED.items() if k not in ("serving", "monitoring", "training_data", "latency_ms")}
    record = ModelVersion.from_item(older)
    assert record.serving == {} and record.monitoring is None and record.training_data is None
    assert record.latency_ms == {} and record.dataset_version == "9f2c" * 16


def test_tags_stored_before_they_were_checked_never_fail_a_read() -> None:
    assert ModelVersion.from_item({**STORED, "tags": {"": "x", "team": "fraud"}}).tags == {"team": "fraud"}
    assert ModelVersion.from_item({**STORED, "tags": "not-a-map"}).tags == {}


def test_a_registration_through_the_typed_record_stores_todays_shape(registry_table: Any) -> None:
    """What the register step writes: a TrainedVersion's attributes, numbered by the registry."""
    registry = ModelRegistry(registry_table)
    registry.start_run("run-7", {"dataset": "churn", "started_at": AT})
    for run in ("run-5", "run-6"):  # versions 1 and 2 first
        registry.start_run(run, {"dataset": "churn", "started_at": AT})
        registry.register_version("churn", {"status": "registered"}, run_id=run, at=AT)
    plain = ModelVersion.from_item(STORED)
    trained = TrainedVersion(**{name: getattr(plain, name) for name in TrainedVersion.__dataclass_fields__})
    assert registry.register_version("churn", trained.attributes(), run_id="run-7", at=AT) == 3
    assert registry.get_version("churn", 3) == STORED
    assert registry.model_version("churn", 3) == plain
    assert registry.model_version("churn", 4) is None
