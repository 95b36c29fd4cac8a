"""Registered versions for the serving tests, made by the training core exactly as the pipeline makes
them: prepare, fit, export ONNX, write the signature; the registry record (as the table holds it) and
artifacts are plain dicts (the serving core reads them through a function, not through AWS)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.contracts.loading import load_contract
from mlops.datasets.upload_outcome import column_promises
from mlops.datasets.versioning import NULL_MASK_PREFIX, ColumnSchema
from mlops.registry.versions import ModelVersion
from mlops.serving.date_parts import iso_text
from mlops.training.candidates import fit_candidate, load_model
from mlops.training.explain_export import explanation_artifact
from mlops.training.onnx_export import export_onnx
from mlops.training.prepare import Prepared, prepare
from mlops.training.search_space import Candidate
from mlops.training.signature import signature, signature_json
from tests.unit.training.support import mixed_dataset, sklearn_dataset, small_config, stored


@dataclass(frozen=True)
class Registered:
    """One trained version: its registry record, its artifacts by key, and what made it."""

    record: dict[str, Any]
    artifacts: dict[str, bytes]
    model: Any  # the scikit-learn pipeline (the reference the ONNX answers must match)
    prepared: Prepared
    arrays: dict[str, NDArray[Any]]

    @property
    def model_version(self) -> ModelVersion:
        """The record as serving reads it from the registry."""
        return ModelVersion.from_item(self.record)

    def records(self, rows: NDArray[np.int64]) -> list[dict[str, Any]]:
        """Dataset rows as JSON prediction records (null where the stored value is missing)."""
        names = self.prepared.meta.feature_spec.columns
        out: list[dict[str, Any]] = []
        for row in rows:
            record: dict[str, Any] = {}
            for name in names:
                value = self.arrays[name][row]
                mask = self.arrays.get(f"{NULL_MASK_PREFIX}{name}")
                if value.dtype.kind == "M":  # a date travels as ISO text, as a client sends it
                    record[name] = None if np.isnat(value) else iso_text(value)
                    continue
                missing = bool(mask[row]) if mask is not None else value.dtype.kind == "f" and bool(np.isnan(value))
                record[name] = None if missing else value.item()
            out.append(record)
        return out


def _register(
    name: str,
    arrays: dict[str, NDArray[Any]],
    columns: list[ColumnSchema],
    config: Any,
    candidate: Candidate,
    version: int,
    serving: dict[str, Any] | None = None,
) -> Registered:
    prepared = prepare(arrays, columns, config)
    result = fit_candidate(candidate, prepared.splits, config)
    assert result.status == "succeeded" and result.model_bytes is not None, result.error
    model = load_model(result.model_bytes)
    splits = prepared.splits
    onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
    sig = signature(config, prepared.meta.feature_spec, splits.X_train, prepared.meta.classes, columns)
    prefix = f"models/{name}/runs/r{version}/"
    explanation = explanation_artifact(model, prepared.meta.feature_spec, splits.X_train, result.model_sha256)
    artifacts = {
        f"{prefix}model.onnx": onnx_bytes,
        f"{prefix}signature.json": json.dumps(signature_json(sig)).encode(),
        f"{prefix}explanation.npz": explanation,
    }
    record = {
        "model": name,
        "version": version,
        "status": "registered",
        "estimator": candidate.estimator,
        "artifacts": {
            "model.onnx": {"key": f"{prefix}model.onnx"},
            "explanation.npz": {"key": f"{prefix}explanation.npz", "sha256": hashlib.sha256(explanation).hexdigest()},
        },
        "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "signature_key": f"{prefix}signature.json",
        "serving": serving or {},
    }
    return Registered(record, artifacts, model, prepared, arrays)


@cache
def breast_cancer(version: int = 1) -> Registered:
    """Logistic regression on breast cancer; the contract bounds each feature by its observed range."""
    arrays, columns = sklearn_dataset("breast_cancer")
    bounded = [
        c.model_copy(update={"nullable": False, "min": 0.0, "max": float(arrays[c.name].max()) * 2})
        if c.name != "target"
        else c
        for c in columns
    ]
    config = small_config("binary")
    candidate = config.candidates[0] if version == 1 else config.candidates[1]
    return _register("breast-cancer", arrays, bounded, config, candidate, version)


@cache
def churn(unseen_category: str = "reject") -> Registered:
    """Numbers with gaps, a bool and a string with a contract's allowed values: every input kind."""
    arrays, columns = mixed_dataset()
    promised = [
        c.model_copy(update={"nullable": True, "allowed_values": ["Lyon", "Oslo", "Porto", "Quito", "Zanzibar"]})
        if c.name == "city"
        else c.model_copy(update={"nullable": True, "min": 0.0})
        if c.name == "age"
        else c
        for c in columns
    ]
    config = small_config(
        "binary", label="outcome", segment_column="region", encoding={"max_categories": 3}, exclude=["seen"]
    )  # dates are served in tests/unit/serving/test_date_parts.py
    return _register(
        "churn",
        arrays,
        promised,
        config,
        config.candidates[0],
        1,
        serving={"unseen_category": unseen_category, "out_of_range": "reject"},
    )


TICKETS_CONTRACT = """
dataset: tickets
version: 1
label: outcome
columns:
  - {name: support_tickets, type: int, nullable: true, allowed_values: [0, 1, 2, 3]}
  - {name: monthly_charges, type: float, min: 0}
  - {name: tenure_months, type: int, min: 0}
  - {name: outcome, type: string}
"""


@cache
def tickets(out_of_range: str = "reject", unseen_category: str = "reject") -> Registered:
    """An int column with the contract's allowed values (as a drafted contract lists them for a
    low-cardinality integer column), an int column with a minimum only and a float: the promises
    travel from the contract through the dataset version's columns into the signature."""
    contract = load_contract(TICKETS_CONTRACT, source="tickets.yaml")
    rng = np.random.RandomState(11)
    rows = 300
    support_tickets = rng.randint(0, 4, rows).astype(np.int64)
    monthly_charges = rng.uniform(10, 120, rows)
    tenure_months = rng.randint(0, 72, rows).astype(np.int64)
    score = 0.8 * support_tickets - 0.03 * tenure_months + rng.normal(0, 0.5, rows)
    outcome = np.where(score > 0.5, "churn", "stay").astype(str)
    arrays: dict[str, NDArray[Any]] = {
        "support_tickets": support_tickets,
        "monthly_charges": monthly_charges,
        "tenure_months": tenure_months,
        "outcome": outcome,
    }
    columns = [
        ColumnSchema(
            name=spec.name,
            type=spec.type.value,
            dtype=arrays[spec.name].dtype.str,
            **{k: v for k, v in column_promises(spec).items() if k != "unique"},
        )
        for spec in contract.columns
    ]
    config = small_config("binary", label="outcome")
    return _register(
        "tickets",
        stored(arrays),
        columns,
        config,
        config.candidates[0],
        1,
        serving={"out_of_range": out_of_range, "unseen_category": unseen_category},
    )


@cache
def diabetes() -> Registered:
    arrays, columns = sklearn_dataset("diabetes")
    config = small_config("regression")
    return _register("diabetes", arrays, columns, config, config.candidates[1], 1)


def create_prediction_keys_table(client: Any, name: str) -> None:
    """The prediction keys table as the stack creates it (infra/constructs/tables.py: pk/sk strings)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
