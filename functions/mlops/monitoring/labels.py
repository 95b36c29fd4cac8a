"""Ground truth meets captured predictions (issue #19): labels, which arrive late and more than once,
joined with the captured rows they are about, by the request's id and the row's place in it.

numpy only (the scheduled check runs on the inference layer). Request ids are UUIDv7 strings that
predict minted (`mlops.serving.request_ids`), so an id is read as the 128-bit number it spells: two
uint64 words, exact (no hash, no collision, no string compared afterwards), whose high bits are the
millisecond it was minted. Capture batches hold rows in answer order, so the captured side comes
nearly sorted; the labels are put in order by a counting sort of a 32-bit prefix of their keys, and
each captured row finds its label by a binary search whose successive keys are close. Anything that
is not a canonical UUIDv7 (an id from before they were minted, one a client upper-cased: making ids
canonical is the caller's job, `mlops.serving.request_ids.canonical`) takes the general path: a
64-bit hash of the id's characters and row, every match then checked against the ids themselves.
A string equal to a canonical UUIDv7 is one, so the two paths never share a match and join apart.

Rows of one request are contiguous in a capture batch, as serving writes them, so a row's place is
counted, not stored.
"""

from __future__ import annotations

import functools
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


@dataclass(frozen=True)
class RequestIdNumbers:
    """Request ids read as 128-bit numbers: `high` and `low` words of each canonical UUIDv7 (as
    `new_request_id` writes it: lowercase, hyphenated, version 7, RFC 9562 variant); where `uuid7`
    is False the id is something else and its words mean nothing."""

    high: NDArray[np.uint64]
    low: NDArray[np.uint64]
    uuid7: NDArray[np.bool_]


@dataclass(frozen=True)
class _Matches:
    captured: NDArray[np.int64]  # captured rows with a label, ascending
    label: NDArray[np.int64]  # the label (its place in arrival order) each one gets
    keys: int  # distinct (id, row) pairs the labels name
    used: int  # of which some captured row has


def rows_within_requests(request_ids: NDArray[np.str_]) -> NDArray[np.int64]:
    """Each captured row's place in its request (0, 1, …): requests' rows are contiguous."""
    return _places(_request_starts(request_ids))


def join_labels(
    captured_request_ids: NDArray[np.str_], labels: Labels, captured_rows: NDArray[np.int64] | None = None
) -> Joined:
    """The captured rows that have a label, with it; the latest label wins where a row got several.

    `captured_rows`: each captured row's place in its request, when the ids are several batches'
    concatenated (counted within each batch: one request may end a batch and start the next, the
    champion's answer in one version's batch and a shadow's in another's); counted here otherwise."""
    if captured_rows is not None and len(captured_rows) != len(captured_request_ids):
        raise ValueError("captured_rows must be as long as captured_request_ids")
    captured_request_ids, label_ids = _text(captured_request_ids), _text(labels.request_ids)
    captured = read_request_ids(captured_request_ids)
    labelled = read_request_ids(label_ids)
    if captured_rows is None and captured.uuid7.all():  # equal numbers, equal ids: no string compared
        starts = np.empty(len(captured.high), dtype=bool)
        starts[:1] = True
        np.not_equal(captured.high[1:], captured.high[:-1], out=starts[1:])
        starts[1:] |= captured.low[1:] != captured.low[:-1]
        captured_rows = _places(starts)
    elif captured_rows is None:
        captured_rows = rows_within_requests(captured_request_ids)
    captured_rows = np.asarray(captured_rows, dtype=np.int64)
    if captured.uuid7.all() and labelled.uuid7.all():
        matches = _exact_matches(captured.high, captured.low, captured_rows, labelled.high, labelled.low, labels.rows)
    else:
        matches = _both_paths(captured_request_ids, captured, captured_rows, label_ids, labels.rows, labelled)
    return Joined(
        captured=matches.captured,
        labels=labels.values[matches.label],
        unmatched_labels=matches.keys - matches.used,
        superseded_labels=len(labels.rows) - matches.keys,
    )


def _text(request_ids: NDArray[Any]) -> NDArray[np.str_]:
    """Ids as numpy text (code points of a fixed width), which both paths read: an object array of
    str is converted."""
    return request_ids if request_ids.dtype.kind == "U" else request_ids.astype(str)


