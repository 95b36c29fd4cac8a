"""Training runs recorded on the registry table as the training pipeline records them: the run item
of its prepare, evaluate and register steps (mlops.training.run) and the version it registers, built
from the pipeline's own records (CandidateResult, GateReport, TrainingData, TrainedVersion)."""

from __future__ import annotations

from mlops.registry.models import ModelRegistry
from mlops.registry.numbers import to_dynamo
from mlops.registry.versions import TrainedVersion
from mlops.training.candidates import CandidateResult, SearchSummary, Trial
from mlops.training.data import TrainingData, VersionUsed
from mlops.training.gates import GateReport, GateResult

AT = "2026-12-05T10:00:00+00:00"
HASH_1, HASH_2 = "a" * 64, "b" * 64


def record_run(
    registry: ModelRegistry,
    run_id: str,
    *,
    dataset: str = "breast-cancer",
    depth: int = 4,
    auc: float = 0.99,
    versions: tuple[str, ...] = (HASH_1,),
    started: str = AT,
    gate_min: float = 0.95,
    failed: bool = False,
) -> None:
    """A run recorded as the pipeline's steps record it: prepare starts it, evaluate adds its
    candidates, register writes the version (the forest selected, its depth found by a grid search)."""
    data = TrainingData(
        dataset=dataset,
        policy="all",
        versions=[VersionUsed(version=v, created_at=AT, rows=569) for v in versions],
        rows=569 * len(versions),
        max_rows=1_000_000,
    )
    registry.start_run(
        run_id,
        {
            "dataset": dataset,
            "dataset_version": versions[-1],
            "training_data": to_dynamo(data.summary()),
            "model": dataset,
            "started_at": started,
            "reason": "test",
            "prefix": f"models/{dataset}/runs/{run_id}/",
            "code_version": "0.1.0",
            "rows": to_dynamo({"train": 341, "validation": 114, "test": 114}),
        },
    )
    forest = CandidateResult(
        name="forest",
        estimator="random_forest",
        status="succeeded",
        params={"n_estimators": 100, "max_depth": depth},
        best_params={"max_depth": depth},
        search=SearchSummary(kind="grid", scoring="roc_auc", trials=[Trial(params={"max_depth": depth}, score=auc)]),
        validation_metrics={"roc_auc": auc, "accuracy": 0.95},
        fit_seconds=0.4,
    )
    logistic = CandidateResult(
        name="logistic", estimator="logistic_regression", status="failed", error="ValueError: no convergence"
    )
    registry.update_run(run_id, {"candidates": to_dynamo([forest.to_json(), logistic.to_json()])})
    if failed:
        registry.update_run(run_id, {"status": "failed", "failure_reason": "ExportFailed: no converter"})
        return
    gates = GateReport(
        passed=auc >= gate_min,
        results=[GateResult(name="min roc_auc", passed=auc >= gate_min, observed=auc, threshold=gate_min, message="")],
    )
    trained = TrainedVersion(
        status="registered" if gates.passed else "rejected",
        metrics={"roc_auc": auc, "accuracy": 0.95, "log_loss": round(1 - auc, 4)},
        gates=gates.model_dump(mode="json"),
        params=forest.params,
        estimator=forest.estimator,
        dataset=dataset,
        dataset_version=versions[-1],
        training_data=data.summary(),
        tags={"selected_candidate": "forest"},
    )
    version = registry.register_version(dataset, trained.attributes(), run_id=run_id, at=AT)
    registry.update_run(
        run_id, {"status": "succeeded" if gates.passed else "rejected", "finished_at": AT, "version": version}
    )
