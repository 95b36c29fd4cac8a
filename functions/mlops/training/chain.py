"""The whole training chain in one process, in the order (and through the same JSON and bytes
boundaries) the Step Functions pipeline runs it: prepare → fit each candidate → select → evaluate →
export ONNX → parity (the next-ranked candidate while it fails) → latency → quality gate → signature and report.

For tests, the local demo and anyone reading how the steps fit together; the Lambda handlers call
the same functions one step at a time. One step is left out: scoring the serving champion on the
run's test rows (there is no registry here); `champion_metrics` stands in for the champion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from mlops.datasets.versioning import ColumnSchema
from mlops.monitoring.profile import ReferenceProfile
from mlops.onnx_checks.parity import ParityAttempt, ParityReport, record_attempt
from mlops.onnx_checks.steps import check_onnx, measure_latency
from mlops.training.candidates import CandidateResult, fit_candidate, load_model, rank
from mlops.training.config import ParityConfig, TrainingConfig
from mlops.training.evaluation import Evaluation, evaluate
from mlops.training.gates import GateReport, gate_evaluation
from mlops.training.onnx_export import export_onnx, scikit_learn_outputs, sha256
from mlops.training.prepare import PreparedMeta, Splits, prepare
from mlops.training.report import training_report_html
from mlops.training.signature import ModelSignature, signature


def check_parity(
    model: Any, onnx_bytes: bytes, x: NDArray[Any], parity: ParityConfig, *, row_ids: Any = None
) -> ParityReport:
    """scikit-learn and ONNX on the same rows in one process; the deployed pipeline splits this into
    its export step (scikit-learn's answers) and its parity step (onnxruntime's)."""
    return check_onnx(scikit_learn_outputs(model, x, parity, row_ids=row_ids), onnx_bytes)


__all__ = ["TrainingRun", "check_parity", "measure_latency", "run_training"]


@dataclass(frozen=True)
class TrainingRun:
    meta: PreparedMeta
    profile: ReferenceProfile
    candidates: list[CandidateResult]
    selected: CandidateResult
    model_bytes: bytes
    evaluation: Evaluation
    onnx_bytes: bytes
    onnx_sha256: str
    parity: ParityReport
    parity_attempts: list[ParityAttempt]
    latency: dict[str, float]
    gates: GateReport
    signature: ModelSignature
    report_html: str

    @property
    def registrable(self) -> bool:
        """Parity and every quality gate passed: the model may be registered."""
        return self.parity.passed and self.gates.passed


def run_training(
    arrays: Mapping[str, NDArray[Any]],
    columns: Sequence[ColumnSchema | Mapping[str, Any]],
    config: TrainingConfig,
    *,
    champion_metrics: Mapping[str, float | None] | None = None,
    latency_repeats: int = 200,
) -> TrainingRun:
    prepared = prepare(arrays, columns, config)
    # Between steps only JSON and bytes travel, as through Step Functions and S3.
    meta = PreparedMeta.model_validate_json(prepared.meta.model_dump_json())
    splits = Splits.from_bytes(prepared.splits_bytes)

    stored: dict[str, bytes] = {}
    results: list[CandidateResult] = []
    for candidate in config.candidates:
        result = fit_candidate(candidate, Splits.from_bytes(prepared.splits_bytes), config)
        if result.model_bytes is not None:
            stored[result.name] = result.model_bytes
        results.append(CandidateResult.model_validate(result.to_json()))

    # Candidates best first, until one's ONNX export answers as its scikit-learn model does.
    attempts: list[ParityAttempt] = []
    for position, selected in enumerate(rank([r.to_json() for r in results], config.metric)):
        model = load_model(stored[selected.name], selected.model_sha256)
        evaluated = evaluate(
            model, splits, meta, selection_metric=config.metric, confidence=config.quality_gates.baseline_confidence
        )
        evaluation = Evaluation.model_validate_json(evaluated.model_dump_json())
        try:
            onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
        except Exception as error:  # as the export step: the next-ranked candidate may convert
            onnx_bytes = b""
            parity = ParityReport(
                kind="classification", rows=0, passed=False, checks=[], error=f"skl2onnx could not convert it: {error}"
            )
        else:
            parity = check_parity(model, onnx_bytes, splits.X_test, config.parity, row_ids=splits.rows_test)
        attempts = record_attempt(attempts, ParityAttempt.of(position + 1, selected.name, selected.estimator, parity))
        if parity.passed:
            break
    profile = prepared.profile.with_prediction(evaluation.prediction_distribution)
    latency = measure_latency(onnx_bytes, splits.X_test, rows=1, repeats=latency_repeats) if onnx_bytes else {}
    gates = gate_evaluation(evaluation, latency, config, champion_metrics)
    sig = signature(config, meta.feature_spec, splits.X_train, meta.classes)
    digest = sha256(onnx_bytes)
    html = training_report_html(
        config=config,
        meta=meta,
        candidates=results,
        selected=selected,
        evaluation=evaluation,
        parity=parity,
        gates=gates,
        onnx_sha256=digest,
        latency=latency,
        parity_attempts=attempts,
    )
    return TrainingRun(
        meta=meta,
        profile=profile,
        candidates=results,
        selected=selected,
        model_bytes=stored[selected.name],
        evaluation=evaluation,
        onnx_bytes=onnx_bytes,
        onnx_sha256=digest,
        parity=parity,
        parity_attempts=attempts,
        latency=latency,
        gates=gates,
        signature=sig,
        report_html=html,
    )
