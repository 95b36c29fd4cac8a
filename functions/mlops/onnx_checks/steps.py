"""The training pipeline's ONNX steps. Parity: run the exported ONNX model in onnxruntime, as serving
will, on the rows the export step recorded with scikit-learn's answers, and time it. Score champion:
run the serving champion on the run's test rows, so the gate compares both models on the same rows.
Both run on the inference layer (onnxruntime + numpy): they import neither scikit-learn nor the
training package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from mlops.buckets import ArtifactsBucket
from mlops.datasets.versioning import NULL_MASK_PREFIX, column_mask, read_npz, read_npz_with_meta, row_fingerprints
from mlops.names import CHAMPION
from mlops.onnx_checks.champion_scores import CHAMPION_SCORES, FITTED_ROWS, MAX_SCORED_ROWS, TEST_ROWS, ChampionScores
from mlops.onnx_checks.parity import (
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
from mlops.registry.versions import ModelVersion
from mlops.serving.inputs import InputPolicy, RequestError, encode_request
from mlops.serving.models import ArtifactError, ServedVersion, load_version
from mlops.serving.session import inference_session


def check_onnx(reference: ParityInput, onnx_bytes: bytes) -> ParityReport:
    x32 = np.ascontiguousarray(reference.x, dtype=np.float32)
    try:
        session = inference_session(onnx_bytes)
        outputs = session.run(None, {session.get_inputs()[0].name: x32})
    except Exception as exc:  # a model serving cannot load fails parity; it is not a crash
        return failed_report(reference, f"onnxruntime could not run it: {type(exc).__name__}: {exc}")
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


def parity_step(
    run_payload: dict[str, Any],
    evaluation: dict[str, Any],
    artifacts: ArtifactsBucket,
    export: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the run's model.onnx (the candidate the evaluate step chose, `evaluation`; `export`
    says whether it could be converted at all) against the export step's parity input; store
    parity.json, latency.json and this candidate's line in parity_attempts.json. The answer feeds
    the pipeline's "Parity holds?" choice: go on to the gate, try the next-ranked candidate
    (`next_attempt`), or fail naming every candidate tried."""
    prefix = str(run_payload["prefix"])
    attempt = int(evaluation.get("attempt", 0))
    ranked = [str(name) for name in evaluation.get("ranked") or [evaluation["selected"]]]
    if export is not None and export.get("error"):  # skl2onnx could not convert it: nothing to run
        unconverted = f"skl2onnx could not convert it: {export['error']}"
        parity = ParityReport(kind="classification", rows=0, passed=False, checks=[], error=unconverted)
        latency: dict[str, float] = {}
    else:
        reference = ParityInput.from_bytes(artifacts.get(f"{prefix}{PARITY_INPUT}"))
        onnx_bytes = artifacts.get(f"{prefix}model.onnx")
        parity = check_onnx(reference, onnx_bytes)
        latency = measure_latency(onnx_bytes, reference.x, rows=1) if parity.error is None else {}
    artifacts.put(f"{prefix}parity.json", parity.model_dump_json(indent=2).encode(), "application/json")
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


# --- the champion on the run's test rows ---------------------------------------------------------
_SCORING_CHUNK = 5_000
# A champion scored for comparison answers every row it can read, as `warn` would: under `reject`
# live traffic would refuse out-of-range rows, but the question here is which model is better.
_SCORE_EVERY_ROW = InputPolicy(out_of_range="warn", unseen_category="warn")


def _request_value(values: NDArray[Any], missing: NDArray[np.bool_], i: int) -> Any:
    """Row i of a stored column as a client would send it in JSON."""
    if missing[i]:
        return None
    value = values[i]
    kind = values.dtype.kind
    if kind == "M":
        return str(np.datetime_as_string(value, unit="us"))  # naive ISO text: read as UTC, like the stored value
    if kind == "b":
        return bool(value)
    if kind in "iu":
        return int(value)
    if kind == "f":
        return None if np.isnan(value) else float(value)
    return str(value)


def rows_fitted_on(test_rows: Mapping[str, NDArray[Any]], fitted_rows: bytes | None) -> tuple[Any, str | None]:
    """Which test rows the champion was fitted or selected on (its run's train and validation rows,
    by fingerprint), or None and why that cannot be told: scoring it on those would flatter it."""
    if fitted_rows is None:
        return None, "rows it was fitted on cannot be told apart: its run kept no fingerprints"
    meta, arrays = read_npz_with_meta(fitted_rows)
    columns = [str(c) for c in meta["columns"]]
    absent = [c for c in columns if c not in test_rows]
    if absent:
        return None, f"rows it was fitted on cannot be told apart: this data has no {', '.join(map(repr, absent))}"
    return np.isin(row_fingerprints(test_rows, columns), arrays["fingerprints"]), None


