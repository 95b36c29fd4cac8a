"""Ground truth meets captured predictions (issue #19): labels, which arrive late and more than once,
joined with the captured rows they are about, by the request's id and the row's place in it.

numpy only (the scheduled check runs on the inference layer): ids become integer codes, a
(request, row) pair one int64 key, and the join is a sorted intersection. Rows of one request are
contiguous in a capture batch, as serving writes them, so a row's place is counted, not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Labels:
    """Labels in the order they arrived: the request id and row each is about, and its value."""

    request_ids: NDArray[np.str_]
    rows: NDArray[np.int64]
    values: NDArray[Any]

    def __post_init__(self) -> None:
        if not (len(self.request_ids) == len(self.rows) == len(self.values)):
            raise ValueError("request_ids, rows and values must be as long as each other")
        if len(self.rows) and int(self.rows.min()) < 0:
            raise ValueError("a label's row is its place in the request, counted from 0")


@dataclass(frozen=True)
class Joined:
    captured: NDArray[np.int64]  # which captured rows have a label (indices, ascending)
    labels: NDArray[Any]  # their labels, the latest one where a row got several
    unmatched_labels: int  # labels about no captured row (an unknown id, a row not captured)
    superseded_labels: int  # earlier labels for a row that a later one replaced


def rows_within_requests(request_ids: NDArray[np.str_]) -> NDArray[np.int64]:
    """Each captured row's place in its request (0, 1, …): requests' rows are contiguous."""
    n = len(request_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, request_ids[1:] != request_ids[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)


def join_labels(captured_request_ids: NDArray[np.str_], labels: Labels) -> Joined:
    """The captured rows that have a label, with it; the latest label wins where a row got several."""
    captured_rows = rows_within_requests(captured_request_ids)
    _, inverse = np.unique(np.concatenate([captured_request_ids, labels.request_ids]), return_inverse=True)
    width = max(int(captured_rows.max(initial=0)), int(labels.rows.max(initial=0))) + 1
    n = len(captured_request_ids)
    captured_keys = inverse[:n].astype(np.int64) * width + captured_rows
    label_keys = inverse[n:].astype(np.int64) * width + labels.rows
    # The latest label per key: the first occurrence in the reversed arrival order.
    latest_keys, reversed_first = np.unique(label_keys[::-1], return_index=True)
    latest = len(label_keys) - 1 - reversed_first
    # A request captured twice (the champion's answer and a shadow's) has both its rows labelled.
    found = np.searchsorted(latest_keys, captured_keys)
    inside = found < len(latest_keys)
    matched = np.zeros(n, dtype=bool)
    matched[inside] = latest_keys[found[inside]] == captured_keys[inside]
    used = np.zeros(len(latest_keys), dtype=bool)
    used[found[matched]] = True
    return Joined(
        captured=np.flatnonzero(matched).astype(np.int64),
        labels=labels.values[latest[found[matched]]],
        unmatched_labels=int(np.count_nonzero(~used)),
        superseded_labels=len(label_keys) - len(latest_keys),
    )
