"""What `"explain": true` costs a predict request, per shipped estimator.

The platform's default binary config (`bench_training.platform_config`: logistic regression, random
forest with its grid, histogram gradient boosting, gradient boosting) fitted on `make_classification`
(10,000 x 20 full, 2,000 quick), each exported as the export step exports it (model.onnx and
explanation.npz) and served by the serving core (`mlops.serving.predict.answer`, capture off) from
in-memory artifacts. A 100-row request (the explain limit) and a 1-row one are answered with and
without `"explain": true`, taking turns in blocks (`bench_training.interleaved`); the figure is the
explain request's milliseconds per row, against the same request without explain, and the data
column names the method the answer used (TreeSHAP within its budget, else Saabas). The first explain request of a
container also reads (here from memory), checks and opens the artifact: that load is timed once per
estimator, in the data column.

    python -m bench explain            # full run (a minute or two: four fits with their grids)
    python -m bench explain --quick    # small data, few calls: checks the harness
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from bench.bench_training import FULL, QUICK, fit_and_export, interleaved, platform_config, synthetic
from bench.figures import Figure
from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer
from mlops.serving.explain import MAX_EXPLAIN_ROWS
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving, answer
from mlops.training.explain_export import explanation_artifact
from mlops.training.prepare import prepare
from mlops.training.signature import signature, signature_json

BENCHMARK = "explain"


class _Registry:
    """One champion per model, as the registry table answers the serving core."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return {"champion": {"version": 1}} if name in self.records else {}

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.records.get(name)
        return ModelVersion.from_item(item) if item and version == 1 else None

    def serving_policy(self, name: str) -> dict[str, Any] | None:
        return None


def run(quick: bool) -> list[Figure]:
    rows, calls, blocks = (2_000, 20, 2) if quick else (10_000, 200, 10)
    arrays, columns = synthetic(rows)
    config = platform_config(QUICK if quick else FULL)
    prepared = prepare(arrays, columns, config)
    splits, meta = prepared.splits, prepared.meta
    registry, artifacts = _Registry(), {}
    for candidate in config.candidates:
        fitted = fit_and_export(candidate, prepared, config)
        explanation = explanation_artifact(fitted.model, meta.feature_spec, splits.X_train)
        sig = signature(config, meta.feature_spec, splits.X_train, meta.classes, columns)
        prefix = f"models/{candidate.name}/"
        artifacts[f"{prefix}model.onnx"] = fitted.onnx_bytes
        artifacts[f"{prefix}signature.json"] = json.dumps(signature_json(sig)).encode()
        artifacts[f"{prefix}explanation.npz"] = explanation
        registry.records[candidate.name] = {
            "model": candidate.name,
            "version": 1,
            "status": "registered",
            "estimator": candidate.estimator,
            "artifacts": {
                "model.onnx": {"key": f"{prefix}model.onnx"},
                "explanation.npz": {
                    "key": f"{prefix}explanation.npz",
                    "sha256": hashlib.sha256(explanation).hexdigest(),
                },
            },
            "onnx_sha256": hashlib.sha256(fitted.onnx_bytes).hexdigest(),
            "signature_key": f"{prefix}signature.json",
            "serving": {"out_of_range": "warn", "unseen_category": "warn", "capture_sample_rate": 0.0},
        }
    serving = Serving(
        models=ServedModels(registry=registry, read_artifact=artifacts.__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=lambda key, body: None, default_sample_rate=0.0),
    )
    names = list(meta.feature_spec.columns)
    x = splits.X_test
    bodies = [
        {"instances": [{n: float(v) for n, v in zip(names, row, strict=True)} for row in x[s : s + MAX_EXPLAIN_ROWS]]}
        for s in range(0, max(1, x.shape[0] - MAX_EXPLAIN_ROWS), MAX_EXPLAIN_ROWS)
    ][:8]
    singles = [{"instances": [{n: float(v) for n, v in zip(names, row, strict=True)}]} for row in x[:50]]
    figures: list[Figure] = []
    for candidate in config.candidates:
        model = candidate.name
        served = serving.models.rollout(model).champion  # loads model.onnx, not the explanation
        assert served.explanation is not None
        started = time.perf_counter()
        served.explanation.explainer(model, 1)
        load_ms = (time.perf_counter() - started) * 1000

        for size, requests in ((MAX_EXPLAIN_ROWS, bodies), (1, singles)):

            def plain(i: int, model: str = model, requests: list[dict[str, Any]] = requests) -> object:
                return answer(serving, model, requests[i % len(requests)], request_id="r", key_header=None, started=0.0)

            def explained(i: int, model: str = model, requests: list[dict[str, Any]] = requests) -> object:
                body = {**requests[i % len(requests)], "explain": True}
                return answer(serving, model, body, request_id="r", key_header=None, started=0.0)

            method = explained(0).body["explanation"]["method"]  # type: ignore[attr-defined]
            timings = interleaved({"plain": plain, "explain": explained}, calls, warmup=3, blocks=blocks)
            with_ms = float(np.median(timings["explain"])) / 1e6
            without_ms = float(np.median(timings["plain"])) / 1e6
            figures.append(
                Figure(
                    benchmark=BENCHMARK,
                    figure=f"{candidate.estimator}: {size}-row predict with explain, per row",
                    value=with_ms / size,
                    unit="ms/row",
                    baseline="the same request without explain (per row)",
                    baseline_value=without_ms / size,
                    ratio=with_ms / without_ms,
                    ratio_meaning="value / baseline (how many times the plain request's time)",
                    data=f"{method}; {rows:,} x 20 make_classification; p50 of {calls} requests; the first explain "
                    f"loads the artifact in {load_ms:.1f} ms ({len(artifacts[f'models/{model}/explanation.npz']):,} "
                    "bytes)",
                )
            )
    return figures
