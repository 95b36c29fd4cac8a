"""Prediction capture: a sample of requests and answers, written to S3 in batches for drift checks.

Each batch is one `.npz` (numpy only, no pickle) holding one column per input field plus the
predictions, probabilities, variant, request id and time of each row, under
`capture/<model>/version=<v>/date=<YYYY-MM-DD>/hour=<HH>/<write time>-<id>.npz`, so a drift run
lists the hours of its window and loads whole columns at once. The path is the batch's write time,
not its rows' request times: a batch lands after its rows were answered (in Lambda, possibly much
later), and a drift check takes each batch written in its window, so every row is checked once.

Rows the serving policy refused (`serving.out_of_range` or `unseen_category: reject`) are captured
too, with no prediction: `answered` is false for every row of a refused request, and
`refused:<field>` names why a row's field was refused (`out_of_range`, `unseen_category`, or "" for
a value that fitted). Readers of batches without these arrays take every row as answered.

For a model whose labels are joined, each row also keeps the request's `x-request-key` and its id
field's value (arrays `request_key` and `id`, "" where none; `meta.id_field` names the field), and
once a batch is written its keys are handed to `record_keys` (`mlops.serving.prediction_keys`), so a
label may name its prediction by them.

Writing happens on a background thread: a request only appends to memory. Failures are counted (a
metric and an alarm watch them), never raised. Rows still buffered when a container is reclaimed
are lost; capture is a sample, not a ledger.
"""

from __future__ import annotations

import io
import json
import math
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.names import CAPTURE_PREFIX
from mlops.serving.prediction_keys import KeyedPrediction, KeyPolicy, PredictionKey

FORMAT_VERSION = 2  # 2 added `answered` and `refused:<field>` (refused rows); 1 is read as all answered


@dataclass
class _Batch:
    model: str
    version: int
    fields: dict[str, str]  # field -> "numeric" | "categorical"
    classes: list[Any] | None
    started: float
    values: dict[str, list[Any]] = field(default_factory=dict)
    predictions: list[Any] = field(default_factory=list)
    probabilities: list[NDArray[np.float32]] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    refusals: list[tuple[int, str, str]] = field(default_factory=list)  # (row in batch, field, why)
    request_keys: list[str] = field(default_factory=list)  # "" where the request had none
    ids: list[str] = field(default_factory=list)  # the id field's value ("" where none)
    keyed: list[KeyedPrediction] = field(default_factory=list)
    id_field: str | None = None  # the field the `id` array holds (monitoring.performance.id_field)
    horizon: timedelta | None = None  # how long its keys are kept (the longest of its requests')

    @property
    def rows(self) -> int:
        return len(self.predictions)


def capture_key(model: str, version: int, at: datetime, suffix: str) -> str:
    """Where a batch written at `at` goes: partitioned and named by its write time (to the
    millisecond), which is what a drift check windows on."""
    stamp = f"{at:%Y%m%dT%H%M%S}{at.microsecond // 1000:03d}"
    return f"{CAPTURE_PREFIX}{model}/version={version}/date={at:%Y-%m-%d}/hour={at:%H}/{stamp}-{suffix}.npz"


_WRITTEN_AT = re.compile(r"/(\d{8}T\d{6})(\d{3})?-[^/]*\.npz$")


def written_at(key: str) -> datetime | None:
    """A batch's write time from its key (keys written before milliseconds were added read as the
    start of their second); None for a key that is not a capture batch."""
    match = _WRITTEN_AT.search(key)
    if match is None:
        return None
    at = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at + timedelta(milliseconds=int(match.group(2) or 0))


