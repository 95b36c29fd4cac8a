"""The model's signature: what a prediction request must contain and what comes back. Stored in
the registry with the model; serving validates requests against it and encodes them with its
feature spec. numpy and pydantic only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mlops.datasets.versioning import ColumnSchema
from mlops.serving.date_parts import ISO_FORMAT
from mlops.training.config import ProblemType, TrainingConfig, is_classification
from mlops.training.features import (
    INPUT_NAME,
    LABEL_OUTPUT,
    PREDICTION_OUTPUT,
    PROBABILITIES_OUTPUT,
    CategoricalFeature,
    DatetimeFeature,
    FeatureSpec,
    NumericFeature,
)
from mlops.training.prepare import ClassValue

SIGNATURE_VERSION = 1


class InputField(BaseModel):
    """One request field (a dataset column)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str = Field(description="the column's type in the dataset manifest")
    kind: Literal["numeric", "categorical", "datetime"]
    format: str | None = Field(default=None, description="how to write the value (datetime)")
    min: float | None = Field(default=None, description="smallest value seen in training (numeric)")
    max: float | None = Field(default=None, description="largest value seen in training (numeric)")
    earliest: str | None = Field(default=None, description="first value seen in training (datetime; ISO 8601, UTC)")
    latest: str | None = Field(default=None, description="last value seen in training (datetime; ISO 8601, UTC)")
    impute: float | None = Field(default=None, description="value used when the field is missing (numeric)")
    categories: list[str] | None = Field(default=None, description="values with their own one-hot column (categorical)")
    nullable: bool = Field(default=True, description="whether null is accepted (the data contract's nullable flag)")
    allowed_min: float | None = Field(default=None, description="the data contract's minimum (numeric)")
    allowed_max: float | None = Field(default=None, description="the data contract's maximum (numeric)")
    allowed_values: list[str] | None = Field(default=None, description="the data contract's allowed values")


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    dtype: Literal["float32", "int64"]
    shape: list[int | None]


class ModelSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = SIGNATURE_VERSION
    problem_type: ProblemType
    label: str
    inputs: list[InputField]
    onnx_input: TensorSpec
    feature_names: list[str] = Field(description="the columns of the ONNX input, in order")
    outputs: list[TensorSpec]
    classes: list[ClassValue] | None = Field(default=None, description="the `label` output is an index into this list")
    feature_spec: FeatureSpec


def signature(
    config: TrainingConfig,
    feature_spec: FeatureSpec,
    x_train: NDArray[np.float32],
    classes: list[ClassValue] | None,
    columns: Sequence[ColumnSchema] = (),
) -> ModelSignature:
    """Inputs with their training ranges and the data contract's promises (from the dataset
    version's `columns`), the ONNX tensor names and shapes, and the classes."""
    promised = {c.name: c for c in columns}
    n = feature_spec.n_features
    if x_train.shape[1] != n:
        raise ValueError(f"x_train has {x_train.shape[1]} columns, the feature spec {n}")
    inputs: list[InputField] = []
    column = 0
    for feature in feature_spec.features:
        if isinstance(feature, NumericFeature):
            values = x_train[:, column].astype(np.float64)
            present = values.size > 0
            inputs.append(
                InputField(
                    name=feature.name,
                    type=feature.source_type,
                    kind="numeric",
                    min=float(values.min()) if present else None,
                    max=float(values.max()) if present else None,
                    impute=feature.impute,
                    **_promises(promised.get(feature.name)),
                )
            )
            column += 1
        elif isinstance(feature, DatetimeFeature):
            inputs.append(
                InputField(
                    name=feature.name,
                    type=feature.source_type,
                    kind="datetime",
                    format=ISO_FORMAT,
                    earliest=feature.earliest,
                    latest=feature.latest,
                    **_promises(promised.get(feature.name)),
                )
            )
            column += len(feature.parts)
        else:
            assert isinstance(feature, CategoricalFeature)
            inputs.append(
                InputField(
                    name=feature.name,
                    type=feature.source_type,
                    kind="categorical",
                    categories=feature.categories,
                    **_promises(promised.get(feature.name)),
                )
            )
            column += len(feature.categories) + int(feature.other)
    outputs: list[TensorSpec]
    if is_classification(config.problem_type):
        k = len(classes or [])
        outputs = [
            TensorSpec(name=LABEL_OUTPUT, dtype="int64", shape=[None]),
            TensorSpec(name=PROBABILITIES_OUTPUT, dtype="float32", shape=[None, k]),
        ]
    else:
        outputs = [TensorSpec(name=PREDICTION_OUTPUT, dtype="float32", shape=[None, 1])]
    return ModelSignature(
        problem_type=config.problem_type,
        label=config.label,
        inputs=inputs,
        onnx_input=TensorSpec(name=INPUT_NAME, dtype="float32", shape=[None, n]),
        feature_names=feature_spec.encoded_names,
        outputs=outputs,
        classes=classes,
        feature_spec=feature_spec,
    )


def _promises(column: ColumnSchema | None) -> dict[str, Any]:
    if column is None:
        return {}
    promises: dict[str, Any] = {"allowed_min": column.min, "allowed_max": column.max}
    if column.nullable is not None:
        promises["nullable"] = column.nullable
    if column.allowed_values is not None:
        promises["allowed_values"] = column.allowed_values
    return promises


def signature_json(sig: ModelSignature) -> dict[str, Any]:
    return sig.model_dump(mode="json")
