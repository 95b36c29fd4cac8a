"""Export the selected scikit-learn model to ONNX (what serving runs), and record scikit-learn's
answers on the test split for the parity step (mlops.onnx_checks.steps) to compare.

One float32 input `features` of shape [None, n] (the FeatureSpec's encoded columns; float64 input
breaks tree ensembles in onnxruntime). Outputs: classifiers `label` (int64 class index, [None]) and
`probabilities` (float32 [None, k], no ZipMap); regressors `prediction` (float32 [None, 1]).
Opsets are pinned, and the graph name, producer and doc strings are fixed, so the same model gives
the same bytes (and sha256) on every run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import onnx
import skl2onnx
from numpy.typing import NDArray
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
from sklearn.base import is_classifier

from mlops.onnx_checks.parity import ParityInput, ParityLimits
from mlops.training.config import ParityConfig
from mlops.training.features import INPUT_NAME, LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITIES_OUTPUT

# ai.onnx 17 / ai.onnx.ml 3: what skl2onnx 1.20 needs for these estimators, run by every onnxruntime >= 1.14.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
GRAPH_NAME = "mlops_model"
PRODUCER = "serverless-mlops"

_convert_lock = threading.Lock()  # skl2onnx keeps global state; the HGB fix below patches a module


@contextmanager
def _tree_attribute_fix() -> Iterator[None]:
    """skl2onnx 1.20 writes HistGradientBoosting leaves' `nodes_missing_value_tracks_true` as a Python
    bool, which onnx 1.23 rejects in an ints attribute ("Expected an int, got a boolean"). Cast it to
    int for the duration of one conversion (under the lock); the graph is the one intended."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if flag is not None:
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _normalize(model: onnx.ModelProto, feature_names: Sequence[str], kind: str) -> None:
    """Remove whatever is not a function of the fitted model, and record the input's column names."""
    model.graph.name = GRAPH_NAME
    model.graph.doc_string = ""
    model.doc_string = ""
    model.producer_name = PRODUCER
    model.producer_version = f"skl2onnx {skl2onnx.__version__}"
    model.domain = ""
    model.model_version = 1
    for node in model.graph.node:
        node.doc_string = ""
    # skl2onnx collects opsets in a set: their order follows Python's per-process string hashing.
    opsets = sorted(((o.domain, o.version) for o in model.opset_import), key=lambda o: o[0])
    del model.opset_import[:]
    for domain, version in opsets:
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, version
    del model.metadata_props[:]
    for key, value in (
        ("feature_names", json.dumps(list(feature_names))),
        ("input", INPUT_NAME),
        ("kind", kind),
    ):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(model: Any, n_features: int, feature_names: Sequence[str]) -> bytes:
    """The fitted Pipeline as ONNX bytes; deterministic (same model, same bytes)."""
    if len(feature_names) != n_features:
        raise ValueError(f"{len(feature_names)} feature names for {n_features} features")
    classifier = bool(is_classifier(model))
    if classifier:
        n_classes = len(model.classes_)
        final_types: list[tuple[str, Any]] = [
            (LABEL_OUTPUT, Int64TensorType([None])),
            (PROBABILITIES_OUTPUT, FloatTensorType([None, n_classes])),
        ]
        options: dict[int, dict[str, Any]] | None = {id(model): {"zipmap": False}}
    else:
        final_types = [(PREDICTION_OUTPUT, FloatTensorType([None, 1]))]
        options = None
    with _convert_lock, _tree_attribute_fix():
        converted = to_onnx(
            model,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options=options,
            target_opset=TARGET_OPSET,
            final_types=final_types,
            name=GRAPH_NAME,
        )
    _normalize(converted, feature_names, "classifier" if classifier else "regressor")
    onnx.checker.check_model(converted)
    return bytes(converted.SerializeToString(deterministic=True))


def scikit_learn_outputs(model: Any, x: NDArray[Any], parity: ParityConfig, *, row_ids: Any = None) -> ParityInput:
    """scikit-learn's answers on float32 rows (as served), which the parity step compares with ONNX's."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    limits = ParityLimits.model_validate(parity.model_dump())
    if is_classifier(model):
        return ParityInput(
            kind="classification",
            x=x32,
            row_ids=row_ids,
            labels=np.asarray(model.predict(x32)).astype(np.int64),
            probabilities=np.asarray(model.predict_proba(x32), dtype=np.float64),
            limits=limits,
        )
    values = np.asarray(model.predict(x32), dtype=np.float64).reshape(-1)
    return ParityInput(kind="regression", x=x32, row_ids=row_ids, values=values, limits=limits)


def onnx_metadata(onnx_bytes: bytes) -> Mapping[str, str]:
    """The metadata `export_onnx` records (feature names, input name, kind)."""
    model = onnx.load_model_from_string(onnx_bytes)
    return {entry.key: entry.value for entry in model.metadata_props}
