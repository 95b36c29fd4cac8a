"""The parity step: run the exported ONNX model in onnxruntime, as serving will, on the rows the
export step recorded with scikit-learn's answers, and time it. Runs on the inference layer
(onnxruntime + numpy): it imports neither scikit-learn nor the training package.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.onnx_parity import (
    PARITY_ATTEMPTS,
    PARITY_INPUT,
    ParityAttempt,
    ParityInput,
    ParityReport,
    compare,
    failed_report,
    no_candidate_matches,
    record_attempt,
)
from mlops.serving.session import inference_session
from mlops.storage import ArtifactsBucket


def check_onnx(reference: ParityInput, onnx_bytes: bytes) -> ParityReport:
    x32 = np.ascontiguousarray(reference.x, dtype=np.float32)
    try:
        session = inference_session(onnx_bytes)
        outputs = session.run(None, {session.get_inputs()[0].name: x32})
    except Exception as exc:  # a model serving cannot load fails parity; it is not a crash
        return failed_report(reference, f"{type(exc).__name__}: {exc}")
    return compare(reference, outputs)


def measure_latency(
    onnx_bytes: bytes, x: NDArray[Any], rows: int = 1, *, repeats: int = 200, warmup: int = 20
) -> dict[str, float]:
    """Wall-clock latency of one `run` on `rows` rows in onnxruntime (one thread), as serving sees it:
    {rows, repeats, p50_ms, p99_ms, p50_ms_per_row, p99_ms_per_row}."""
    session = inference_session(onnx_bytes)
    input_name = session.get_inputs()[0].name
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if x32.shape[0] == 0:
        raise ValueError("measure_latency needs at least one row")
    reps = max(1, -(-rows // x32.shape[0]))
    pool = np.ascontiguousarray(np.tile(x32, (reps + 1, 1)))
    batches = [pool[(i * rows) % x32.shape[0] :][:rows] for i in range(warmup + repeats)]
    timings = []
    for i, batch in enumerate(batches):
        started = time.perf_counter()
        session.run(None, {input_name: batch})
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


def parity_step(run_payload: dict[str, Any], evaluation: dict[str, Any], artifacts: ArtifactsBucket) -> dict[str, Any]:
    """Check the run's model.onnx (the candidate the evaluate step chose, `evaluation`) against the
    export step's parity input; store parity.json, latency.json and this candidate's line in
    parity_attempts.json. The answer feeds the pipeline's "Parity holds?" choice: go on to the gate,
    try the next-ranked candidate (`next_attempt`), or fail naming every candidate tried."""
    prefix = str(run_payload["prefix"])
    attempt = int(evaluation.get("attempt", 0))
    ranked = [str(name) for name in evaluation.get("ranked") or [evaluation["selected"]]]
    reference = ParityInput.from_bytes(artifacts.get(f"{prefix}{PARITY_INPUT}"))
    onnx_bytes = artifacts.get(f"{prefix}model.onnx")
    parity = check_onnx(reference, onnx_bytes)
    artifacts.put(f"{prefix}parity.json", parity.model_dump_json(indent=2).encode(), "application/json")
    latency = measure_latency(onnx_bytes, reference.x, rows=1) if parity.error is None else {}
    artifacts.put(f"{prefix}latency.json", json.dumps(latency, indent=2, sort_keys=True).encode(), "application/json")
    # Attempt 0 starts the list (a rerun of the run's first try must not inherit a stale one).
    earlier = [] if attempt == 0 else _attempts(artifacts.get(f"{prefix}{PARITY_ATTEMPTS}"))
    attempts = record_attempt(
        earlier, ParityAttempt.of(attempt + 1, ranked[attempt], str(evaluation.get("estimator", "")), parity)
    )
    artifacts.put(
        f"{prefix}{PARITY_ATTEMPTS}",
        json.dumps([a.model_dump(mode="json") for a in attempts], indent=2).encode(),
        "application/json",
    )
    next_attempt = attempt + 1 if not parity.passed and attempt + 1 < len(ranked) else None
    return {
        "parity_passed": parity.passed,
        "try_next": next_attempt is not None,
        "next_attempt": next_attempt,
        "parity_message": "" if parity.passed else no_candidate_matches(attempts),
        "latency": latency,
    }


def _attempts(document: bytes) -> list[ParityAttempt]:
    return [ParityAttempt.model_validate(a) for a in json.loads(document)]
