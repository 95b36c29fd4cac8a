"""The plan of a partitioned upload's validation: its files cut into slices that one Map child each
reads alone, written as the JSON Lines item list the Distributed Map reads (issue #20).

What a slice is, by format:
- **CSV** above `slice_bytes`: byte ranges that start and end at line boundaries *outside quoted
  fields* (`mlops.record_cuts`, the cutter batch scoring in parts shares). The plan reads the file
  once and counts quote characters: a newline after an even number of them ends a record (RFC 4180
  quoting, `""` inside a quoted field, keeps the count even), one after an odd number lies inside a
  quoted field, and the cut moves to the next newline that ends a record. A file whose quote count
  is odd at its end (a field never closed, or quotes inside unquoted fields) is refused
  (`SplitError`), never cut by a guess. A slice carries the byte length of the header line (the
  child reads it too) and the newlines before it, so that a problem a child finds is reported at the
  file's own byte and line (`partitioned_ingestion._slice_problem`, once the rows of the file's
  earlier slices give the records before it, which is how the reader counts lines).
- **Parquet**: runs of whole row groups up to `slice_bytes` of uncompressed data (a row group is
  never split; its rows are known from the footer, read with ranged GETs).
- **gzip CSV**, and any file not past `slice_bytes`: the whole file, one slice.

The cut into parts comes later (`mlops.datasets.partitions.plan_parts`, over every slice's rows),
so the slices decide only how the reading is spread, never the version.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from mlops.contracts.reading import GZIP_MAGIC, PARQUET_MAGIC
from mlops.names import COMMIT_MARKER
from mlops.record_cuts import ByteSource, SplitError, csv_ranges

MB = 1 << 20
DEFAULT_SLICE_BYTES = 128 * MB
Item = TypeVar("Item", bound=BaseModel)
SliceFormat = Literal["csv", "csv.gz", "parquet"]


@dataclass(frozen=True)
class UploadFile:
    """One file of the upload, as listed."""

    key: str
    size: int
    version_id: str | None = None


class Slice(BaseModel):
    """One Map child's share of the upload: a byte range of a CSV file, row groups of a Parquet file,
    or a whole file. One line of the item list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, description="its place in the upload's rows: slices are read in this order")
    key: str
    version_id: str | None = None
    format: SliceFormat
    start: int = Field(default=0, ge=0, description="CSV: first byte (a record's first byte)")
    stop: int = Field(ge=0, description="CSV: byte after the last; Parquet: the file's size")
    header_stop: int = Field(default=0, ge=0, description="CSV: bytes of the header line with its newline")
    line_offset: int = Field(
        default=0, ge=0, description="CSV: newlines before `start` (the file's line of its first row - 1)"
    )
    row_groups: tuple[int, int] | None = Field(
        default=None, description="Parquet: first row group, and the one after the last"
    )

    @property
    def file(self) -> str:
        """The file's name in the upload folder."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def span(self) -> str:
        """Which of the file's rows the slice holds, as a report says it."""
        if self.row_groups is not None:
            return f"row groups {self.row_groups[0]}-{self.row_groups[1] - 1}"
        if self.start:
            return f"bytes {self.start}-{self.stop - 1}"
        return "the whole file"

    @property
    def name(self) -> str:
        """How a report names the slice: the file, and the part of it (a whole file has start 0)."""
        return self.file if self.span == "the whole file" else f"{self.file}, {self.span}"


class RangedFile(io.RawIOBase):
    """A `ByteSource` as a seekable file, so pyarrow reads a Parquet footer with a few ranged reads."""

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self.source = source
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.source.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        stop = min(self.source.size, self.position + len(buffer))
        if stop <= self.position:
            return 0
        data = self.source.read(self.position, stop)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def parquet_row_group_runs(sizes: Sequence[int], slice_bytes: int) -> list[tuple[int, int]]:
    """Consecutive row groups, each run up to `slice_bytes` (a larger row group is a run alone)."""
    runs: list[tuple[int, int]] = []
    first, total = 0, 0
    for index, size in enumerate(sizes):
        if index > first and total + size > slice_bytes:
            runs.append((first, index))
            first, total = index, 0
        total += size
    if sizes:
        runs.append((first, len(sizes)))
    return runs


def file_slices(file: UploadFile, source: ByteSource, first_index: int, slice_bytes: int) -> list[Slice]:
    """One file's slices, numbered from `first_index`. Raises `SplitError` naming the file."""
    name = file.key.rsplit("/", 1)[-1]
    lower = name.lower()
    magic = source.read(0, min(4, file.size)) if file.size else b""
    if lower.endswith(".parquet") or lower.endswith(".pq") or magic == PARQUET_MAGIC:
        try:
            metadata = pq.ParquetFile(RangedFile(source)).metadata
        except Exception:  # a corrupt footer: the child reading the whole file names the problem
            return [
                Slice(index=first_index, format="parquet", stop=file.size, key=file.key, version_id=file.version_id)
            ]
        sizes = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
        runs = parquet_row_group_runs(sizes, slice_bytes) or [(0, 0)]
        return [
            Slice(
                index=first_index + n,
                format="parquet",
                stop=file.size,
                row_groups=run,
                key=file.key,
                version_id=file.version_id,
            )
            for n, run in enumerate(runs)
        ]
    if magic[:2] == GZIP_MAGIC or lower.endswith(".gz"):
        return [Slice(index=first_index, format="csv.gz", stop=file.size, key=file.key, version_id=file.version_id)]
    if file.size <= slice_bytes:
        return [Slice(index=first_index, format="csv", stop=file.size, key=file.key, version_id=file.version_id)]
    try:
        header_stop, ranges = csv_ranges(source, slice_bytes)
    except SplitError as error:
        raise SplitError(f"{name}: {error}") from None
    return [
        Slice(
            index=first_index + n,
            format="csv",
            start=r.start,
            stop=r.stop,
            header_stop=header_stop,
            line_offset=r.line_offset,
            key=file.key,
            version_id=file.version_id,
        )
        for n, r in enumerate(ranges)
    ]


def upload_files(listed: Sequence[UploadFile]) -> list[UploadFile]:
    """The data files of an upload folder, in key order: the commit marker and folder objects left out."""
    chosen = [f for f in listed if not f.key.endswith("/") and f.key.rsplit("/", 1)[-1] != COMMIT_MARKER]
    return sorted(chosen, key=lambda f: f.key)


def item_lines(items: Sequence[BaseModel]) -> bytes:
    """The Distributed Map's item list: one JSON object per line."""
    return "".join(item.model_dump_json() + "\n" for item in items).encode()


def read_items(data: bytes, model: type[Item]) -> list[Item]:
    """The item list back (the cut and the tests read it)."""
    return [model.model_validate(json.loads(line)) for line in data.decode().splitlines() if line.strip()]
