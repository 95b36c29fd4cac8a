"""Where a byte stream of text records may be cut so that each piece holds whole records (issue #20):
the one splitter behind a partitioned upload's validation (`datasets.upload_plan`) and batch scoring
in parts (`serving.batch.parts`). Standard library only: the batch scoring functions carry no pandas,
pyarrow or pydantic.

A record ends at a newline *outside quoted fields*. The cutter counts quote characters: a newline
after an even number of them ends a record (RFC 4180 quoting, `""` inside a quoted field, keeps the
count even), one after an odd number lies inside a quoted field, and the cut moves to the next
newline that ends a record. A stream whose quote count is odd at its end (a field never closed, or
quotes inside unquoted fields) is refused (`SplitError`), never cut by a guess. JSON Lines has no
quoting across lines (a newline inside a JSON string is written `\\n`), so there every newline ends
a record (`quoted=False`).

`RecordCuts` takes the bytes in order, as they come (a file read in chunks, a gzip stream as it is
decompressed); `csv_ranges` is the whole-file use of it over ranged reads.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

from mlops.stray_quotes import ADVICE

SCAN_CHUNK = 8 << 20


class SplitError(ValueError):
    """A file the plan refuses to cut: names the file and why."""


class ByteSource(Protocol):
    """An object read by byte ranges (an S3 object through ranged GETs; bytes in tests)."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, stop: int) -> bytes:
        """Bytes `start` to `stop` (excluded)."""
        ...


@dataclass(frozen=True)
class BytesInMemory:
    """Bytes already in memory as a `ByteSource`: a file read whole (tests, estimates)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, stop: int) -> bytes:
        return self.data[start:stop]


@dataclass(frozen=True)
class Cut:
    """An offset just after a record's newline, and the newlines before it."""

    offset: int
    lines: int


class RecordCuts:
    """Finds the cuts in bytes fed in order: the end of the first line (`header_stop`), then the first
    record end at or past every `every` bytes since the previous cut."""

    def __init__(self, every: int, *, quoted: bool = True) -> None:
        self.every = every
        self.quoted = quoted
        self.fed = 0  # bytes taken so far
        self.quotes = 0
        self.lines = 0
        self.header_stop: int | None = None
        self._want = 0

    def feed(self, chunk: bytes) -> list[Cut]:
        """The cuts that fall in `chunk` (the first line's end is `header_stop`, not a cut)."""
        start, counted, cuts = self.fed, 0, []
        while True:
            look = max(counted, self._want - start)
            newline = chunk.find(b"\n", look) if look < len(chunk) else -1
            if newline < 0:
                break
            if self.quoted:
                self.quotes += chunk.count(b'"', counted, newline + 1)
            self.lines += chunk.count(b"\n", counted, newline + 1)
            counted = newline + 1
            if self.quotes % 2:
                continue  # inside a quoted field: the cut moves to the next newline that ends a record
            cut = start + counted
            if self.header_stop is None:
                self.header_stop = cut
            else:
                cuts.append(Cut(cut, self.lines))
            self._want = cut + self.every
        if self.quoted:
            self.quotes += chunk.count(b'"', counted)
        self.lines += chunk.count(b"\n", counted)
        self.fed += len(chunk)
        return cuts

    def finish(self) -> None:
        """Raises `SplitError` when the quotes never balanced: no line boundary can be trusted."""
        if self.quotes % 2:
            raise SplitError(
                f"it has an odd number of quote characters ({self.quotes}): a quote is stray (a quoted field "
                "never closed, or a quote inside an unquoted value), so no line boundary can be trusted to end a "
                f"record. Fix the file: {ADVICE}. Smaller files are no way around it: there a stray quote that "
                "swallows records is refused as stray_quote, naming its line"
            )


@dataclass(frozen=True)
class CsvRange:
    start: int
    stop: int
    line_offset: int


def csv_ranges(
    source: ByteSource, slice_bytes: int, *, chunk_bytes: int = SCAN_CHUNK, quoted: bool = True
) -> tuple[int, list[CsvRange]]:
    """(header bytes, the data's byte ranges): each range about `slice_bytes`, cut at the first newline
    at or past its target that lies outside quoted fields (module text). Reads the file once."""
    size = source.size
    cutter = RecordCuts(slice_bytes, quoted=quoted)
    cuts: list[Cut] = []
    for chunk_start in range(0, size, chunk_bytes):
        cuts += cutter.feed(source.read(chunk_start, min(size, chunk_start + chunk_bytes)))
    cutter.finish()
    header_stop = cutter.header_stop
    if header_stop is None or header_stop >= size:
        return (header_stop or size), [CsvRange(0, size, 0)]
    inner = [(cut.offset, cut.lines) for cut in cuts if cut.offset < size]
    bounds = [(header_stop, 1), *inner, (size, cutter.lines)]
    ranges = [CsvRange(start, stop, before) for (start, before), (stop, _) in itertools.pairwise(bounds)]
    return header_stop, ranges
