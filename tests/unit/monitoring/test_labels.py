"""Labels find the captured rows they are about: by request id and row, the latest label winning,
unknown ids counted, a request captured for two variants labelled in both (issue #19)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from mlops.monitoring.labels import Labels, join_labels, read_request_ids, rows_within_requests
from mlops.serving.request_ids import canonical, new_request_id

SEED = 20261205


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


# -- UUIDv7 request ids: read as numbers, joined exactly ---------------------------------------------


def _uuid7_ids(rng: np.random.Generator, n: int, start_ms: int = 1_798_761_600_000) -> NDArray[np.str_]:
    """Ids as predict mints them, over one hour, in minting order."""
    at = np.sort(rng.integers(start_ms, start_ms + 3_600_000, size=n))
    return np.array([new_request_id(int(ms), rng.bytes(10)) for ms in at])


def _merged(captured_ids: NDArray[Any], labels: Labels) -> tuple[list[int], list[Any], int, int]:
    """The same join in pandas: the reference every exact-path result is held to."""
    rows = rows_within_requests(np.asarray(captured_ids, dtype=str))
    frame = pd.DataFrame({"request_id": labels.request_ids, "row": labels.rows, "label": labels.values})
    latest = frame.drop_duplicates(["request_id", "row"], keep="last")
    captured = pd.DataFrame({"request_id": captured_ids, "row": rows, "at": np.arange(len(captured_ids))})
    joined = captured.merge(latest, on=["request_id", "row"]).sort_values("at")
    named = latest.merge(captured[["request_id", "row"]].drop_duplicates(), on=["request_id", "row"])
    return joined["at"].tolist(), joined["label"].tolist(), len(latest) - len(named), len(frame) - len(latest)


def _outcome(captured_ids: NDArray[Any], labels: Labels) -> tuple[list[int], list[Any], int, int]:
    joined = join_labels(captured_ids, labels)
    return joined.captured.tolist(), joined.labels.tolist(), joined.unmatched_labels, joined.superseded_labels


def _traffic(
    rng: np.random.Generator, request_ids: NDArray[np.str_], max_rows: int = 5
) -> tuple[NDArray[np.str_], Labels]:
    """Captured rows (a shadow answering a third of the requests again, in later batches) and
    labels for most of them, shuffled, some corrected later, some about ids never captured."""
    sizes = rng.integers(1, max_rows + 1, size=request_ids.size)
    champion = np.repeat(request_ids, sizes)
    shadowed = rng.random(request_ids.size) < 0.3
    captured = np.concatenate([champion, np.repeat(request_ids[shadowed], sizes[shadowed])])
    rows = rows_within_requests(champion)
    pick = np.flatnonzero(rng.random(champion.size) < 0.7)
    unknown = _uuid7_ids(rng, 40)
    ids = np.concatenate([champion[pick], unknown])
    label_rows = np.concatenate([rows[pick], rng.integers(0, 3, size=unknown.size)])
    shuffle = rng.permutation(ids.size)
    again = rng.choice(pick, size=pick.size // 5)
    labels = Labels(
        np.concatenate([ids[shuffle], champion[again]]),
        np.concatenate([label_rows[shuffle], rows[again]]),
        rng.integers(0, 3, size=ids.size + again.size),
    )
    return captured, labels


def test_uuid7_ids_are_read_as_the_numbers_they_spell() -> None:
    ids = _uuid7_ids(np.random.default_rng(SEED), 3000)
    read = read_request_ids(ids)
    assert read.uuid7.all()
    spelled = [(int(high) << 64) | int(low) for high, low in zip(read.high, read.low, strict=True)]
    assert spelled == [uuid.UUID(i).int for i in ids]


def test_only_a_canonical_uuid7_is_read_as_one() -> None:
    """The exact path takes exactly what `canonical` returns unchanged; every one-character change
    of a good id, whatever the character (a non-ASCII one whose low byte is a digit included), and
    every other shape goes to the general path."""
    good = new_request_id(1_798_761_600_000, bytes(range(10, 20)))
    # Non-ASCII code points whose low byte reads as "0", "a", "-" and "7", and a few others.
    characters = [chr(c) for c in range(128)] + ["\u0130", "\u0161", "\u012d", "\u0137", "\uff10", "\U0001f600"]
    mutated = [good[:at] + c + good[at + 1 :] for at in range(len(good)) for c in characters]
    others = [
        good.upper(),
        good[:-1],
        good + "0",
        good.replace("-", ""),
        "{" + good[1:-1] + "}",
        str(uuid.UUID(good[:14] + "4" + good[15:])),  # a UUIDv4
        str(uuid.UUID(good[:19] + "c" + good[20:])),  # another variant
        "",
        "legacy-0001",
    ]
    ids = np.array([good, *mutated, *others])
    expected = [canonical(i) == i for i in ids.tolist()]
    assert read_request_ids(ids).uuid7.tolist() == expected
    assert sum(expected) > 36  # the ones that change a digit into another stay valid
    assert read_request_ids(np.array([good])).uuid7.tolist() == [True]


def test_the_exact_path_equals_a_pandas_merge_on_uuid7_traffic() -> None:
    rng = np.random.default_rng(SEED)
    captured, labels = _traffic(rng, _uuid7_ids(rng, 3000))
    assert read_request_ids(captured).uuid7.all() and read_request_ids(labels.request_ids).uuid7.all()
    assert _outcome(captured, labels) == _merged(captured, labels)
    # However the labels arrive: in key order, or the reverse.
    order = np.argsort(labels.request_ids, kind="stable")
    for arrival in (order, order[::-1]):
        reordered = Labels(labels.request_ids[arrival], labels.rows[arrival], labels.values[arrival])
        assert _outcome(captured, reordered) == _merged(captured, reordered)


def test_ids_sharing_a_millisecond_and_random_bits_are_never_confused() -> None:
    """No collision on the exact path: ids whose first 64 bits are equal (the same millisecond and
    the same 12 random bits), ids whose last 64 bits are equal, and rows of long requests are all
    told apart."""
    rng = np.random.default_rng(SEED)
    twins = []
    for _ in range(50):
        tail = bytearray(rng.bytes(10))
        first = new_request_id(1_798_761_600_000 + int(rng.integers(0, 1000)), bytes(tail))
        tail[2:] = rng.bytes(8)  # same time and rand_a, another rand_b
        twins += [first, new_request_id(int(first[:8] + first[9:13], 16), bytes(tail))]
        same_low = bytearray(tail)
        twins.append(new_request_id(1_798_761_700_000 + int(rng.integers(0, 1000)), bytes(same_low)))
    ids = np.array(twins)
    read = read_request_ids(ids)
    assert (read.high[0::3] == read.high[1::3]).all() and (read.low[1::3] == read.low[2::3]).all()
    captured, labels = _traffic(rng, ids, max_rows=3)
    assert _outcome(captured, labels) == _merged(captured, labels)
    # Requests of 40 rows (6 row bits in the first word) and of 2,100 (10 bits: rows 0, 1024 and
    # 2048 share them; a third word tells them apart).
    for size, rows in ((40, [0, 16, 32, 5, 21, 0, 16]), (2100, [0, 1024, 2048, 5, 1029, 0, 1024])):
        big = np.repeat(ids[:2], size)
        wide = Labels(big[[0, 0, 0, 0, 0, size, size]], np.array(rows), np.arange(7))
        assert _outcome(big, wide) == _merged(big, wide)
        joined = join_labels(big, wide)
        expected = {rows[i] + (size if i >= 5 else 0): i for i in range(7)}
        assert dict(zip(joined.captured.tolist(), joined.labels.tolist(), strict=True)) == expected


def test_ids_that_are_not_uuid7_take_the_general_path_and_still_join() -> None:
    """Legacy ids, UUIDv4s and ids a client upper-cased join by hash next to UUIDv7 ids; an upper-
    cased id is another string, so it labels nothing (making ids canonical is the caller's job)."""
    rng = np.random.default_rng(SEED)
    modern = _uuid7_ids(rng, 400)
    legacy = np.array([f"order-{i:05d}" for i in range(200)] + [str(uuid.UUID(bytes=rng.bytes(16), version=4))])
    ids = np.concatenate([modern, legacy])[rng.permutation(modern.size + legacy.size)]
    captured, labels = _traffic(rng, ids)
    shouted = Labels(
        np.concatenate([labels.request_ids, [modern[0].upper()]]),
        np.concatenate([labels.rows, [0]]),
        np.concatenate([labels.values, [9]]),
    )
    assert not read_request_ids(captured).uuid7.all()
    assert _outcome(captured, shouted) == _merged(captured, shouted)
    assert 9 not in join_labels(captured, shouted).labels.tolist()
    # Object arrays of str (as pandas hands them over) join the same way.
    as_objects = Labels(shouted.request_ids.astype(object), shouted.rows, shouted.values)
    assert _outcome(captured.astype(object), as_objects) == _merged(captured, shouted)


def test_nothing_to_join() -> None:
    rng = np.random.default_rng(SEED)
    ids = _uuid7_ids(rng, 20)
    none = Labels(np.array([], dtype=str), np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert _outcome(ids, none) == ([], [], 0, 0)
    labels = Labels(ids[[0, 1, 1]], np.array([0, 0, 0]), np.array([1, 2, 3]))
    assert _outcome(np.array([], dtype=str), labels) == ([], [], 2, 1)
    assert _outcome(ids[:1], labels) == ([0], [1], 1, 1)


def test_rows_counted_per_batch_are_taken_as_given() -> None:
    """A request that ends one batch and starts the next (a champion's then a shadow's answer) has
    its rows counted per batch by the caller; both copies of each row are labelled, on either path."""
    for request in (new_request_id(1_798_761_600_000, bytes(10)), "order-1"):
        captured = np.array([request] * 4)
        labels = _labels((request, 0, "a"), (request, 1, "b"))
        joined = join_labels(captured, labels, captured_rows=np.array([0, 1, 0, 1]))
        assert joined.captured.tolist() == [0, 1, 2, 3] and joined.labels.tolist() == ["a", "b", "a", "b"]
        assert join_labels(captured, labels).captured.tolist() == [0, 1]  # counted as one request of 4 rows
    with pytest.raises(ValueError, match="as long as"):
        join_labels(np.array(["a", "b"]), _labels(("a", 0, 1)), captured_rows=np.array([0]))
