"""A training run over fakes, for the pipeline's step functions (training, parity, score champion):
a breast-cancer dataset version in a dict bucket, its training config, and registry fakes that
keep run records and the champion alias."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from mlops.buckets import ArtifactsBucket, CuratedBucket
from mlops.datasets.records import DatasetRecords, DatasetVersion
from mlops.datasets.versioning import Manifest, SourceObject, content_hash, npz_bytes
from mlops.names import dataset_version_prefix
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import ModelVersion
from mlops.training.run import TrainingServices
from tests.unit.handlers.support import Context, FakeS3
from tests.unit.training.support import sklearn_dataset

DATASET = "cancer"
RUN = "train-cancer-20261123T120000-abc123"
ARTIFACTS, CURATED = "artifacts", "curated"
CONFIG = {
    "dataset": DATASET,
    "problem_type": "binary",
    "label": "target",
    "candidates": [
        {"name": "logreg", "estimator": "logistic_regression"},
        {"name": "rf", "estimator": "random_forest", "params": {"n_estimators": 10, "max_depth": 4}},
    ],
}


@dataclass
class FakeDatasets:
    """The registry table's dataset versions."""

    versions: list[DatasetVersion] = field(default_factory=list)

    def get_dataset_version(self, dataset: str, version: str) -> DatasetVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def all_dataset_versions(self, dataset: str) -> list[DatasetVersion]:
        return list(self.versions)


@dataclass
class FakeModels:
    """The model registry's run records, versions and aliases."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    aliases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def start_run(self, run_id: str, attributes: dict[str, Any]) -> bool:
        self.runs[run_id] = dict(attributes)
        return True

    def update_run(self, run_id: str, changes: dict[str, Any]) -> None:
        self.runs[run_id].update(changes)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(run_id)

    def get_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        return self.aliases.get((name, alias))

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        return self.records.get((name, version))

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.get_version(name, version)
        return ModelVersion.from_item(item) if item else None


@dataclass
class TrainingRun:
    """What the pipeline's functions read and write."""

    s3: FakeS3
    datasets: FakeDatasets
    models: FakeModels
    version: str  # the dataset version

    @property
    def services(self) -> TrainingServices:
        return TrainingServices(
            artifacts=self.artifacts,
            curated=CuratedBucket(self.s3, CURATED),
            datasets=cast(DatasetRecords, self.datasets),
            models=cast(ModelRegistry, self.models),
        )

    @property
    def artifacts(self) -> ArtifactsBucket:
        return ArtifactsBucket(self.s3, ARTIFACTS)


def new_run() -> TrainingRun:
    """One accepted version of the breast-cancer data and its training config; no champion yet."""
    s3 = FakeS3()
    arrays, columns = sklearn_dataset("breast_cancer")
    version = content_hash(arrays)
    prefix = dataset_version_prefix(DATASET, version)
    manifest = Manifest(
        dataset=DATASET,
        version=version,
        rows=int(arrays["target"].shape[0]),
        columns=columns,
        label="target",
        content_hash=version,
        data_key=f"{prefix}data.npz",
        report_key=f"{prefix}report.json",
        source=SourceObject(bucket="raw", key=f"raw/{DATASET}/cancer.csv", size=1),
        contract_version=1,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    s3.put_object(Bucket=CURATED, Key=f"{prefix}data.npz", Body=npz_bytes(arrays))
    s3.put_object(Bucket=CURATED, Key=f"{prefix}manifest.json", Body=manifest.model_dump_json().encode())
    s3.put_object(Bucket=ARTIFACTS, Key=f"configs/{DATASET}.json", Body=json.dumps(CONFIG).encode())
    datasets = FakeDatasets(
        [
            DatasetVersion(
                dataset=DATASET,
                version=version,
                created_at="2026-11-23T00:00:00+00:00",
                manifest_key=f"{prefix}manifest.json",
                rows=manifest.rows,
            )
        ]
    )
    return TrainingRun(s3, datasets, FakeModels(), version)


def first_step(request: dict[str, Any]) -> dict[str, Any]:
    """The prepare step's event: the execution's input and name, as the state machine passes them."""
    return {"request": request, "execution_name": RUN, "execution_arn": f"arn:aws:states:::execution:training:{RUN}"}


def step(module: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """One step function invoked as Step Functions invokes it; its result as the next step gets it (JSON)."""
    result = getattr(module, name)(event, Context())
    answer: dict[str, Any] = json.loads(json.dumps(result))
    return answer


def exported(training: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """prepare, fit every candidate, evaluate and export, through the training module: the run
    payload, the evaluation and the export step's answer."""
    run = step(training, "prepare", first_step({"dataset": DATASET}))
    candidates = run.pop("candidates")
    fitted = [step(training, "fit_candidate", {"run": run, "candidate": c}) for c in candidates]
    evaluation = step(training, "evaluate", {"run": run, "candidates": fitted})
    return run, evaluation, step(training, "export", {"run": run})
