"""A joined hour round-trips; hours combine into a window, and a window splits by version."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mlops.monitoring.joined import JoinedHour, combine, joined_key, joined_npz, read_joined, select


def _hour(hour: int, fields: dict[str, str], version: int) -> JoinedHour:
    inputs = {"age": np.array([31.0, np.nan]), "city": np.array(["Lyon", ""])}
    return JoinedHour(
        model="churn",
        hour=datetime(2026, 12, 1, hour, tzinfo=UTC),
        request_ids=np.array(["r1", "r2"]),
        rows=np.array([0, 1]),
        versions=np.array([version, version]),
        variants=np.array(["champion", "champion"]),
        predictions=np.array(["yes", "no"]),
        probabilities=np.array([[0.2, 0.8], [0.7, 0.3]], dtype=np.float32),
        labels=np.array(["yes", "yes"]),
        answered_ms=np.array([1, 2]),
        labelled_ms=np.array([3, 4]),
        classes=["no", "yes"],
        fields=fields,
        inputs={n: inputs[n] for n in fields},
        missing={"city": np.array([False, True])} if "city" in fields else {},
        predicted={version: 10},
        label_rows=3,
        unmatched_labels=1,
        superseded_labels=0,
        joined_at=datetime(2026, 12, 2, tzinfo=UTC),
    )


def test_an_hour_round_trips_with_its_inputs_and_counts() -> None:
    hour = _hour(9, {"age": "numeric", "city": "categorical"}, 1)
    back = read_joined(joined_npz(hour))
    assert back.labels.tolist() == ["yes", "yes"] and back.predicted == {1: 10} and back.unmatched_labels == 1
    assert np.isnan(back.inputs["age"][1]) and back.missing["city"].tolist() == [False, True]
    assert back.probabilities is not None and back.probabilities.shape == (2, 2)
    assert joined_key("churn", hour.hour) == "joined/churn/date=2026-12-01/hour=09/joined.npz"


def test_hours_combine_into_a_window_and_split_by_version() -> None:
    window = combine([_hour(9, {"age": "numeric", "city": "categorical"}, 1), _hour(10, {"age": "numeric"}, 2)])
    assert window is not None and window.size == 4 and window.predicted == {1: 10, 2: 10}
    assert window.missing["city"].tolist() == [False, True, True, True]  # hour 10 lacked the input
    second = select(window, window.versions == 2)
    assert second.size == 2 and second.inputs["age"][0] == 31.0
    assert combine([]) is None
