"""One hour of predictions joined with their labels: what the performance check, the A/B test and
the feedback loop read, `joined/<model>/date=<d>/hour=<h>/joined.npz`.

Derived data: the join rewrites an hour's object from the hour's capture batches and label objects
(both never rewritten) whenever that hour got new labels, so a rerun writes the same thing. It holds
only labelled rows, with their inputs (the feedback loop turns them into a dataset version), plus
how many predictions each version made in the hour (coverage). numpy only, no pickle.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.names import JOINED_PREFIX

FORMAT_VERSION = 1
JOINED_FILE = "joined.npz"


@dataclass(frozen=True)
class JoinedHour:
    """The labelled predictions of one hour (every answering version, canary and shadow included)."""

    model: str
    hour: datetime  # the predictions' hour (UTC, on the hour)
    request_ids: NDArray[np.str_]
    rows: NDArray[np.int64]  # each row's place in its request
    versions: NDArray[np.int64]
    variants: NDArray[np.str_]  # champion | challenger | shadow
    predictions: NDArray[Any]  # class (str) or value (float64)
    probabilities: NDArray[np.float32] | None  # rows x classes, classifiers
    labels: NDArray[Any]  # class (str) or value (float64), the latest label of the row
    answered_ms: NDArray[np.int64]  # when the prediction was made
    labelled_ms: NDArray[np.int64]  # when its (latest) label arrived
    classes: list[str] | None
    fields: dict[str, str]  # input name -> "numeric" | "categorical"
    inputs: dict[str, NDArray[Any]]  # numeric: float64 with NaN; categorical: str with `missing`
    missing: dict[str, NDArray[np.bool_]]  # categorical inputs only
    predicted: dict[int, int] = field(default_factory=dict)  # version -> answered rows in the hour
    label_rows: int = 0  # label rows read for the hour (every object, superseded ones included)
    unmatched_labels: int = 0  # labels about no captured row of the hour
    superseded_labels: int = 0  # labels a later label for the same row replaced
    joined_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.rows)


def joined_key(model: str, hour: datetime) -> str:
    return f"{JOINED_PREFIX}{model}/date={hour:%Y-%m-%d}/hour={hour:%H}/{JOINED_FILE}"


def joined_npz(joined: JoinedHour) -> bytes:
    arrays: dict[str, NDArray[Any]] = {
        "request_id": np.asarray(joined.request_ids, dtype=str),
        "row": np.asarray(joined.rows, dtype=np.int64),
        "version": np.asarray(joined.versions, dtype=np.int64),
        "variant": np.asarray(joined.variants, dtype=str),
        "prediction": _values(joined.predictions),
        "label": _values(joined.labels),
        "answered_ms": np.asarray(joined.answered_ms, dtype=np.int64),
        "labelled_ms": np.asarray(joined.labelled_ms, dtype=np.int64),
    }
    if joined.probabilities is not None:
        arrays["probabilities"] = np.asarray(joined.probabilities, dtype=np.float32)
    for name, kind in joined.fields.items():
        if kind == "numeric":
            arrays[f"input:{name}"] = np.asarray(joined.inputs[name], dtype=np.float64)
        else:
            arrays[f"input:{name}"] = np.asarray(joined.inputs[name], dtype=str)
            arrays[f"null:{name}"] = np.asarray(joined.missing[name], dtype=bool)
    meta = {
        "format": FORMAT_VERSION,
        "model": joined.model,
        "hour": joined.hour.isoformat(),
        "classes": joined.classes,
        "fields": joined.fields,
        "predicted": {str(v): n for v, n in joined.predicted.items()},
        "label_rows": joined.label_rows,
        "unmatched_labels": joined.unmatched_labels,
        "superseded_labels": joined.superseded_labels,
        "joined_at": joined.joined_at.isoformat() if joined.joined_at else None,
        "rows": joined.size,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _values(values: NDArray[Any]) -> NDArray[Any]:
    return np.asarray(values, dtype=np.float64 if values.dtype.kind in "fiub" else str)


def read_joined(data: bytes) -> JoinedHour:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays.pop("meta")))
    fields: dict[str, str] = meta["fields"]
    joined_at = meta.get("joined_at")
    return JoinedHour(
        model=meta["model"],
        hour=datetime.fromisoformat(meta["hour"]),
        request_ids=arrays["request_id"],
        rows=arrays["row"],
        versions=arrays["version"],
        variants=arrays["variant"],
        predictions=arrays["prediction"],
        probabilities=arrays.get("probabilities"),
        labels=arrays["label"],
        answered_ms=arrays["answered_ms"],
        labelled_ms=arrays["labelled_ms"],
        classes=meta["classes"],
        fields=fields,
        inputs={name: arrays[f"input:{name}"] for name in fields},
        missing={name: arrays[f"null:{name}"] for name, kind in fields.items() if kind != "numeric"},
        predicted={int(v): int(n) for v, n in meta["predicted"].items()},
        label_rows=int(meta["label_rows"]),
        unmatched_labels=int(meta["unmatched_labels"]),
        superseded_labels=int(meta["superseded_labels"]),
        joined_at=datetime.fromisoformat(joined_at) if joined_at else None,
    )


def combine(hours: Sequence[JoinedHour]) -> JoinedHour | None:
    """Several hours as one (a window): rows concatenated, counts summed; inputs a later hour lacks
    (the request schema changed) read as missing. None for no hours."""
    if not hours:
        return None
    fields: dict[str, str] = {}
    for hour in hours:
        fields.update(hour.fields)
    # An hour with no captured row (labels about predictions never captured) has no classes to
    # shape probabilities by; it adds no rows, so it does not take the window's probabilities away.
    scored = [h for h in hours if h.size] or list(hours)
    probabilities = [h.probabilities for h in scored if h.probabilities is not None]
    predicted: dict[int, int] = {}
    for hour in hours:
        for version, count in hour.predicted.items():
            predicted[version] = predicted.get(version, 0) + count
    return JoinedHour(
        model=hours[0].model,
        hour=min(h.hour for h in hours),
        request_ids=np.concatenate([h.request_ids for h in hours]),
        rows=np.concatenate([h.rows for h in hours]),
        versions=np.concatenate([h.versions for h in hours]),
        variants=np.concatenate([h.variants for h in hours]),
        predictions=np.concatenate([h.predictions for h in hours]),
        probabilities=np.concatenate(probabilities) if len(probabilities) == len(scored) else None,
        labels=np.concatenate([h.labels for h in hours]),
        answered_ms=np.concatenate([h.answered_ms for h in hours]),
        labelled_ms=np.concatenate([h.labelled_ms for h in hours]),
        classes=next((h.classes for h in hours if h.classes is not None), None),
        fields=fields,
        inputs={name: np.concatenate([_input(h, name, kind) for h in hours]) for name, kind in fields.items()},
        missing={
            name: np.concatenate([h.missing.get(name, np.ones(h.size, dtype=bool)) for h in hours])
            for name, kind in fields.items()
            if kind != "numeric"
        },
        predicted=predicted,
        label_rows=sum(h.label_rows for h in hours),
        unmatched_labels=sum(h.unmatched_labels for h in hours),
        superseded_labels=sum(h.superseded_labels for h in hours),
    )


def _input(hour: JoinedHour, name: str, kind: str) -> NDArray[Any]:
    if name in hour.inputs:
        return hour.inputs[name]
    return np.full(hour.size, np.nan) if kind == "numeric" else np.full(hour.size, "", dtype=str)


def select(joined: JoinedHour, mask: NDArray[np.bool_]) -> JoinedHour:
    """The rows where `mask` holds (one version's, one variant's, one segment's)."""
    return JoinedHour(
        model=joined.model,
        hour=joined.hour,
        request_ids=joined.request_ids[mask],
        rows=joined.rows[mask],
        versions=joined.versions[mask],
        variants=joined.variants[mask],
        predictions=joined.predictions[mask],
        probabilities=joined.probabilities[mask] if joined.probabilities is not None else None,
        labels=joined.labels[mask],
        answered_ms=joined.answered_ms[mask],
        labelled_ms=joined.labelled_ms[mask],
        classes=joined.classes,
        fields=joined.fields,
        inputs={name: values[mask] for name, values in joined.inputs.items()},
        missing={name: values[mask] for name, values in joined.missing.items()},
        predicted=dict(joined.predicted),
        label_rows=joined.label_rows,
        unmatched_labels=joined.unmatched_labels,
        superseded_labels=joined.superseded_labels,
        joined_at=joined.joined_at,
    )


def empty_inputs(fields: Mapping[str, str]) -> dict[str, NDArray[Any]]:
    return {name: np.zeros(0, dtype=np.float64 if kind == "numeric" else str) for name, kind in fields.items()}
