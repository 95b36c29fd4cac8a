"""One hour of predictions joined with its labels (issue #19, item 2): the answered rows of every
version's capture batches whose request was issued in the hour, each with the latest label about it.

Labels are kept by the hour of the predictions they are about (`mlops.monitoring.label_store`),
capture by the time a batch was written (`mlops.serving.capture`): the caller hands this the hour's
label objects and the batches written from the hour's start to its end plus the capture lag (a
batch lands after its rows were answered); `mlops.monitoring.scheduled_join` decides which hours and
stores the result. numpy only (the inference layer), and pure: the same inputs give the same hour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.label_store import LabelBatch, concatenate, whole_ms
from mlops.monitoring.labels import Labels, join_labels, rows_within_requests

HOUR_MS = 3_600_000

Capture = tuple[Mapping[str, Any], Mapping[str, NDArray[Any]]]  # read_capture's (meta, arrays)


def join_hour(
    model: str,
    hour: datetime,
    labels: Sequence[LabelBatch],
    captured: Sequence[Capture],
    *,
    joined_at: datetime | None = None,
) -> JoinedHour:
    """Hour `hour`'s labelled predictions: the answered rows of `captured` (batches in write order)
    whose request was issued in the hour, with the latest of `labels` about each.

    Every version's rows count (champion, challenger, shadow: a shadow's row of a labelled request
    is labelled too). The problem type, classes and each input's kind come from the newest batch;
    an older batch's probabilities are reordered to those classes, and an input it lacks (the
    request schema changed) or captured with another kind reads as missing."""
    start = whole_ms(hour)
    classes = _classes(captured[-1][0]) if captured else None
    classifier = classes is not None if captured else None
    fields = _fields(captured)
    parts = [
        part
        for meta, arrays in captured
        if (_classes(meta) is not None) == (classes is not None)
        and (part := _hour_rows(meta, arrays, start, classes, fields)) is not None
    ]
    rows = _Rows.concatenate(parts, classes, fields, label_kind=_label_kind(labels, classifier))
    ordered = sorted(labels, key=lambda b: b.received_at)  # the order `concatenate` joins them in
    read = concatenate([replace(b, values=_values(b.values, classifier, b.source)) for b in labels])
    received_ms = np.concatenate(
        [np.zeros(0, dtype=np.int64)] + [np.full(len(b.rows), whole_ms(b.received_at), dtype=np.int64) for b in ordered]
    )
    # Joining on each label's place in arrival order tells which label won, and when it arrived.
    joined = join_labels(
        rows.request_ids,
        Labels(read.request_ids, read.rows, np.arange(len(read.rows), dtype=np.int64)),
        captured_rows=rows.rows,
    )
    at, winner = joined.captured, np.asarray(joined.labels, dtype=np.int64)
    versions, counts = np.unique(rows.versions, return_counts=True)
    return JoinedHour(
        model=model,
        hour=hour,
        request_ids=rows.request_ids[at],
        rows=rows.rows[at],
        versions=rows.versions[at],
        variants=rows.variants[at],
        predictions=rows.predictions[at],
        probabilities=rows.probabilities[at] if rows.probabilities is not None else None,
        labels=read.values[winner] if len(winner) else rows.predictions[:0],
        answered_ms=rows.answered_ms[at],
        labelled_ms=received_ms[winner],
        classes=classes,
        fields=fields,
        inputs={name: values[at] for name, values in rows.inputs.items()},
        missing={name: values[at] for name, values in rows.missing.items()},
        predicted={int(v): int(n) for v, n in zip(versions.tolist(), counts.tolist(), strict=True)},
        label_rows=len(read.rows),
        unmatched_labels=joined.unmatched_labels,
        superseded_labels=joined.superseded_labels,
        joined_at=joined_at,
    )


@dataclass(frozen=True)
class _Rows:
    """The answered rows of one hour from one or more capture batches."""

    request_ids: NDArray[np.str_]
    rows: NDArray[np.int64]  # place in the request, counted within its batch
    versions: NDArray[np.int64]
    variants: NDArray[np.str_]
    predictions: NDArray[Any]
    probabilities: NDArray[np.float32] | None
    answered_ms: NDArray[np.int64]
    inputs: dict[str, NDArray[Any]]
    missing: dict[str, NDArray[np.bool_]]

    @classmethod
    def concatenate(
        cls, parts: Sequence[_Rows], classes: list[str] | None, fields: Mapping[str, str], *, label_kind: str
    ) -> _Rows:
        if parts:
            probabilities = [p.probabilities for p in parts if p.probabilities is not None]
            return cls(
                request_ids=np.concatenate([p.request_ids for p in parts]),
                rows=np.concatenate([p.rows for p in parts]),
                versions=np.concatenate([p.versions for p in parts]),
                variants=np.concatenate([p.variants for p in parts]),
                predictions=np.concatenate([p.predictions for p in parts]),
                probabilities=np.concatenate(probabilities) if classes is not None else None,
                answered_ms=np.concatenate([p.answered_ms for p in parts]),
                inputs={n: np.concatenate([p.inputs[n] for p in parts]) for n in fields},
                missing={n: np.concatenate([p.missing[n] for p in parts]) for n in parts[0].missing},
            )
        # No captured row: typed like the labels, so hours combine into a window.
        return cls(
            request_ids=np.zeros(0, dtype="<U36"),
            rows=np.zeros(0, dtype=np.int64),
            versions=np.zeros(0, dtype=np.int64),
            variants=np.zeros(0, dtype=str),
            predictions=np.zeros(0, dtype=np.float64 if label_kind == "f" else str),
            probabilities=np.zeros((0, len(classes)), dtype=np.float32) if classes is not None else None,
            answered_ms=np.zeros(0, dtype=np.int64),
            inputs={n: np.zeros(0, dtype=np.float64 if k == "numeric" else str) for n, k in fields.items()},
            missing={n: np.zeros(0, dtype=bool) for n, k in fields.items() if k != "numeric"},
        )


def _hour_rows(
    meta: Mapping[str, Any],
    arrays: Mapping[str, NDArray[Any]],
    start: int,
    classes: list[str] | None,
    fields: Mapping[str, str],
) -> _Rows | None:
    """One batch's answered rows of requests issued in the hour from `start` (ms); None when it has
    none, or lacks what a join needs (request ids, times: batches from before request ids)."""
    if "request_id" not in arrays or "time_ms" not in arrays or "prediction" not in arrays:
        return None
    ids = np.asarray(arrays["request_id"]).astype(str)
    size = len(ids)
    times = np.asarray(arrays["time_ms"], dtype=np.int64)
    stored = arrays.get("answered")
    answered = np.asarray(stored, dtype=bool) if stored is not None else np.ones(size, dtype=bool)
    issued = issued_ms(ids, times)
    keep = answered & (issued >= start) & (issued < start + HOUR_MS)
    if not keep.any():
        return None
    place = rows_within_requests(ids)  # over the whole batch: a request's rows are contiguous in it
    variant = arrays.get("variant")
    probabilities = None
    if classes is not None:
        probabilities = _reordered(arrays.get("probabilities"), _classes(meta) or [], classes, size)[keep]
    inputs: dict[str, NDArray[Any]] = {}
    missing: dict[str, NDArray[np.bool_]] = {}
    batch_fields = dict(meta.get("fields") or {})
    kept = int(keep.sum())
    id_field = meta.get("id_field")
    if id_field and id_field not in batch_fields and "id" in arrays:  # the row ids, kept beside the inputs
        batch_fields[id_field] = "categorical"
    for name, kind in fields.items():
        values = arrays.get(f"input:{name}")
        nulls = arrays.get(f"null:{name}")
        if values is None and name == id_field and "id" in arrays:
            values = arrays["id"]
            nulls = np.asarray(values).astype(str) == ""
        same = values is not None and name in batch_fields and _kind(batch_fields[name]) == kind
        if kind == "numeric":
            inputs[name] = np.asarray(values, dtype=np.float64)[keep] if same else np.full(kept, np.nan)
        else:
            inputs[name] = np.asarray(values).astype(str)[keep] if same else np.full(kept, "", dtype=str)
            nulls = nulls if same else None
            missing[name] = (
                np.asarray(nulls, dtype=bool)[keep] if nulls is not None else np.full(kept, not same, dtype=bool)
            )
    return _Rows(
        request_ids=ids[keep],
        rows=place[keep],
        versions=np.full(kept, int(meta.get("version", 0)), dtype=np.int64),
        variants=np.asarray(variant).astype(str)[keep] if variant is not None else np.full(kept, "champion"),
        predictions=_values(np.asarray(arrays["prediction"])[keep], classes is not None, "a capture batch"),
        probabilities=probabilities,
        answered_ms=times[keep],
        inputs=inputs,
        missing=missing,
    )


def issued_ms(request_ids: NDArray[np.str_], fallback_ms: NDArray[np.int64]) -> NDArray[np.int64]:
    """When each request was issued, from its UUIDv7 id's first 48 bits (the hour its labels are
    filed under); `fallback_ms` for ids that are not UUIDv7.

    Not the capture's time: the id is minted as the request arrives and the row captured after the
    model answered, so at the turn of an hour the two can fall in different hours."""
    n = len(request_ids)
    if n == 0:
        return np.asarray(fallback_ms, dtype=np.int64)
    codes = np.ascontiguousarray(request_ids, dtype="<U37").view(np.uint32).reshape(n, 37).astype(np.int64)
    hex_columns = [*range(8), *range(9, 13)]
    digits = codes[:, hex_columns]
    lower = digits | 0x20  # A-F as a-f
    decimal = (digits >= ord("0")) & (digits <= ord("9"))
    letter = (lower >= ord("a")) & (lower <= ord("f"))
    nibbles = np.where(decimal, digits - ord("0"), lower - ord("a") + 10)
    valid = (
        (decimal | letter).all(axis=1)
        & (codes[:, 8] == ord("-"))
        & (codes[:, 13] == ord("-"))
        & (codes[:, 14] == ord("7"))
        & (codes[:, 36] == 0)  # 36 characters, no more
        & (codes[:, 35] != 0)
    )
    shifts = np.arange(44, -1, -4, dtype=np.int64)
    issued = (np.where(valid[:, None], nibbles, 0) << shifts).sum(axis=1)
    return np.where(valid, issued, np.asarray(fallback_ms, dtype=np.int64))


def _classes(meta: Mapping[str, Any]) -> list[str] | None:
    classes = meta.get("classes")
    return [str(c) for c in classes] if classes is not None else None


def _fields(captured: Sequence[Capture]) -> dict[str, str]:
    """Every input any batch captured, and the id field a batch kept row ids under; a field's kind as
    the newest batch that has it captured it."""
    fields: dict[str, str] = {}
    for meta, arrays in reversed(captured):
        for name, kind in dict(meta.get("fields") or {}).items():
            fields.setdefault(str(name), _kind(kind))
        id_field = meta.get("id_field")
        if id_field and "id" in arrays:  # the row ids requests carried: text, kept for the feedback loop
            fields.setdefault(str(id_field), "categorical")
    return fields


def _kind(kind: Any) -> str:
    """numeric, or categorical (capture keeps every other kind as text with a null mask)."""
    return "numeric" if kind == "numeric" else "categorical"


def _reordered(
    probabilities: NDArray[Any] | None, batch_classes: list[str], classes: list[str], size: int
) -> NDArray[np.float32]:
    """A batch's probabilities in the columns of `classes` (NaN for a class the batch's version lacked)."""
    out = np.full((size, len(classes)), np.nan, dtype=np.float32)
    if probabilities is None:
        return out
    stored = np.asarray(probabilities, dtype=np.float32).reshape(size, -1)
    for column, name in enumerate(classes):
        if name in batch_classes and batch_classes.index(name) < stored.shape[1]:
            out[:, column] = stored[:, batch_classes.index(name)]
    return out


def _label_kind(labels: Sequence[LabelBatch], classifier: bool | None) -> str:
    """ "f" (regression values) or "U" (classes): the capture's problem type, else the labels' own."""
    if classifier is not None:
        return "U" if classifier else "f"
    return "f" if labels and all(b.values.dtype.kind in "fiub" for b in labels) else "U"


def _values(values: NDArray[Any], classifier: bool | None, source: str) -> NDArray[Any]:
    """Labels or predictions as the problem type has them: class names as serving answers them (a
    class given as 1.0 is "1"), or float64 values. `classifier` None: as they are."""
    if classifier is None:
        return values if values.dtype.kind in "fU" else values.astype(np.float64 if values.dtype.kind in "iub" else str)
    if classifier:
        if values.dtype.kind not in "fiub":
            return values.astype(str)
        number = values.astype(np.float64)
        whole = np.isfinite(number) & (number == np.round(number))
        integers = np.where(whole, number, 0).astype(np.int64).astype(str)
        return np.where(whole, integers, number.astype(str))
    try:
        return values.astype(np.float64)
    except ValueError as error:
        raise ValueError(f"{source}: a regression model's labels are numbers ({error})") from None


def same_content(a: JoinedHour, b: JoinedHour) -> bool:
    """Whether two joined hours hold the same rows, inputs and counts (when they were joined aside)."""
    for spec in dataclasses.fields(JoinedHour):
        if spec.name == "joined_at":
            continue
        if not _same(getattr(a, spec.name), getattr(b, spec.name)):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return a.dtype.kind == b.dtype.kind and bool(np.array_equal(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)