def score_champion(
    served: ServedVersion, test_rows: Mapping[str, NDArray[Any]], fitted_rows: bytes | None = None
) -> ChampionScores:
    """The champion's answers on the raw test rows, encoded as serving encodes a request. Rows it
    was fitted or selected on (`fitted_rows`, its run's fingerprints) and rows it cannot read (a
    missing field, a wrong type) are counted by reason, not scored."""
    names = [column for column in test_rows if not column.startswith(NULL_MASK_PREFIX)]
    n = int(test_rows[names[0]].shape[0]) if names else 0
    kind: Literal["classification", "regression"] = "classification" if served.signature.classifier else "regression"
    classes = [str(c) for c in served.signature.classes] if served.signature.classes is not None else None
    scored = np.zeros(n, dtype=bool)
    unscored: dict[str, int] = {}
    fields = [spec.name for spec in served.signature.inputs]
    absent = [f for f in fields if f not in test_rows]
    if absent:
        unscored[f"it needs {', '.join(map(repr, absent))}, which this dataset version does not have"] = n
        return ChampionScores(
            version=served.version, test_rows=n, kind=kind, scored=scored, classes=classes, unscored=unscored
        )
    seen, caveat = rows_fitted_on(test_rows, fitted_rows)
    if seen is not None and seen.any():
        unscored["the champion was fitted or selected on them"] = int(seen.sum())
    candidates = np.flatnonzero(~seen) if seen is not None else np.arange(n)
    if candidates.size > MAX_SCORED_ROWS:
        unscored[f"past the first {MAX_SCORED_ROWS:,} usable test rows"] = int(candidates.size - MAX_SCORED_ROWS)
        candidates = candidates[:MAX_SCORED_ROWS]
    columns = {f: (test_rows[f], column_mask(test_rows, f)) for f in fields}
    labels: list[NDArray[Any]] = []
    probabilities: list[NDArray[Any]] = []
    values: list[NDArray[Any]] = []
    for start in range(0, candidates.size, _SCORING_CHUNK):
        positions = [int(i) for i in candidates[start : start + _SCORING_CHUNK]]
        records = [{f: _request_value(*columns[f], i) for f in fields} for i in positions]
        try:
            encoded = encode_request(records, served.signature, _SCORE_EVERY_ROW)
        except RequestError as refused:
            codes: dict[int, set[str]] = {}
            for problem in refused.problems:
                if problem.row is not None:
                    codes.setdefault(problem.row, set()).add(problem.code)
            bad = set(codes)
            for row_codes in codes.values():  # each row counted once, under all its reasons
                reason = f"the champion refuses them ({', '.join(sorted(row_codes))})"
                unscored[reason] = unscored.get(reason, 0) + 1
            positions = [i for j, i in enumerate(positions) if j not in bad]
            records = [r for j, r in enumerate(records) if j not in bad]
            if not records:
                continue
            encoded = encode_request(records, served.signature, _SCORE_EVERY_ROW)
        outputs = served.session.run(None, {served.signature.input_name: encoded.matrix})
        scored[positions] = True
        if kind == "classification":
            labels.append(np.asarray(outputs[0]).astype(np.int64).reshape(-1))
            probabilities.append(np.asarray(outputs[1], dtype=np.float32))
        else:
            values.append(np.asarray(outputs[0], dtype=np.float64).reshape(-1))
    classification = kind == "classification"
    width = len(classes) if classes is not None else 0
    return ChampionScores(
        version=served.version,
        test_rows=n,
        kind=kind,
        scored=scored,
        classes=classes,
        labels=(np.concatenate(labels) if labels else np.zeros(0, np.int64)) if classification else None,
        probabilities=(
            (np.concatenate(probabilities) if probabilities else np.zeros((0, width), np.float32))
            if classification
            else None
        ),
        values=None if classification else (np.concatenate(values) if values else np.zeros(0)),
        unscored=unscored,
        caveat=caveat,
    )


class ChampionSource(Protocol):
    def get_alias(self, name: str, alias: str) -> Mapping[str, Any] | None: ...

    def get_version(self, name: str, version: int) -> Mapping[str, Any] | None: ...


def score_champion_step(
    run_payload: dict[str, Any], artifacts: ArtifactsBucket, models: ChampionSource
) -> dict[str, Any]:
    """Score the run's model's serving champion (if it has one) on the run's test rows; store
    champion_scores.npz for the evaluate step. A champion that cannot be loaded or scored is
    reported, not fatal: the gate then falls back to the champion's own test figures and says so."""
    model = str(run_payload["model"])
    alias = models.get_alias(model, CHAMPION)
    champion = models.get_version(model, int(alias["version"])) if alias else None
    prefix = str(run_payload["prefix"])
    test_rows = read_npz(artifacts.get(f"{prefix}{TEST_ROWS}"))
    n = next((int(v.shape[0]) for k, v in test_rows.items() if not k.startswith(NULL_MASK_PREFIX)), 0)
    if champion is None:
        scores = ChampionScores(version=None, test_rows=n)
    else:
        try:
            record = ModelVersion.from_item(champion)
            served = load_version(model, record, artifacts.get)
            fitted = record.artifacts.get(FITTED_ROWS)
            scores = score_champion(served, test_rows, artifacts.get(fitted["key"]) if fitted else None)
        except Exception as error:  # the comparison is a courtesy to the gate: never the run's end
            reason = str(error) if isinstance(error, ArtifactError) else f"{type(error).__name__}: {error}"
            scores = ChampionScores(
                version=int(champion["version"]),
                test_rows=n,
                scored=np.zeros(n, dtype=bool),
                unscored={f"it could not be scored: {reason}": n},
            )
    artifacts.put(f"{prefix}{CHAMPION_SCORES}", scores.to_bytes(), "application/octet-stream")
    return {"champion_version": scores.version, "rows_scored": scores.rows, "basis": scores.basis()}
