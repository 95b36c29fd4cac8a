"""The metrics a training config can name, which way each is better and the default selection
metric per problem type: plain data (and two questions asked of it), so the CLI can resolve a run's
metric without loading the training package (numpy, pydantic) on a command that only prints a table."""

from __future__ import annotations

from typing import Literal

ProblemType = Literal["binary", "multiclass", "regression"]
MetricName = Literal["roc_auc", "f1_macro", "accuracy", "log_loss", "brier", "rmse", "mae", "r2"]
SelectionMetric = Literal["roc_auc", "f1_macro", "accuracy", "log_loss", "rmse", "mae", "r2"]
Direction = Literal["max", "min"]
CLASSIFICATION: tuple[ProblemType, ...] = ("binary", "multiclass")

# Which way is better, and for which problem types a metric is defined.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "roc_auc": "max",
    "f1_macro": "max",
    "accuracy": "max",
    "log_loss": "min",
    "brier": "min",
    "rmse": "min",
    "mae": "min",
    "r2": "max",
}
METRIC_PROBLEM_TYPES: dict[str, tuple[ProblemType, ...]] = {
    "roc_auc": CLASSIFICATION,
    "f1_macro": CLASSIFICATION,
    "accuracy": CLASSIFICATION,
    "log_loss": CLASSIFICATION,
    "brier": ("binary",),
    "rmse": ("regression",),
    "mae": ("regression",),
    "r2": ("regression",),
}
DEFAULT_SELECTION_METRIC: dict[ProblemType, SelectionMetric] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "rmse",
}


def is_classification(problem_type: ProblemType) -> bool:
    return problem_type in CLASSIFICATION


def higher_is_better(metric: str) -> bool:
    return METRIC_DIRECTIONS[metric] == "max"