def _request_starts(request_ids: NDArray[np.str_]) -> NDArray[np.bool_]:
    """True where a row's id differs from the row before: the first row of a request."""
    starts = np.empty(len(request_ids), dtype=bool)
    starts[:1] = True
    np.not_equal(request_ids[1:], request_ids[:-1], out=starts[1:])
    return starts


def _both_paths(
    captured_request_ids: NDArray[np.str_],
    captured: RequestIdNumbers,
    captured_rows: NDArray[np.int64],
    label_ids: NDArray[np.str_],
    label_rows: NDArray[np.int64],
    labelled: RequestIdNumbers,
) -> _Matches:
    """UUIDv7 ids joined exactly, the others by hash; an id in one set never equals one in the other."""
    exact_captured, exact_labels = np.flatnonzero(captured.uuid7), np.flatnonzero(labelled.uuid7)
    other_captured, other_labels = np.flatnonzero(~captured.uuid7), np.flatnonzero(~labelled.uuid7)
    exact = _exact_matches(
        captured.high[exact_captured],
        captured.low[exact_captured],
        captured_rows[exact_captured],
        labelled.high[exact_labels],
        labelled.low[exact_labels],
        label_rows[exact_labels],
    )
    hashed = _hashed_matches(
        captured_request_ids[other_captured],
        captured_rows[other_captured],
        label_ids[other_labels],
        label_rows[other_labels],
    )
    at = np.concatenate([exact_captured[exact.captured], other_captured[hashed.captured]])
    label = np.concatenate([exact_labels[exact.label], other_labels[hashed.label]])
    order = np.argsort(at, kind="stable")
    return _Matches(at[order], label[order], exact.keys + hashed.keys, exact.used + hashed.used)


# -- the exact path: UUIDv7 ids as numbers ----------------------------------------------------------

_PREFIX_BITS = 32
_LOW_16 = np.uint64(0xFFFF)  # of the high word: the version (always 7), then 12 random bits (rand_a)
_RAND_A = np.uint64(0xFFF)
_ROW_BITS = (4, 10)  # a row's bits in the first word: 4 in place of the version; up to 10 (1,000-row requests)


def _exact_matches(
    captured_high: NDArray[np.uint64],
    captured_low: NDArray[np.uint64],
    captured_rows: NDArray[np.int64],
    label_high: NDArray[np.uint64],
    label_low: NDArray[np.uint64],
    label_rows: NDArray[np.int64],
) -> _Matches:
    """Join on (id, row) as two or three words. The first is the high word's 48 bits of time, then
    the row's last 4 bits in place of the version (always 7), then the 12 random bits: it orders as
    the time does, and over an hour of labels a request's rows differ in the 32-bit prefix the
    labels are sorted by. The second is the low word. When a request has 16 rows or more the first
    holds up to 10 bits of the row and the random bits that no longer fit go, with the row, into a
    third. Exact: equal words, equal ids and rows."""
    if len(label_high) == 0:
        return _Matches(np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0)
    top_row = max(int(label_rows.max()), int(captured_rows.max()) if len(captured_rows) else 0)
    row_bits = min(max(top_row.bit_length(), _ROW_BITS[0]), _ROW_BITS[1])
    label_first = _first_word(label_high, label_rows, row_bits)
    order, base, shift = _order_by_prefix(label_first)
    first, low = label_first[order], label_low[order]
    third = _third_word(label_high[order], label_rows[order], row_bits) if row_bits > _ROW_BITS[0] else None
    # Equal prefixes keep arrival order (the counting sort is stable); where one prefix holds
    # different keys (a few hundred of a million labels in an hour), those runs are sorted by key,
    # then arrival.
    changes = _key_changes(first, low, third)
    prefix = first - base
    prefix >>= shift
    same_prefix = prefix[1:] == prefix[:-1]
    mixed = np.flatnonzero(same_prefix & changes[:-1])
    if mixed.size:
        _sort_runs(mixed, same_prefix, order, first, low, third)
        changes = _key_changes(first, low, third)
    # Labels now run in key order, a key's labels in arrival order: the last of a run is the one
    # that counts. Capture is in answer order, so successive searches land close to each other.
    n = len(first)
    captured_first = _first_word(captured_high, captured_rows, row_bits)
    captured_third = _third_word(captured_high, captured_rows, row_bits)
    found = np.searchsorted(first, captured_first, side="right")
    found -= 1  # the last label whose first word is not above the row's
    np.maximum(found, 0, out=found)
    at_found = first[found]
    same = at_found == captured_first
    same &= low[found] == captured_low
    if third is not None and captured_third is not None:
        same &= third[found] == captured_third
    # Several keys with one first word (same millisecond and random bits, or rows 2**10 apart):
    # the one that matches may be further back, and its last label is the first met walking back.
    candidates = np.flatnonzero(~same)
    candidates = candidates[at_found[candidates] == captured_first[candidates]]
    step = 1
    while candidates.size:
        candidates = candidates[found[candidates] >= step]
        back = found[candidates] - step
        still = first[back] == captured_first[candidates]
        candidates, back = candidates[still], back[still]
        equal = low[back] == captured_low[candidates]
        if third is not None and captured_third is not None:
            equal &= third[back] == captured_third[candidates]
        found[candidates[equal]] = back[equal]
        same[candidates[equal]] = True
        candidates = candidates[~equal]
        step += 1
    at = np.flatnonzero(same)
    label_at = found[at]
    used = np.zeros(n, dtype=bool)
    used[label_at] = True
    return _Matches(at, order[label_at], int(np.count_nonzero(changes)), int(np.count_nonzero(used)))


