"""Ground truth meets captured predictions (issue #19): labels, which arrive late and more than once,
joined with the captured rows they are about, by the request's id and the row's place in it.

numpy only (the scheduled check runs on the inference layer): a (request, row) pair becomes one
64-bit key (a hash, every match then checked against the ids themselves), and the join is a sort
and a binary search. Rows of one request are
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


def join_labels(
    captured_request_ids: NDArray[np.str_], labels: Labels, captured_rows: NDArray[np.int64] | None = None
) -> Joined:
    """The captured rows that have a label, with it; the latest label wins where a row got several.

    `captured_rows`: each captured row's place in its request, when the ids are several batches'
    concatenated (counted within each batch: one request may end a batch and start the next, the
    champion's answer in one version's batch and a shadow's in another's); counted here otherwise."""
    if captured_rows is None:
        captured_rows = rows_within_requests(captured_request_ids)
    elif len(captured_rows) != len(captured_request_ids):
        raise ValueError("captured_rows must be as long as captured_request_ids")
    width = max(captured_request_ids.dtype.itemsize, labels.request_ids.dtype.itemsize) // 4
    captured_keys = _keys(captured_request_ids, captured_rows, width)
    label_keys = _keys(labels.request_ids, labels.rows, width)
    n = len(captured_keys)
    # The latest label per key: the first occurrence in the reversed arrival order.
    latest_keys, reversed_first = np.unique(label_keys[::-1], return_index=True)
    latest = len(label_keys) - 1 - reversed_first
    # A request captured twice (the champion's answer and a shadow's) has both its rows labelled.
    # Searching in key order touches memory in order: several times faster than in capture order.
    order = np.argsort(captured_keys, kind="stable")
    found = np.empty(n, dtype=np.int64)
    found[order] = np.searchsorted(latest_keys, captured_keys[order])
    inside = found < len(latest_keys)
    matched = np.zeros(n, dtype=bool)
    matched[inside] = latest_keys[found[inside]] == captured_keys[inside]
    # A key is a 64-bit hash: the ids and rows of every match are compared as well.
    at = np.flatnonzero(matched)
    label_at = latest[found[at]]
    same = (captured_request_ids[at] == labels.request_ids[label_at]) & (captured_rows[at] == labels.rows[label_at])
    at, label_at = at[same], label_at[same]
    used = np.zeros(len(latest_keys), dtype=bool)
    used[found[at]] = True
    return Joined(
        captured=at.astype(np.int64),
        labels=labels.values[label_at],
        unmatched_labels=int(np.count_nonzero(~used)),
        superseded_labels=len(label_keys) - len(latest_keys),
    )


# Odd 64-bit multipliers: a polynomial hash of an id's characters, then its row mixed in.
_BASE = np.uint64(0x9E3779B97F4A7C15)
_ROW = np.uint64(0xC2B2AE3D27D4EB4F)


def _keys(request_ids: NDArray[np.str_], rows: NDArray[np.int64], width: int) -> NDArray[np.uint64]:
    """One 64-bit key per (request id, row): the ids' characters hashed column by column, so the
    join sorts integers, not strings (sorting a million ids as text is what made it slow)."""
    codes = np.ascontiguousarray(request_ids, dtype=f"<U{max(width, 1)}").view(np.uint32)
    codes = codes.reshape(len(request_ids), max(width, 1))
    key = np.zeros(len(request_ids), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(codes.shape[1]):
            key = key * _BASE + codes[:, column].astype(np.uint64)
        return key ^ (rows.astype(np.uint64) * _ROW)
