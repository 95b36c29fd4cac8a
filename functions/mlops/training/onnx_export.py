"""Export the selected scikit-learn model to ONNX (what serving runs) and prove they agree.

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
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import onnx
import skl2onnx
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
from sklearn.base import is_classifier

from mlops.serving.session import inference_session
from mlops.training.config import ParityConfig
from mlops.training.features import INPUT_NAME, LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITIES_OUTPUT

# ai.onnx 17 / ai.onnx.ml 3: what skl2onnx 1.20 needs for these estimators, run by every onnxruntime >= 1.14.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
GRAPH_NAME = "mlops_model"
PRODUCER = "serverless-mlops"
WORST_ROWS = 5

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


class ParityCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    observed: float | None
    threshold: float
    passed: bool


class WorstRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="position in the checked matrix")
    row: int | None = Field(default=None, description="row number in the dataset version, when known")
    sklearn: Any = Field(description="regression: value; classification: {label, probabilities}")
    onnx: Any
    diff: float | None = Field(description="|Δ| (max over classes for probabilities); null if not comparable")


class ParityReport(BaseModel):
    """check_parity's JSON output."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["classification", "regression"]
    rows: int
    passed: bool
    checks: list[ParityCheck]
    max_abs_probability_diff: float | None = None
    label_agreement: float | None = None
    max_relative_diff: float | None = None
    max_abs_diff: float | None = None
    worst_rows: list[WorstRow] = Field(default_factory=list, description="largest differences first")
    error: str | None = None


def _finite_max(values: NDArray[Any]) -> float:
    return float(np.nan_to_num(values, nan=np.inf).max()) if values.size else 0.0


def _tied(
    proba: NDArray[np.float64], a: NDArray[np.int64], b: NDArray[np.int64], tolerance: float
) -> NDArray[np.bool_]:
    """Rows where classes `a` and `b` both hold the top probability (within `tolerance`)."""
    n, k = proba.shape if proba.ndim == 2 else (proba.shape[0], 0)
    if not n or not k:
        return np.zeros(n, dtype=bool)
    rows = np.arange(n)
    top = proba.max(axis=1)
    valid = (a >= 0) & (a < k) & (b >= 0) & (b < k)
    near_a = top - proba[rows, np.clip(a, 0, k - 1)] <= tolerance
    near_b = top - proba[rows, np.clip(b, 0, k - 1)] <= tolerance
    return np.asarray(valid & near_a & near_b, dtype=bool)


