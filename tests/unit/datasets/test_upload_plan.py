"""The plan of a partitioned upload: a big CSV cut into byte ranges only where a record ends (a cut
that would land inside a quoted field moves, and a file whose quoting cannot be trusted is refused),
Parquet cut by whole row groups, and every slice read alone gives back the file's rows in order."""

from __future__ import annotations

import gzip
import io
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops.contracts.reading import read_table
from mlops.datasets.upload_plan import (
    Slice,
    UploadFile,
    file_slices,
    item_lines,
    read_items,
    upload_files,
)
from mlops.names import COMMIT_MARKER
from mlops.record_cuts import SplitError, csv_ranges


class Bytes:
    """A `ByteSource` over bytes, counting the reads (the plan must not read a Parquet file whole)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read_bytes = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, stop: int) -> bytes:
        self.read_bytes += stop - start
        return self.data[start:stop]


def notes_csv(rows: int = 600, seed: int = 7) -> bytes:
    """Rows whose `note` is often a quoted field with newlines, commas and doubled quotes in it."""
    rng = np.random.default_rng(seed)
    notes = rng.choice(["plain", 'said "no"\nthen left', "line one\nline two\nline three", "a, b", ""], rows)
    frame = pd.DataFrame({"id": np.arange(rows), "value": rng.normal(size=rows).round(6), "note": notes})
    return str(frame.to_csv(index=False)).encode()


def slice_rows(data: bytes, piece: Slice) -> pd.DataFrame:
    """A CSV slice read as its Map child reads it: the header line, then its byte range."""
    body = data[: piece.header_stop] + data[piece.start : piece.stop] if piece.start else data[: piece.stop]
    return read_table(body, filename="slice.csv", contract=None)


def test_byte_ranges_start_at_records_and_read_back_into_the_whole_file() -> None:
    data = notes_csv()
    source = Bytes(data)
    slices = file_slices(UploadFile("raw/notes/may/notes.csv", len(data)), source, 0, slice_bytes=2_000)
    assert len(slices) > 5
    assert [s.index for s in slices] == list(range(len(slices)))
    assert slices[0].start == slices[0].header_stop == data.index(b"\n") + 1
    assert all(a.stop == b.start for a, b in itertools.pairwise(slices)) and slices[-1].stop == len(data)
    whole = read_table(data, filename="notes.csv", contract=None)
    pieces = pd.concat([slice_rows(data, s) for s in slices], ignore_index=True)
    pd.testing.assert_frame_equal(pieces, whole)
    for piece in slices:  # each slice says the line its first row is on in the file
        assert data[: piece.start].count(b"\n") == piece.line_offset


def test_a_cut_that_would_fall_inside_a_quoted_field_moves_to_the_record_end() -> None:
    data = notes_csv(rows=400, seed=3)
    # Cuts tried at many targets: wherever the first newline past a target is inside a quoted field,
    # the naive cut (that newline) would split a record; the plan's cut is never there.
    moved = 0
    for slice_bytes in range(500, 1_500, 37):
        _header, ranges = csv_ranges(Bytes(data), slice_bytes, chunk_bytes=211)
        for before, after in itertools.pairwise(ranges):
            target = before.start + slice_bytes
            naive = data.index(b"\n", target) + 1
            assert data[: after.start].count(b'"') % 2 == 0  # the cut ends a record
            if data[:naive].count(b'"') % 2:
                moved += 1
                assert after.start > naive
    assert moved > 10  # the seeded data does put targets inside quoted fields


def test_a_file_whose_quotes_never_close_is_refused_naming_it() -> None:
    data = notes_csv(rows=300) + b'300,0.5,"this note is never closed\n301,0.1,plain\n'
    with pytest.raises(SplitError, match=r"notes\.csv: it has an odd number of quote characters"):
        file_slices(UploadFile("raw/notes/may/notes.csv", len(data)), Bytes(data), 0, slice_bytes=2_000)


def test_small_and_gzip_files_are_one_slice_each() -> None:
    data = notes_csv(rows=50)
    assert len(file_slices(UploadFile("raw/n/u/a.csv", len(data)), Bytes(data), 3, 1_000_000)) == 1
    packed = gzip.compress(notes_csv(rows=600))
    (whole,) = file_slices(UploadFile("raw/n/u/b.csv.gz", len(packed)), Bytes(packed), 4, 1_000)
    assert (whole.index, whole.format, whole.start, whole.stop) == (4, "csv.gz", 0, len(packed))


def test_parquet_is_cut_by_whole_row_groups_read_from_its_footer() -> None:
    frame = pd.DataFrame({"id": np.arange(100_000), "value": np.random.default_rng(1).normal(size=100_000)})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=10_000)
    data = buffer.getvalue()
    source = Bytes(data)
    group_bytes = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).total_byte_size
    slices = file_slices(UploadFile("raw/n/u/t.parquet", len(data)), source, 0, slice_bytes=3 * group_bytes)
    assert [s.row_groups for s in slices] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert source.read_bytes < len(data) / 10  # the footer (pyarrow reads its last 64 KB), not the data
    parquet = pq.ParquetFile(io.BytesIO(data))
    rows = pd.concat(
        [parquet.read_row_groups(list(range(*s.row_groups))).to_pandas() for s in slices if s.row_groups],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(rows, frame)
    assert slices[1].name == "t.parquet, row groups 3-5"


def test_the_item_list_is_json_lines_of_the_upload_files_in_key_order() -> None:
    listed = [
        UploadFile("raw/n/u/b.csv", 10),
        UploadFile(f"raw/n/u/{COMMIT_MARKER}", 0),
        UploadFile("raw/n/u/a.csv", 20),
        UploadFile("raw/n/u/", 0),
    ]
    assert [f.key for f in upload_files(listed)] == ["raw/n/u/a.csv", "raw/n/u/b.csv"]
    items = [Slice(index=0, key="raw/n/u/a.csv", format="csv", stop=20)]
    data = item_lines(items)
    assert data.count(b"\n") == 1 and read_items(data, Slice) == items