def _places(starts: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Each row's distance from the last row that started a request."""
    first_rows = np.flatnonzero(starts)
    places = np.arange(len(starts), dtype=np.int64)
    places -= np.repeat(first_rows, np.diff(first_rows, append=len(starts)))
    return places


def _first_word(high: NDArray[np.uint64], rows: NDArray[np.int64], row_bits: int) -> NDArray[np.uint64]:
    """The time, the row's last `row_bits` bits, then as many of the random bits as fit."""
    word = high & _RAND_A
    word >>= np.uint64(row_bits - _ROW_BITS[0])
    row = rows.astype(np.uint64)
    row &= np.uint64((1 << row_bits) - 1)
    row <<= np.uint64(16 - row_bits)
    word |= row
    word |= high & ~_LOW_16
    return word


def _third_word(high: NDArray[np.uint64], rows: NDArray[np.int64], row_bits: int) -> NDArray[np.uint64] | None:
    """The row and the random bits the first word has no room for; None when it has room for all."""
    if row_bits == _ROW_BITS[0]:
        return None
    word = high & np.uint64((1 << (row_bits - _ROW_BITS[0])) - 1)
    word <<= np.uint64(48)
    word |= rows.astype(np.uint64)
    return word


def _order_by_prefix(first: NDArray[np.uint64]) -> tuple[NDArray[np.int64], np.uint64, np.uint64]:
    """Arrival positions in the order of the words' top 32 bits above their minimum, stable, and
    that prefix's base and shift: two 16-bit counting sorts (numpy sorts 16-bit integers by radix),
    far cheaper than sorting 64-bit words."""
    base = first.min()
    shift = np.uint64(max(0, int(first.max() - base).bit_length() - _PREFIX_BITS))
    prefix = first - base
    prefix >>= shift
    prefix32 = prefix.astype(np.uint32)
    by_low = np.argsort(prefix32.astype(np.uint16), kind="stable")
    high = prefix32[by_low]
    high >>= np.uint32(16)
    order = by_low[np.argsort(high.astype(np.uint16), kind="stable")]
    return order, base, shift


def _key_changes(
    first: NDArray[np.uint64], low: NDArray[np.uint64], third: NDArray[np.uint64] | None
) -> NDArray[np.bool_]:
    """True where the next key differs (and at the end): the last label of each key."""
    changes = np.empty(len(first), dtype=bool)
    changes[-1:] = True
    np.not_equal(first[1:], first[:-1], out=changes[:-1])
    changes[:-1] |= low[1:] != low[:-1]
    if third is not None:
        changes[:-1] |= third[1:] != third[:-1]
    return changes


def _sort_runs(
    mixed: NDArray[np.int64],
    same_prefix: NDArray[np.bool_],
    order: NDArray[np.int64],
    first: NDArray[np.uint64],
    low: NDArray[np.uint64],
    third: NDArray[np.uint64] | None,
) -> None:
    """Sort, in place, the runs of one prefix that hold several keys: by key, then arrival."""
    run_starts = np.flatnonzero(np.r_[True, ~same_prefix])
    run = np.unique(np.searchsorted(run_starts, mixed, side="right") - 1)
    begin, end = run_starts[run], np.r_[run_starts, len(order)][run + 1]
    lengths = end - begin
    run_of = np.repeat(np.arange(len(begin)), lengths)
    inside = np.repeat(begin - np.cumsum(lengths) + lengths, lengths) + np.arange(len(run_of))
    columns = [order[inside]] + ([] if third is None else [third[inside]]) + [low[inside], first[inside], run_of]
    resorted = inside[np.lexsort(columns)]
    order[inside], first[inside], low[inside] = order[resorted], first[resorted], low[resorted]
    if third is not None:
        third[inside] = third[resorted]


# -- reading request ids ------------------------------------------------------------------------------

_BLOCK = 16_384  # ids per pass: the working arrays (about 600 kB each) stay in cache
_ID = 36
_WORDS = _ID // 4
# "xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx": the hyphens, the version digit, and the variant digit V
# (8, 9, a or b: its top two bits are 10), first of the fifth group of four digits.
_HYPHENS = (8, 13, 18, 23)
_VERSION_AT = 14
_VARIANT_GROUP = 4


@functools.lru_cache(maxsize=4)
def _patterns(rows: int) -> tuple[NDArray[np.uint32], ...]:
    """Per-word constants for a block of rows: the fixed characters' mask and bytes; the shifts
    that close the gaps the hyphens leave, four digits to a 32-bit word (word w of a row is its own
    bytes >> RIGHT | the next word's << LEFT; the ninth word is left over); bit 7 of each byte that
    must be a hex digit."""
    mask, fixed = [0] * _WORDS, [0] * _WORDS
    for at, char in [(h, ord("-")) for h in _HYPHENS] + [(_VERSION_AT, ord("7"))]:
        mask[at // 4] |= 0xFF << (8 * (at % 4))
        fixed[at // 4] |= char << (8 * (at % 4))
    right, left = [0, 0, 8, 16, 24, 32, 32, 32, 32], [32, 32, 24, 16, 8, 0, 0, 0, 0]
    digits = [0x80808080] * 8 + [0]
    return tuple(np.tile(np.array(words, dtype=np.uint32), rows) for words in (mask, fixed, right, left, digits))


def read_request_ids(request_ids: NDArray[np.str_]) -> RequestIdNumbers:
    """Each id as the 128-bit number a canonical UUIDv7 spells, and whether it is one.

    numpy keeps a str array as 4-byte code points; they are narrowed to bytes a block at a time,
    and each block is checked and converted in 32-bit words of four characters (SWAR): some thirty
    vectorised passes over data that stays in cache, instead of a loop over characters."""
    n = len(request_ids)
    width = request_ids.dtype.itemsize // 4 if request_ids.dtype.kind == "U" else 0
    if n == 0 or width < _ID:
        return RequestIdNumbers(np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.zeros(n, dtype=bool))
    high, low = np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint64)  # every row is written
    uuid7 = np.ones(n, dtype=bool)
    codes = np.ascontiguousarray(request_ids, dtype=f"<U{width}").view(np.uint32).reshape(n, width)
    block_rows = min(n, _BLOCK)
    fixed_mask, fixed, right, left, expected = _patterns(block_rows)
    text = np.zeros(block_rows * _ID + 4, dtype=np.uint8)  # a spare word: the last row's "next word"
    words = text.view(np.uint32)
    digits, scratch, flags = (np.empty(block_rows * _WORDS, np.uint32) for _ in range(3))
    packed = np.empty(block_rows * 2 * _WORDS, dtype=np.uint8)
    for start in range(0, n, block_rows):
        m = min(block_rows, n - start)
        size = m * _WORDS
        block = codes[start : start + m]
        valid = uuid7[start : start + m]
        np.copyto(text[: m * _ID].reshape(m, _ID), block[:, :_ID], casting="unsafe")
        w, d, s, flag = words[:size], digits[:size], scratch[:size], flags[:size]
        # Hyphens and the version digit where they belong.
        np.bitwise_and(w, fixed_mask[:size], out=s)
        np.bitwise_xor(s, fixed[:size], out=s)
        if s.max():
            valid[np.flatnonzero(s) // _WORDS] = False
        # Close the gaps: four digits to a word.
        np.right_shift(w, right[:size], out=d)
        np.left_shift(words[1 : size + 1], left[:size], out=s)
        np.bitwise_or(d, s, out=d)
        # Bit 7 of each byte: set when it is 0-9 ((b+0x50) ^ (b+0x46)) or a-f ((b+0x1f) ^ (b+0x19)),
        # the bytes being ASCII (checked below), so no byte carries into the next.
        np.add(d, 0x50505050, out=flag)
        for constant in (0x46464646, 0x1F1F1F1F, 0x19191919):
            np.add(d, constant, out=s)
            np.bitwise_xor(flag, s, out=flag)
        np.bitwise_and(flag, expected[:size], out=flag)
        np.bitwise_xor(flag, expected[:size], out=flag)  # set where a digit was expected and is not
        if flag.max():
            valid[np.flatnonzero(flag) // _WORDS] = False
        # Digits to nibbles: b + 9 for letters (bit 6 set), then the low four bits.
        np.right_shift(d, 6, out=s)
        np.bitwise_and(s, 0x01010101, out=s)
        np.multiply(s, 9, out=s)
        np.add(d, s, out=d)
        np.bitwise_and(d, 0x0F0F0F0F, out=d)
        # Four nibbles to two bytes in reading order: byte 0 (n0 n1) and byte 2 (n2 n3) of each
        # word, the low bytes of its two 16-bit halves, which narrowing them to bytes keeps.
        np.left_shift(d, 4, out=s)
        np.right_shift(d, 8, out=d)
        np.bitwise_or(s, d, out=s)
        rows = packed[: 2 * size].reshape(m, 2 * _WORDS)
        np.copyto(rows, s.view(np.uint16).reshape(m, 2 * _WORDS), casting="unsafe")
        valid &= (rows[:, 2 * _VARIANT_GROUP] & 0xC0) == 0x80
        high[start : start + m] = _big_endian(rows, 0)
        low[start : start + m] = _big_endian(rows, 8)
        if block.max() >= 0x80:  # a non-ASCII character narrowed to a byte could pass for a digit
            valid &= ~(block >= 0x80).any(axis=1)
        if width > _ID:  # a longer string in the array: these ids must end at 36 characters
            valid &= ~block[:, _ID:].any(axis=1)
    return RequestIdNumbers(high, low, uuid7)


def _big_endian(rows: NDArray[np.uint8], offset: int) -> NDArray[np.uint64]:
    """Eight bytes of each row, from `offset`, read as a big-endian number (a view)."""
    return np.ndarray((len(rows),), dtype=">u8", buffer=rows, offset=offset, strides=(rows.strides[0],))


# -- the general path: hashed keys, matches checked against the ids ----------------------------------


def _hashed_matches(
    captured_request_ids: NDArray[np.str_],
    captured_rows: NDArray[np.int64],
    label_ids: NDArray[np.str_],
    label_rows: NDArray[np.int64],
) -> _Matches:
    width = max(captured_request_ids.dtype.itemsize, label_ids.dtype.itemsize) // 4
    captured_keys = _keys(captured_request_ids, captured_rows, width)
    label_keys = _keys(label_ids, label_rows, width)
    n = len(captured_keys)
    # The latest label per key: the first occurrence in the reversed arrival order.
    latest_keys, reversed_first = np.unique(label_keys[::-1], return_index=True)
    latest = len(label_keys) - 1 - reversed_first
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
    same = (captured_request_ids[at] == label_ids[label_at]) & (captured_rows[at] == label_rows[label_at])
    at, label_at = at[same], label_at[same]
    used = np.zeros(len(latest_keys), dtype=bool)
    used[found[at]] = True
    return _Matches(at.astype(np.int64), label_at.astype(np.int64), len(latest_keys), int(np.count_nonzero(used)))


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
