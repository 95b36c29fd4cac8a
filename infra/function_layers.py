"""Which layers each function carries, and its size budget: one table for the constructs and the size check."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

MIB: Final = 1024 * 1024
# Lambda's limit for a function's code plus all its layers, unzipped (262,144,000 bytes).
LAMBDA_UNZIPPED_LIMIT_BYTES: Final = 250 * MIB

LAYER_NAMES: Final = ("powertools", "inference", "data", "training")

_TRAINING: Final = ("training", "powertools")
FUNCTION_LAYERS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "ingest": ("data", "powertools"),
        # The validation state machine's steps (a partitioned upload): the ingestion's readers and checks.
        "validation_plan": ("data", "powertools"),
        "validation_read_slice": ("data", "powertools"),
        "validation_cut": ("data", "powertools"),
        "validation_check_part": ("data", "powertools"),
        "validation_bucket_repeats": ("data", "powertools"),
        "validation_reduce": ("data", "powertools"),
        "validation_record_failure": ("data", "powertools"),
        "prepare": _TRAINING,
        "fit_candidate": _TRAINING,
        "evaluate": _TRAINING,
        "export": _TRAINING,
        # Runs the exported ONNX model against scikit-learn's recorded answers: onnxruntime only, as
        # serving runs it (the training layer plus onnxruntime would pass Lambda's 250 MB).
        "parity": ("inference", "powertools"),
        # Runs the serving champion's ONNX model on the run's test rows, as serving would.
        "score_champion": ("inference", "powertools"),
        "gate": _TRAINING,
        "register": _TRAINING,
        # A Fargate fit's outcome, or its failure with the task's last log lines: no ML libraries.
        "fit_task_outcome": ("powertools",),
        # Records a failed run and notifies: no ML libraries.
        "record_failure": ("powertools",),
        "predict": ("inference", "powertools"),
        # Scores files with the same onnxruntime session code as predict, chunk by chunk.
        "batch_scoring": ("inference", "powertools"),
        # The batch scoring state machine's steps (a file scored in parts): the same reader and scoring.
        "batch_parts_plan": ("inference", "powertools"),
        "batch_parts_split": ("inference", "powertools"),
        "batch_parts_count": ("inference", "powertools"),
        "batch_parts_number": ("inference", "powertools"),
        "batch_parts_score": ("inference", "powertools"),
        "batch_parts_finish": ("inference", "powertools"),
        # drift needs numpy only, which the inference layer has; no pandas, no scipy.
        "drift": ("inference", "powertools"),
        # The join of labels with captured predictions, and the performance check: numpy only, as drift.
        "performance": ("inference", "powertools"),
        # Label files: read with the ingestion's readers (pandas, pyarrow), checked with numpy.
        "feedback": ("data", "powertools"),
        "registry_api": ("powertools",),
        "health": ("powertools",),
    }
)

# Tighter than Lambda's limit where cold start matters: predict serves synchronous HTTP requests.
FUNCTION_BUDGET_BYTES: Final[Mapping[str, int]] = MappingProxyType({"predict": 130 * MIB})


def layers_for(function: str) -> tuple[str, ...]:
    """Layer names for a function, failing loudly on a name the table does not know."""
    try:
        return FUNCTION_LAYERS[function]
    except KeyError:
        raise KeyError(f"unknown function {function!r}; known: {sorted(FUNCTION_LAYERS)}") from None


def budget_for(function: str) -> int:
    """Unzipped bytes a function (code + layers) may use."""
    layers_for(function)
    return min(FUNCTION_BUDGET_BYTES.get(function, LAMBDA_UNZIPPED_LIMIT_BYTES), LAMBDA_UNZIPPED_LIMIT_BYTES)
