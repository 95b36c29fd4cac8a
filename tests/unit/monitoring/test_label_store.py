"""Label objects round-trip, and their keys say which hour of predictions and when they arrived."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mlops.monitoring.label_store import (
    LabelBatch,
    concatenate,
    hour_of,
    label_key,
    labels_npz,
    predictions_hour,
    read_labels,
    received_at,
)


def _batch(values: np.ndarray, received: datetime) -> LabelBatch:
    return LabelBatch(
        model="churn",
        hour=hour_of(datetime(2026, 12, 1, 9, 41, tzinfo=UTC)),
        request_ids=np.array(["a", "b"]),
        rows=np.array([0, 3]),
        values=values,
        received_at=received,
        source="api key-1",
    )


def test_class_and_number_labels_round_trip() -> None:
    received = datetime(2026, 12, 4, 18, 0, 0, 125000, tzinfo=UTC)
    for values in (np.array(["yes", "no"]), np.array([1.5, -2.0])):
        back = read_labels(labels_npz(_batch(values, received)))
        assert back.values.tolist() == values.tolist() and back.values.dtype.kind == values.dtype.kind
        assert back.rows.tolist() == [0, 3] and back.request_ids.tolist() == ["a", "b"]
        assert (back.hour, back.received_at, back.source) == (
            datetime(2026, 12, 1, 9, tzinfo=UTC),
            received,
            "api key-1",
        )


def test_the_key_is_the_predictions_hour_then_the_arrival_time() -> None:
    received = datetime(2026, 12, 4, 18, 0, 0, 125000, tzinfo=UTC)
    key = label_key(_batch(np.array(["yes", "no"]), received), "abc")
    assert key == "labels/churn/date=2026-12-01/hour=09/20261204T180000125-abc.npz"
    assert received_at(key) == received and predictions_hour(key) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert received_at("labels/churn/readme.txt") is None and predictions_hour("x") is None


def test_labels_of_several_objects_are_in_arrival_order() -> None:
    late = _batch(np.array(["no", "no"]), datetime(2026, 12, 5, tzinfo=UTC))
    early = _batch(np.array(["yes", "yes"]), datetime(2026, 12, 2, tzinfo=UTC))
    assert concatenate([late, early]).values.tolist() == ["yes", "yes", "no", "no"]
    assert len(concatenate([]).rows) == 0
