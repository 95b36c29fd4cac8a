"""Where validated labels are kept: one `.npz` per intake (an API call or a feedback file) and per
hour of the predictions it is about, `labels/<model>/date=<d>/hour=<h>/<received>-<id>.npz`.

By the prediction's hour (from its UUIDv7 request id), not the label's arrival: a join of one hour
of predictions reads that hour's label objects and nothing else, and an hour whose labels changed is
one whose folder got an object newer than the last join. numpy only, no pickle, as capture batches.
Objects are never rewritten: a later label for the same row is a newer object, and the join keeps
the newest (the older one stays, so a correction is audited).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.labels import Labels
from mlops.names import LABELS_PREFIX

FORMAT_VERSION = 1


@dataclass(frozen=True)
class LabelBatch:
    """Labels from one intake about one hour of predictions, in arrival order."""

    model: str
    hour: datetime  # the predictions' hour (UTC, on the hour)
    request_ids: NDArray[np.str_]
    rows: NDArray[np.int64]
    values: NDArray[Any]  # str (class names as serving answers them) or float64 (regression)
    received_at: datetime
    source: str  # "api <caller>" or "file s3://<bucket>/<key>"

    def __post_init__(self) -> None:
        if not (len(self.request_ids) == len(self.rows) == len(self.values)):
            raise ValueError("request_ids, rows and values must be as long as each other")

    @property
    def labels(self) -> Labels:
        return Labels(self.request_ids, self.rows, self.values)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def whole_ms(at: datetime) -> int:
    """Milliseconds since the epoch, cut (not rounded) as `label_key` cuts a label's arrival: every
    arrival time the join, the intake and the feedback loop compare is this one number (rounded in
    one place and cut in another, the newest labels fell after the watermark their own keys set)."""
    return (at.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefix(model: str, hour: datetime) -> str:
    """The folder of one hour of predictions' labels."""
    return f"{LABELS_PREFIX}{model}/date={hour:%Y-%m-%d}/hour={hour:%H}/"


def label_key(batch: LabelBatch, suffix: str) -> str:
    at = batch.received_at.astimezone(UTC)
    stamp = f"{at:%Y%m%dT%H%M%S}{at.microsecond // 1000:03d}"
    return f"{hour_prefix(batch.model, batch.hour)}{stamp}-{suffix}.npz"


_RECEIVED_AT = re.compile(r"/(\d{8}T\d{6})(\d{3})-[^/]*\.npz$")
_HOUR = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


def received_at(key: str) -> datetime | None:
    """When a label object's labels arrived, from its key; None for a key that is not one."""
    match = _RECEIVED_AT.search(key)
    if match is None:
        return None
    at = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at + timedelta(milliseconds=int(match.group(2)))


def predictions_hour(key: str) -> datetime | None:
    """The hour of predictions a label (or joined) object is about, from its key."""
    match = _HOUR.search(key)
    if match is None:
        return None
    return datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def labels_npz(batch: LabelBatch) -> bytes:
    numeric = batch.values.dtype.kind in "fiu"
    arrays: dict[str, NDArray[Any]] = {
        "request_id": np.asarray(batch.request_ids, dtype=str),
        "row": np.asarray(batch.rows, dtype=np.int64),
        "label": np.asarray(batch.values, dtype=np.float64 if numeric else str),
    }
    meta = {
        "format": FORMAT_VERSION,
        "model": batch.model,
        "hour": batch.hour.isoformat(),
        "received_at": batch.received_at.isoformat(),
        "source": batch.source,
        "rows": len(batch.rows),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def read_labels(data: bytes) -> LabelBatch:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays.pop("meta")))
    return LabelBatch(
        model=meta["model"],
        hour=datetime.fromisoformat(meta["hour"]),
        request_ids=arrays["request_id"],
        rows=arrays["row"],
        values=arrays["label"],
        received_at=datetime.fromisoformat(meta["received_at"]),
        source=meta["source"],
    )


def concatenate(batches: Sequence[LabelBatch]) -> Labels:
    """Labels of several objects in arrival order (oldest object first), ready for `join_labels`."""
    ordered = sorted(batches, key=lambda b: b.received_at)
    if not ordered:
        return Labels(np.zeros(0, dtype="<U36"), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str))
    return Labels(
        np.concatenate([b.request_ids for b in ordered]),
        np.concatenate([b.rows for b in ordered]),
        np.concatenate([b.values for b in ordered]),
    )
