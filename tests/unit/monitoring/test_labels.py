"""Labels find the captured rows they are about: by request id and row, the latest label winning,
unknown ids counted, a request captured for two variants labelled in both (issue #19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops.monitoring.labels import Labels, join_labels, rows_within_requests


def _labels(*items: tuple[str, int, object]) -> Labels:
    ids, rows, values = zip(*items, strict=True) if items else ((), (), ())
    return Labels(np.array(ids, dtype=str), np.array(rows, dtype=np.int64), np.array(values, dtype=object))


def test_a_rows_place_in_its_request_is_counted_from_the_capture() -> None:
    ids = np.array(["a", "a", "a", "b", "c", "c"])
    assert rows_within_requests(ids).tolist() == [0, 1, 2, 0, 0, 1]
    assert rows_within_requests(np.array([], dtype=str)).tolist() == []


def test_late_duplicate_and_unknown_labels() -> None:
    captured = np.array(["r1", "r1", "r2", "r3"])
    joined = join_labels(
        captured,
        _labels(("r1", 1, "yes"), ("r2", 0, "no"), ("r1", 1, "no"), ("zz", 0, "yes"), ("r2", 5, "no")),
    )
    assert joined.captured.tolist() == [1, 2]
    assert joined.labels.tolist() == ["no", "no"]  # r1 row 1: the later label wins
    assert (joined.unmatched_labels, joined.superseded_labels) == (2, 1)  # an unknown id, a row never captured


def test_a_request_captured_for_the_champion_and_a_shadow_is_labelled_in_both() -> None:
    captured = np.array(["r1", "r1", "r1", "r1"])  # two rows, answered by champion then shadow batches
    captured_twice = np.concatenate([captured[:2], np.array(["r9"]), captured[2:]])
    joined = join_labels(captured_twice, _labels(("r1", 0, 1), ("r1", 1, 0)))
    assert joined.captured.tolist() == [0, 1, 3, 4] and joined.labels.tolist() == [1, 0, 1, 0]
    assert joined.unmatched_labels == 0


def test_the_join_equals_a_pandas_merge_on_random_traffic() -> None:
    rng = np.random.default_rng(20261205)
    sizes = rng.integers(1, 6, size=4000)
    request_ids = np.repeat(np.array([f"req-{i:05d}" for i in range(sizes.size)]), sizes)
    rows = rows_within_requests(request_ids)
    pick = rng.random(request_ids.size) < 0.6
    label_ids = np.concatenate([request_ids[pick], np.array([f"ghost-{i}" for i in range(50)])])
    label_rows = np.concatenate([rows[pick], np.zeros(50, dtype=np.int64)])
    shuffle = rng.permutation(label_ids.size)
    # 300 rows labelled again later (a correction): the later label must win, as keep="last" says.
    again = rng.choice(np.flatnonzero(pick), size=300, replace=False)
    labels = Labels(
        np.concatenate([label_ids[shuffle], request_ids[again]]),
        np.concatenate([label_rows[shuffle], rows[again]]),
        rng.integers(0, 3, size=label_ids.size + 300),
    )
    joined = join_labels(request_ids, labels)
    frame = pd.DataFrame({"request_id": labels.request_ids, "row": labels.rows, "label": labels.values})
    latest = frame.drop_duplicates(["request_id", "row"], keep="last")
    captured = pd.DataFrame({"request_id": request_ids, "row": rows, "at": np.arange(request_ids.size)})
    expected = captured.merge(latest, on=["request_id", "row"]).sort_values("at")
    assert joined.captured.tolist() == expected["at"].tolist()
    assert joined.labels.tolist() == expected["label"].tolist()
    assert (joined.unmatched_labels, joined.superseded_labels) == (50, 300)


def test_labels_must_line_up_and_rows_count_from_zero() -> None:
    with pytest.raises(ValueError, match="as long as each other"):
        Labels(np.array(["a"]), np.array([0, 1]), np.array([1]))
    with pytest.raises(ValueError, match="counted from 0"):
        Labels(np.array(["a"]), np.array([-1]), np.array([1]))