def batch_npz(batch: _Batch) -> bytes:
    arrays: dict[str, NDArray[Any]] = {}
    for name, kind in batch.fields.items():
        values = batch.values[name]
        if kind == "numeric":
            arrays[f"input:{name}"] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            arrays[f"input:{name}"] = np.array(["" if v is None else str(v) for v in values], dtype=str)
            arrays[f"null:{name}"] = np.array([v is None for v in values], dtype=bool)
    if batch.classes is not None:
        arrays["prediction"] = np.array([str(p) for p in batch.predictions], dtype=str)
        arrays["probabilities"] = np.concatenate(batch.probabilities).astype(np.float32)
    else:
        arrays["prediction"] = np.array(batch.predictions, dtype=np.float64)
    arrays["variant"] = np.array(batch.variants, dtype=str)
    arrays["request_id"] = np.array(batch.request_ids, dtype=str)
    arrays["time_ms"] = np.array(batch.times_ms, dtype=np.int64)
    arrays["answered"] = np.array(batch.answered, dtype=bool)
    refused: dict[str, NDArray[Any]] = {}
    for row, name, why in batch.refusals:
        column = refused.get(name)
        if column is None:
            column = refused[name] = np.full(batch.rows, "", dtype=object)
        column[row] = why
    for name, column in refused.items():
        arrays[f"refused:{name}"] = column.astype(str)
    if any(batch.request_keys):
        arrays["request_key"] = np.array(batch.request_keys, dtype=str)
    if any(batch.ids):
        arrays["id"] = np.array(batch.ids, dtype=str)
    meta = {
        "format": FORMAT_VERSION,
        "model": batch.model,
        "version": batch.version,
        "fields": batch.fields,
        "classes": [str(c) for c in batch.classes] if batch.classes is not None else None,
        "rows": batch.rows,
    }
    if "id" in arrays and batch.id_field is not None:
        meta["id_field"] = batch.id_field  # the join reads the ids back under this name
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def read_capture(data: bytes) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """A capture batch's metadata and arrays (the drift function's reader)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays.pop("meta")))
    return meta, arrays


@dataclass
class CaptureBuffer:
    """Collects sampled rows per model version and hands full or old batches to a writer thread."""

    write: Callable[[str, bytes], None]
    default_sample_rate: float
    # Records a written batch's keys (model, keys, when they expire); None: keys are not recorded.
    record_keys: Callable[[str, Sequence[KeyedPrediction], datetime], None] | None = None
    max_rows: int = 1000
    max_age_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    rng: random.Random = field(default_factory=random.Random)
    _batches: dict[tuple[str, int], _Batch] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: queue.Queue[_Batch | None] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None
    _written: int = 0
    _failed: int = 0
    _keys_failed: int = 0

    def take_counts(self) -> tuple[int, int]:
        """Rows written and rows lost since the last call (the handler turns them into metrics on
        its own thread; Powertools metrics are per invocation)."""
        with self._lock:
            counts = (self._written, self._failed)
            self._written = self._failed = 0
            return counts

    def take_key_failures(self) -> int:
        """Keys not recorded since the last call (their batch was written: labels by request id still join)."""
        with self._lock:
            failed, self._keys_failed = self._keys_failed, 0
            return failed

    def _count(self, *, written: int = 0, failed: int = 0, keys_failed: int = 0) -> None:
        with self._lock:
            self._written += written
            self._failed += failed
            self._keys_failed += keys_failed

    def sampled(self, rate: float | None) -> bool:
        rate = self.default_sample_rate if rate is None else rate
        return rate > 0 and (rate >= 1 or self.rng.random() < rate)

    def add(
        self,
        *,
        model: str,
        version: int,
        fields: Mapping[str, str],
        classes: Sequence[Any] | None,
        values: Mapping[str, list[Any]],
        predictions: list[Any],
        probabilities: NDArray[np.float32] | None,
        variant: str,
        request_id: str,
        keys: RequestKeys | None = None,
    ) -> None:
        """Append one request's rows; never raises (a failure is counted)."""
        self._append(
            model, version, fields, classes, values, predictions, probabilities, variant, request_id, None, keys
        )

    def add_refused(
        self,
        *,
        model: str,
        version: int,
        fields: Mapping[str, str],
        classes: Sequence[Any] | None,
        values: Mapping[str, list[Any]],
        refusals: Sequence[Mapping[str, str]],
        variant: str,
        request_id: str,
        keys: RequestKeys | None = None,
    ) -> None:
        """Append the rows of a request the serving policy refused: no predictions, each row's
        refused fields and why. Never raises (a failure is counted)."""
        rows = len(refusals)
        if classes:
            predictions: list[Any] = [""] * rows
            probabilities: NDArray[np.float32] | None = np.full((rows, len(classes)), np.nan, dtype=np.float32)
        else:
            predictions, probabilities = [math.nan] * rows, None
        self._append(
            model, version, fields, classes, values, predictions, probabilities, variant, request_id, refusals, keys
        )

    def _append(
        self,
        model: str,
        version: int,
        fields: Mapping[str, str],
        classes: Sequence[Any] | None,
        values: Mapping[str, list[Any]],
        predictions: list[Any],
        probabilities: NDArray[np.float32] | None,
        variant: str,
        request_id: str,
        refusals: Sequence[Mapping[str, str]] | None,
        keys: RequestKeys | None,
    ) -> None:
        try:
            at_ms = int(self.now().timestamp() * 1000)
            with self._lock:
                key = (model, version)
                batch = self._batches.get(key)
                if batch is None or list(batch.fields) != list(fields):
                    if batch is not None:
                        self._enqueue(self._batches.pop(key))
                    batch = _Batch(model, version, dict(fields), list(classes) if classes else None, self.clock())
                    batch.values = {name: [] for name in fields}
                    self._batches[key] = batch
                for name in fields:
                    batch.values[name].extend(values[name])
                rows = len(predictions)
                if refusals is not None:
                    first = batch.rows
                    batch.refusals += [(first + i, n, why) for i, row in enumerate(refusals) for n, why in row.items()]
                batch.answered.extend([refusals is None] * rows)
                batch.predictions.extend(predictions)
                if probabilities is not None:
                    batch.probabilities.append(probabilities)
                batch.variants.extend([variant] * rows)
                batch.request_ids.extend([request_id] * rows)
                batch.times_ms.extend([at_ms] * rows)
                if keys is not None and keys.recorded:
                    _add_keys(batch, keys, request_id, rows)
                else:
                    batch.request_keys.extend([""] * rows)
                    batch.ids.extend([""] * rows)
                self._flush_due(force=False)
        except Exception:  # capture must never fail a prediction
            self._count(failed=len(predictions))

    def flush_aged(self) -> None:
        """Hand batches past their age to the writer. Called as each invocation starts: a frozen
        Lambda container runs no timer, and an unsampled request never reaches `add`."""
        try:
            with self._lock:
                self._flush_due(force=False)
        except Exception:  # capture must never fail a prediction
            pass

    def flush(self) -> None:
        """Write everything buffered and wait for the writer (tests, and the end of a batch job)."""
        with self._lock:
            self._flush_due(force=True)
        self._queue.join()

    def _flush_due(self, *, force: bool) -> None:
        now = self.clock()
        for key in list(self._batches):
            batch = self._batches[key]
            if force or batch.rows >= self.max_rows or now - batch.started >= self.max_age_seconds:
                self._enqueue(self._batches.pop(key))

    def _enqueue(self, batch: _Batch) -> None:
        if batch.rows == 0:
            return
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._drain, name="capture-writer", daemon=True)
            self._worker.start()
        self._queue.put(batch)

    def _drain(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                self._write(batch)
            finally:
                self._queue.task_done()

    def _write(self, batch: _Batch) -> None:
        """The batch's object, then its keys: a key is recorded only for rows whose capture landed."""
        try:
            written = self.now()
            self.write(capture_key(batch.model, batch.version, written, uuid.uuid4().hex[:12]), batch_npz(batch))
            self._count(written=batch.rows)
        except Exception:
            self._count(failed=batch.rows)
            return
        if not batch.keyed or self.record_keys is None or batch.horizon is None:
            return
        try:
            self.record_keys(batch.model, batch.keyed, written + batch.horizon + KEY_SLACK)
        except Exception:
            self._count(keys_failed=len(batch.keyed))


@dataclass(frozen=True)
class RequestKeys:
    """The keys a request's rows may be labelled by: its x-request-key and each row's id (None where
    a row has none), under the model's KeyPolicy (None: the model joins no labels, nothing is recorded)."""

    policy: KeyPolicy | None
    request_key: str | None = None
    ids: Sequence[str | None] | None = None

    @property
    def recorded(self) -> bool:
        return self.policy is not None and (self.request_key is not None or bool(self.ids))


# Keys are kept a day past the label horizon: a label near the horizon still finds its key, and the
# intake, not TTL's timing (DynamoDB deletes expired items within days), says it is too late.
KEY_SLACK = timedelta(days=1)


def _add_keys(batch: _Batch, keys: RequestKeys, request_id: str, rows: int) -> None:
    assert keys.policy is not None
    batch.request_keys.extend([keys.request_key or ""] * rows)
    if keys.request_key is not None:
        batch.keyed.append(KeyedPrediction(PredictionKey("key", keys.request_key), request_id, None))
    ids = list(keys.ids or [None] * rows)
    if keys.ids:
        batch.id_field = keys.policy.id_field
    batch.ids.extend([value or "" for value in ids])
    batch.keyed += [
        KeyedPrediction(PredictionKey("id", value), request_id, row) for row, value in enumerate(ids) if value
    ]
    if batch.horizon is None or keys.policy.horizon > batch.horizon:
        batch.horizon = keys.policy.horizon
