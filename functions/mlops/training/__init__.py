"""The pure training core (no AWS): config, prepare, fit and select candidates, evaluate, ONNX
export and parity, quality gates, signature and report. Each pipeline step is one function whose
inputs and outputs are JSON-able models or bytes.

The light parts (config, feature recipe, prepare, gates, signature: numpy and pydantic
only) are imported here; the parts that need scikit-learn, skl2onnx or onnxruntime load on first
use. Serving (mlops.serving) and drift (mlops.monitoring) import none of it: PyYAML and the rest
of the training layer are not in their layers. Nothing here imports onnxruntime, which is not in
the training layer: the parity step (mlops.onnx_check) runs ONNX on the inference layer, and
mlops.training_chain runs the whole chain in one process for tests and benchmarks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlops.monitoring.profile import QuantileSketch, ReferenceProfile, ks_statistic
from mlops.training.config import (
    METRIC_DIRECTIONS,
    Candidate,
    ConfigError,
    ParityConfig,
    QualityGates,
    TrainingConfig,
    config_from_dict,
    default_config,
    higher_is_better,
    load_training_config,
)
from mlops.training.features import FeatureSpec, encode_arrays, encode_records
from mlops.training.gates import GateReport, GateResult, evaluate_gates, gate_evaluation
from mlops.training.prepare import Prepared, PreparedMeta, Splits, prepare, split_rows
from mlops.training.signature import ModelSignature, signature

# Loaded on first access: these import scikit-learn, skl2onnx or onnxruntime.
_LAZY: dict[str, str] = {
    "fit_candidate": "candidates",
    "select": "candidates",
    "rank": "candidates",
    "load_model": "candidates",
    "CandidateResult": "candidates",
    "SelectionError": "candidates",
    "evaluate": "evaluation",
    "compute_metrics": "evaluation",
    "Evaluation": "evaluation",
    "export_onnx": "onnx_export",
    "scikit_learn_outputs": "onnx_export",
    "sha256": "onnx_export",
    "ParityReport": "mlops.onnx_parity",
    "training_report_html": "report",
}

if TYPE_CHECKING:
    from mlops.onnx_parity import ParityReport
    from mlops.training.candidates import CandidateResult, SelectionError, fit_candidate, load_model, rank, select
    from mlops.training.evaluation import Evaluation, compute_metrics, evaluate
    from mlops.training.onnx_export import export_onnx, scikit_learn_outputs, sha256
    from mlops.training.report import training_report_html

__all__ = [
    "METRIC_DIRECTIONS",
    "Candidate",
    "CandidateResult",
    "ConfigError",
    "Evaluation",
    "FeatureSpec",
    "GateReport",
    "GateResult",
    "ModelSignature",
    "ParityConfig",
    "ParityReport",
    "Prepared",
    "PreparedMeta",
    "QualityGates",
    "QuantileSketch",
    "ReferenceProfile",
    "SelectionError",
    "Splits",
    "TrainingConfig",
    "compute_metrics",
    "config_from_dict",
    "default_config",
    "encode_arrays",
    "encode_records",
    "evaluate",
    "evaluate_gates",
    "export_onnx",
    "fit_candidate",
    "gate_evaluation",
    "higher_is_better",
    "ks_statistic",
    "load_model",
    "load_training_config",
    "prepare",
    "rank",
    "scikit_learn_outputs",
    "select",
    "sha256",
    "signature",
    "split_rows",
    "training_report_html",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
