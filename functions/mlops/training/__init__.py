"""The pure training core (no AWS): config, prepare, fit and select candidates, evaluate, ONNX
export and parity, quality gates, signature and report; the pipeline's steps as Step Functions runs
them (`run`), the whole chain in one process (`chain`) and starting a run (`start`).
Each pipeline step is one function whose inputs and outputs are JSON-able models or bytes.
`prepare` and `signature` are both modules and functions: import those two functions from their modules.

Every public name loads on first use, so importing one light module of this package (the metric
names the CLI resolves) loads nothing heavy. A function whose layers lack scikit-learn must not
import this package at all: the layer check follows every import `_load` can make (a failed run's
record lives in mlops.registry for that reason). Serving (mlops.serving) and drift (mlops.monitoring) import
none of it; the ONNX checks that run on the inference layer live in mlops.onnx_checks.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "QuantileSketch": "mlops.monitoring.profile",
    "ReferenceProfile": "mlops.monitoring.profile",
    "ks_statistic": "mlops.monitoring.profile",
    "METRIC_DIRECTIONS": "config",
    "Candidate": "config",
    "ConfigError": "config",
    "ParityConfig": "config",
    "QualityGates": "config",
    "TrainingConfig": "config",
    "config_from_dict": "config",
    "default_config": "config",
    "higher_is_better": "config",
    "load_training_config": "config",
    "FeatureSpec": "features",
    "encode_arrays": "features",
    "encode_records": "features",
    "GateReport": "gates",
    "GateResult": "gates",
    "evaluate_gates": "gates",
    "gate_evaluation": "gates",
    "Prepared": "prepare",
    "PreparedMeta": "prepare",
    "Splits": "prepare",
    "split_rows": "prepare",
    "ModelSignature": "signature",
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
    "ParityReport": "mlops.onnx_checks.parity",
    "training_report_html": "report",
}

if TYPE_CHECKING:
    from mlops.monitoring.profile import QuantileSketch, ReferenceProfile, ks_statistic
    from mlops.onnx_checks.parity import ParityReport
    from mlops.training.candidates import CandidateResult, SelectionError, fit_candidate, load_model, rank, select
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
    from mlops.training.evaluation import Evaluation, compute_metrics, evaluate
    from mlops.training.features import FeatureSpec, encode_arrays, encode_records
    from mlops.training.gates import GateReport, GateResult, evaluate_gates, gate_evaluation
    from mlops.training.onnx_export import export_onnx, scikit_learn_outputs, sha256
    from mlops.training.prepare import Prepared, PreparedMeta, Splits, split_rows
    from mlops.training.report import training_report_html
    from mlops.training.signature import ModelSignature

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
    "rank",
    "scikit_learn_outputs",
    "select",
    "sha256",
    "split_rows",
    "training_report_html",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_load(module), name)
    globals()[name] = value
    return value


def _load(module: str) -> ModuleType:
    """Each module by an explicit import, not a computed name: the import check of every function's
    layers (tests/infra/lambda_imports.py) then sees exactly what a name can load."""
    if module == "candidates":
        from mlops.training import candidates

        return candidates
    if module == "config":
        from mlops.training import config

        return config
    if module == "evaluation":
        from mlops.training import evaluation

        return evaluation
    if module == "features":
        from mlops.training import features

        return features
    if module == "gates":
        from mlops.training import gates

        return gates
    if module == "onnx_export":
        from mlops.training import onnx_export

        return onnx_export
    if module == "prepare":
        from mlops.training import prepare

        return prepare
    if module == "report":
        from mlops.training import report

        return report
    if module == "signature":
        from mlops.training import signature

        return signature
    if module == "mlops.monitoring.profile":
        from mlops.monitoring import profile

        return profile
    if module == "mlops.onnx_checks.parity":
        from mlops.onnx_checks import parity

        return parity
    raise AssertionError(module)


def __dir__() -> list[str]:
    return list(__all__)