def check_parity(
    model: Any,
    onnx_bytes: bytes,
    x: NDArray[Any],
    parity: ParityConfig,
    *,
    row_ids: NDArray[np.int64] | None = None,
) -> ParityReport:
    """Run both models on the same float32 rows and compare: classification by max |Δprobability|
    and label agreement, regression by relative difference (to the row's value, or to the mean
    magnitude of predictions when the row's value is smaller, so values near 0 do not explode)."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    classifier = bool(is_classifier(model))
    kind: Literal["classification", "regression"] = "classification" if classifier else "regression"
    n = int(x32.shape[0])

    def row_id(i: int) -> int | None:
        return int(row_ids[i]) if row_ids is not None else None

    try:
        outputs = inference_session(onnx_bytes).run(None, {INPUT_NAME: x32})
    except Exception as exc:  # a model serving cannot load fails parity; it is not a crash
        return ParityReport(kind=kind, rows=n, passed=False, checks=[], error=f"{type(exc).__name__}: {exc}")

    if classifier:
        sk_proba = np.asarray(model.predict_proba(x32), dtype=np.float64)
        sk_label = np.asarray(model.predict(x32)).astype(np.int64)
        ox_label = np.asarray(outputs[0]).astype(np.int64).reshape(-1)
        ox_proba = np.asarray(outputs[1], dtype=np.float64)
        per_row = np.nan_to_num(np.abs(ox_proba - sk_proba), nan=np.inf).max(axis=1) if n else np.zeros(0)
        # A label flip between classes whose scikit-learn probabilities tie (within the probability
        # tolerance, e.g. an even tree vote) is an argmax tie-break, not a disagreement.
        mismatch = (ox_label != sk_label) & ~_tied(sk_proba, sk_label, ox_label, parity.max_abs_probability_diff)
        max_diff = _finite_max(per_row)
        agreement = float(1.0 - mismatch.mean()) if n else 1.0
        checks = [
            ParityCheck(
                name="max_abs_probability_diff",
                observed=max_diff,
                threshold=parity.max_abs_probability_diff,
                passed=max_diff <= parity.max_abs_probability_diff,
            ),
            ParityCheck(
                name="label_agreement",
                observed=agreement,
                threshold=parity.min_label_agreement,
                passed=agreement >= parity.min_label_agreement,
            ),
        ]
        order = np.lexsort((np.arange(n), -per_row, ~mismatch))[:WORST_ROWS]
        worst = [
            WorstRow(
                index=int(i),
                row=row_id(int(i)),
                sklearn={"label": int(sk_label[i]), "probabilities": [float(p) for p in sk_proba[i]]},
                onnx={"label": int(ox_label[i]), "probabilities": [float(p) for p in ox_proba[i]]},
                diff=float(per_row[i]),
            )
            for i in order
        ]
        return ParityReport(
            kind=kind,
            rows=n,
            passed=all(c.passed for c in checks),
            checks=checks,
            max_abs_probability_diff=max_diff,
            label_agreement=agreement,
            worst_rows=worst,
        )

    sk_value = np.asarray(model.predict(x32), dtype=np.float64).reshape(-1)
    ox_value = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
    absolute = np.nan_to_num(np.abs(ox_value - sk_value), nan=np.inf)
    scale = np.maximum(np.abs(sk_value), max(float(np.abs(sk_value).mean()) if n else 0.0, np.finfo(np.float64).tiny))
    relative = absolute / scale
    max_rel = _finite_max(relative)
    checks = [
        ParityCheck(
            name="max_relative_regression_diff",
            observed=max_rel,
            threshold=parity.max_relative_regression_diff,
            passed=max_rel <= parity.max_relative_regression_diff,
        )
    ]
    order = np.lexsort((np.arange(n), -relative))[:WORST_ROWS]
    worst = [
        WorstRow(
            index=int(i),
            row=row_id(int(i)),
            sklearn=float(sk_value[i]),
            onnx=float(ox_value[i]),
            diff=float(relative[i]),
        )
        for i in order
    ]
    return ParityReport(
        kind=kind,
        rows=n,
        passed=checks[0].passed,
        checks=checks,
        max_relative_diff=max_rel,
        max_abs_diff=_finite_max(absolute),
        worst_rows=worst,
    )


def measure_latency(
    onnx_bytes: bytes, x: NDArray[Any], rows: int = 1, *, repeats: int = 200, warmup: int = 20
) -> dict[str, float]:
    """Wall-clock latency of one `run` on `rows` rows in onnxruntime (one thread), as serving sees it:
    {rows, repeats, p50_ms, p99_ms, p50_ms_per_row, p99_ms_per_row}."""
    session = inference_session(onnx_bytes)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if x32.shape[0] == 0:
        raise ValueError("measure_latency needs at least one row")
    reps = max(1, -(-rows // x32.shape[0]))
    pool = np.ascontiguousarray(np.tile(x32, (reps + 1, 1)))
    batches = [pool[(i * rows) % x32.shape[0] :][:rows] for i in range(warmup + repeats)]
    timings = []
    for i, batch in enumerate(batches):
        started = time.perf_counter()
        session.run(None, {INPUT_NAME: batch})
        if i >= warmup:
            timings.append(time.perf_counter() - started)
    p50, p99 = (float(v) * 1000.0 for v in np.percentile(timings, [50, 99]))
    return {
        "rows": float(rows),
        "repeats": float(repeats),
        "p50_ms": p50,
        "p99_ms": p99,
        "p50_ms_per_row": p50 / rows,
        "p99_ms_per_row": p99 / rows,
    }


def onnx_metadata(onnx_bytes: bytes) -> Mapping[str, str]:
    """The metadata `export_onnx` records (feature names, input name, kind)."""
    model = onnx.load_model_from_string(onnx_bytes)
    return {entry.key: entry.value for entry in model.metadata_props}
