"""Training at a realistic size: logistic regression and a 200-tree random forest on 50,000 x 20
synthetic rows, through the platform's own prepare / fit / export / parity / latency functions.

Prints (asserts nothing): fit time, ONNX conversion time and size, parity figures, and single-row
p50/p99 latency in onnxruntime versus scikit-learn's `predict_proba`. Not part of `make bench`:

    PYTHONPATH=functions .venv/bin/python -m bench.training_scale [--rows 50000] [--features 20]
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from mlops.datasets.versioning import ColumnSchema
from mlops.training.candidates import fit_candidate, load_model
from mlops.training.config import Candidate, TrainingConfig
from mlops.training.onnx_export import check_parity, export_onnx, inference_session, measure_latency
from mlops.training.prepare import prepare


def synthetic(rows: int, features: int, seed: int = 0) -> tuple[dict[str, NDArray[Any]], list[ColumnSchema]]:
    x, y = make_classification(
        n_samples=rows, n_features=features, n_informative=features // 2, n_redundant=features // 4, random_state=seed
    )
    arrays: dict[str, NDArray[Any]] = {f"f{i:02d}": x[:, i] for i in range(features)}
    arrays["label"] = y.astype(np.int64)
    columns = [ColumnSchema(name=n, type="float", dtype="<f8") for n in arrays if n != "label"]
    columns.append(ColumnSchema(name="label", type="int", dtype="<i8"))
    return arrays, columns


def size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def sklearn_latency(model: Any, x: NDArray[np.float32], repeats: int, warmup: int = 10) -> tuple[float, float]:
    timings = []
    with threadpool_limits(limits=1):
        for i in range(warmup + repeats):
            row = x[i % x.shape[0] : i % x.shape[0] + 1]
            started = time.perf_counter()
            model.predict_proba(row)
            if i >= warmup:
                timings.append(time.perf_counter() - started)
    p50, p99 = np.percentile(timings, [50, 99]) * 1000.0
    return float(p50), float(p99)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=300, help="timed single-row calls per runtime")
    args = parser.parse_args(argv)

    arrays, columns = synthetic(args.rows, args.features)
    config = TrainingConfig(
        dataset="synthetic",
        problem_type="binary",
        label="label",
        candidates=[
            Candidate(name="logistic_regression", estimator="logistic_regression"),
            Candidate(name="random_forest", estimator="random_forest", params={"n_estimators": args.trees}),
        ],
    )
    started = time.perf_counter()
    prepared = prepare(arrays, columns, config)
    prepare_s = time.perf_counter() - started
    splits = prepared.splits
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(
        f"data: {args.rows:,} rows x {args.features} features; train {splits.X_train.shape[0]:,}, "
        f"validation {splits.X_validation.shape[0]:,}, test {splits.X_test.shape[0]:,}; prepare {prepare_s:.2f} s; "
        f"profile {len(prepared.profile.model_dump_json()) / 1024:.0f} KB"
    )
    rows = []
    for candidate in config.candidates:
        result = fit_candidate(candidate, splits, config)
        assert result.model_bytes is not None, result.error
        model = load_model(result.model_bytes)
        started = time.perf_counter()
        onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
        convert_s = time.perf_counter() - started
        started = time.perf_counter()
        inference_session(onnx_bytes)
        load_s = time.perf_counter() - started
        parity = check_parity(model, onnx_bytes, splits.X_test, config.parity)
        ort = measure_latency(onnx_bytes, splits.X_test, rows=1, repeats=args.repeats)
        sk_p50, sk_p99 = sklearn_latency(model, splits.X_test, repeats=args.repeats)
        rows.append(
            {
                "model": candidate.name,
                "fit s (1 thread)": f"{result.fit_seconds:.2f}",
                "val roc_auc": f"{result.validation_metrics.get('roc_auc') or float('nan'):.4f}",
                "pickle size": size(len(result.model_bytes)),
                "onnx convert s": f"{convert_s:.2f}",
                "onnx size": size(len(onnx_bytes)),
                "ort load s": f"{load_s:.2f}",
                "max |dp|": f"{parity.max_abs_probability_diff:.2e}",
                "labels agree": f"{(parity.label_agreement or 0) * 100:.3f} %",
                "parity": "pass" if parity.passed else "FAIL",
                "ort p50/p99 ms": f"{ort['p50_ms']:.4f} / {ort['p99_ms']:.4f}",
                "sklearn p50/p99 ms": f"{sk_p50:.3f} / {sk_p99:.3f}",
                "speed-up p50": f"{sk_p50 / ort['p50_ms']:.0f}x",
            }
        )
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{r[key]:>24}" for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
