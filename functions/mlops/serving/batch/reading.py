"""Reading an input file as a stream, chunk by chunk, into the records a prediction request carries.

CSV or JSON Lines, plain or gzip (told by content, not by name). Memory is bounded by the chunk,
never by the file. Row numbers follow the ingestion reports: `row` is the 1-based data row, the
first row after the header (or the first JSON object) being 1; blank lines are not rows. A row that
cannot be read gets its problem; only what makes the whole file unusable raises BatchFileError.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops.serving.batch.keys import Format
from mlops.serving.inputs import Problem
from mlops.serving.signature import ServedInput, ServedSignature
from mlops.stray_quotes import RecordLines, stray_quote

ID_COLUMNS = ("id", "row_id")  # copied to the output so results join back to the caller's rows
DEFAULT_CHUNK_ROWS = 10_000
MAX_LINE_CHARS = 1 << 20  # a longer JSON line is a row error, read in pieces, never held whole
MAX_NAMED_COLUMNS = 50  # ignored columns named in the summary (JSON Lines rows may each add new ones)
READ_BUFFER_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
NOT_UTF8 = "the row holds bytes that are not UTF-8: save the file as UTF-8"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class BatchFileError(Exception):
    """The file as a whole cannot be scored: a stable code and a message for the person who uploaded it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BrokenRowError(BatchFileError):
    """The file breaks mid-way: readable up to row `row`, then `reason`. Kept apart so that a slice read
    on its own (batch scoring in parts) can say the file's row once the rows before it are known."""

    def __init__(self, code: str, row: int, reason: str) -> None:
        super().__init__(code, f"after row {row} {reason}")
        self.row = row
        self.reason = reason


class Readable(Protocol):
    """A binary stream: a file, BytesIO, or botocore's StreamingBody."""

    def read(self, amt: int, /) -> bytes: ...


class _RawStream(io.RawIOBase):
    """Any `read(n)` source as a raw stream, so io.BufferedReader can peek at it and gzip can wrap it."""

    def __init__(self, source: Readable) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)


def binary_stream(source: Readable) -> io.BufferedReader[_RawStream] | gzip.GzipFile:
    """The bytes of a plain or gzip stream, decompressed: gzip is told by its magic bytes, as ingestion
    tells it, so a gzip file named `.csv` reads as well as one named `.csv.gz`."""
    buffered = io.BufferedReader(_RawStream(source), buffer_size=READ_BUFFER_BYTES)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    return buffered


def text_stream(source: Readable) -> io.TextIOWrapper:
    """UTF-8 text (a leading BOM dropped) from a plain or gzip stream (`binary_stream`)."""
    binary = binary_stream(source)
    # Bytes that are not UTF-8 become lone surrogates, so the rows holding them are found and reported
    # one by one (a decode error would surface a block ahead of its row, and fail the whole file).
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


@dataclass
class InputChunk:
    """Up to `chunk_rows` consecutive rows: their numbers, the records for `encode_request` (None for a
    row that could not be read at all) and the problems found reading them, by position in the chunk."""

    numbers: list[int]
    records: list[dict[str, Any] | None]
    ids: list[list[str]]  # one text per id column, per row
    problems: dict[int, list[Problem]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.numbers)


class BatchInput:
    """An input file opened against a model's signature: columns checked, rows read chunk by chunk."""

    def __init__(
        self, text: io.TextIOWrapper, fmt: Format, signature: ServedSignature, *, rows_before: int = 0
    ) -> None:
        self.format = fmt
        self.signature = signature
        self.rows_read = 0
        self._text = text
        self._fields = [spec.name for spec in signature.inputs]
        self._known = set(self._fields)
        self.id_columns: list[str] = []
        self._ignored: dict[str, None] = {}  # ordered set, first seen first
        self._first: tuple[int, str | None] | None = None  # JSON Lines: the object read to check columns
        self._header: list[str] = []
        # Lines of a piece of the file (rows_before) are not the file's: there a stray quote names its row.
        self._lines_read: int | None = None if rows_before else 0
        if fmt == "csv":
            self._record_lines = RecordLines(text)
            self._csv = csv.reader(self._record_lines)
            self._start_csv()
        else:
            self._start_jsonl()
            if rows_before:  # the file's first object, put before a later slice: its columns, not a row
                self._first = None
        self.rows_read = rows_before or self.rows_read

    @property
    def ignored_columns(self) -> list[str]:
        return list(self._ignored)

    def _ignore(self, names: Sequence[str]) -> None:
        for name in names:
            if name not in self._known and name not in ID_COLUMNS and len(self._ignored) < MAX_NAMED_COLUMNS:
                self._ignored[name] = None

    def _check_columns(self, names: Sequence[str], where: str) -> None:
        missing = [name for name in self._fields if name not in set(names)]
        if missing:
            shown = ", ".join(repr(n) for n in list(names)[:20]) + (", …" if len(names) > 20 else "")
            raise BatchFileError(
                "missing_columns",
                f"{where} lacks the model's input column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} (it has {shown or 'none'})",
            )
        self.id_columns = [name for name in ID_COLUMNS if name in names]
        self._ignore(names)

    # -- CSV --
    def _start_csv(self) -> None:
        header = next((row for row in self._csv_rows() if row), None)
        if header is None:
            raise BatchFileError("empty_file", "the file is empty: its first line must name the columns")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise BatchFileError(
                "duplicate_columns", f"the header names {', '.join(map(repr, repeated))} more than once"
            )
        self._header = header
        self._check_columns(header, "the header")
        self._positions = {name: header.index(name) for name in header}

    def _csv_chunks(self, size: int) -> Iterator[InputChunk]:
        width = len(self._header)
        numbers: list[int] = []
        cells: list[list[str]] = []
        for row in self._csv_rows():
            if not row:
                continue  # a blank line is not a row (as ingestion reads CSV)
            self.rows_read += 1
            numbers.append(self.rows_read)
            cells.append(row)
            if len(numbers) == size:
                yield self._csv_chunk(numbers, cells, width)
                numbers, cells = [], []
        if numbers:
            yield self._csv_chunk(numbers, cells, width)

    def _csv_chunk(self, numbers: list[int], cells: list[list[str]], width: int) -> InputChunk:
        """Column by column: each model column's texts converted in one pass (the fast path is a list of
        float() calls), then zipped into one record per row."""
        problems: dict[int, list[Problem]] = {}
        for i, row in enumerate(cells):
            if len(row) != width:
                message = f"the row has {len(row)} values, the header names {width} columns"
                problems[i] = [Problem("ragged_row", message, i)]
            elif not _utf8(row):
                problems[i] = [Problem("not_utf8", NOT_UTF8, i)]
        whole = [i for i in range(len(cells)) if i not in problems]
        rows = [cells[i] for i in whole]
        columns = [_convert([row[self._positions[spec.name]] for row in rows], spec) for spec in self.signature.inputs]
        records: list[dict[str, Any] | None] = [None] * len(cells)
        for i, values in zip(whole, zip(*columns, strict=True), strict=True):
            records[i] = dict(zip(self._fields, values, strict=True))
        id_positions = [self._positions[name] for name in self.id_columns]
        ids = [[row[p] if p < len(row) else "" for p in id_positions] for row in cells]
        return InputChunk(numbers, records, ids, problems)

    # -- JSON Lines --
    def _start_jsonl(self) -> None:
        """JSON Lines has no header: the first object stands for it. Missing model fields there fail the
        file (a misnamed field would otherwise fail every row); later rows missing one get a row error."""
        for number, line in self._lines():
            record = _json_object(line)
            if isinstance(record, Problem):
                raise BatchFileError(
                    record.code, f"the first line: {record.message} (expected one JSON object per line)"
                )
            self._check_columns(list(record), "the first JSON object")
            self._first = (number, line)
            return
        raise BatchFileError("empty_file", "the file is empty: expected one JSON object per line")

    def _lines(self) -> Iterator[tuple[int, str | None]]:
        """Non-blank lines with their 1-based row number; None for a line too long to hold."""
        for line in self._guarded(self._read_lines()):
            if line is not None and not line.strip():
                continue  # a blank line is not a row
            self.rows_read += 1
            yield self.rows_read, line

    def _read_lines(self) -> Iterator[str | None]:
        """Lines of at most MAX_LINE_CHARS: a longer one is read to its end in pieces and given as None."""
        while line := self._text.readline(MAX_LINE_CHARS):
            if len(line) < MAX_LINE_CHARS or line.endswith("\n"):
                yield line
                continue
            while line and not line.endswith("\n"):
                line = self._text.readline(MAX_LINE_CHARS)
            yield None

    def _jsonl_chunks(self, size: int) -> Iterator[InputChunk]:
        batch: list[tuple[int, str | None]] = []
        if self._first is not None:
            batch.append(self._first)
            self._first = None
        for item in self._lines():
            batch.append(item)
            if len(batch) == size:
                yield self._jsonl_chunk(batch)
                batch = []
        if batch:
            yield self._jsonl_chunk(batch)

    def _jsonl_chunk(self, lines: list[tuple[int, str | None]]) -> InputChunk:
        numbers: list[int] = []
        records: list[dict[str, Any] | None] = []
        ids: list[list[str]] = []
        problems: dict[int, list[Problem]] = {}
        for i, (number, line) in enumerate(lines):
            numbers.append(number)
            found = _json_object(line)
            if isinstance(found, Problem):
                problems[i] = [Problem(found.code, found.message, i)]
                records.append(None)
                ids.append(["" for _ in self.id_columns])
                continue
            if len(found) != len(self._known) or found.keys() != self._known:
                self._ignore(list(found))
            records.append({name: found[name] for name in self._fields if name in found})
            ids.append([_id_text(found.get(name)) for name in self.id_columns])
        return InputChunk(numbers, records, ids, problems)

    # -- both --
    def chunks(self, size: int = DEFAULT_CHUNK_ROWS) -> Iterator[InputChunk]:
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, got {size}")
        return self._csv_chunks(size) if self.format == "csv" else self._jsonl_chunks(size)

    def _rows(self) -> Iterator[object]:
        """The rows still to read, unconverted: what `chunks` would number, one by one."""
        if self.format == "csv":
            for row in self._csv_rows():
                if row:
                    self.rows_read += 1
                    yield row
            return
        if self._first is not None:
            yield self._first
            self._first = None
        yield from self._lines()

    def skip(self, rows: int) -> None:
        """Read past `rows` rows without scoring them (batch scoring in parts: the rows of a part that
        another slice's child writes)."""
        if rows > 0:
            for _ in zip(range(rows), self._rows(), strict=False):
                pass

    def count(self) -> int:
        """The rows left, read without converting a value: what scoring them would number."""
        return sum(1 for _ in self._rows())

    def _csv_rows(self) -> Iterator[list[str]]:
        """The CSV's rows; a record that spans lines is first held against the stray-quote rule
        (`mlops.stray_quotes`), so that a quote that swallowed records fails the file, not its rows."""
        for row in self._guarded(self._csv):
            lines = self._record_lines.take()
            if len(lines) > 1 and row and self._header:
                self._check_quote(lines, self.rows_read + 1)
            if self._lines_read is not None:
                self._lines_read += len(lines)
            yield row

    def _check_quote(self, lines: list[str], row: int) -> None:
        line = None if self._lines_read is None else self._lines_read + 1
        found = stray_quote(lines, self._header, row=row, line=line)
        if found is not None:
            raise BatchFileError("stray_quote", found.describe())

    def _guarded(self, rows: Iterator[Any]) -> Iterator[Any]:
        """What breaks mid-file (a truncated gzip, a field longer than the csv module allows) fails the
        file, saying how far it was read."""
        try:
            yield from rows
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise BrokenRowError(
                "corrupt_gzip", self.rows_read, f"the gzip stream is corrupt or truncated: {error}"
            ) from None
        except csv.Error as error:
            if self.format == "csv" and self._header:  # a field past the csv module's limit: a stray quote?
                self._check_quote(self._record_lines.take(), self.rows_read + 1)
            raise BrokenRowError("malformed_csv", self.rows_read, f"the CSV cannot be read: {error}") from None


def open_input(source: Readable, fmt: Format, signature: ServedSignature, *, rows_before: int = 0) -> BatchInput:
    """Open a stream for scoring; BatchFileError when its columns cannot feed the model.

    `rows_before`: the stream is the file's header line (for JSON Lines its first object, read for
    the columns only) followed by a slice of the file whose first row is row `rows_before + 1`."""
    return BatchInput(text_stream(source), fmt, signature, rows_before=rows_before)


def _convert(texts: list[str], spec: ServedInput) -> list[Any]:
    """CSV text as the JSON value a prediction request would carry. Text that does not convert is kept
    as text, so `encode_request` reports it with the same words the API uses."""
    if spec.kind != "numeric":  # categories, and dates as their ISO text
        return [None if t == "" else t for t in texts]
    if spec.source_type == "bool":
        return [None if t == "" else _BOOLEANS.get(t.lower(), t) for t in texts]
    try:
        return [float(t) for t in texts]
    except ValueError:
        return [_number(t) for t in texts]


def _number(text: str) -> float | str | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _utf8(texts: Sequence[str]) -> bool:
    """False when the text holds bytes that were not UTF-8 (decoded as lone surrogates)."""
    text = "".join(texts)
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_object(line: str | None) -> dict[str, Any] | Problem:
    if line is None:
        return Problem("line_too_long", f"the line is longer than {MAX_LINE_CHARS:,} characters")
    if not _utf8([line]):
        return Problem("not_utf8", NOT_UTF8)
    try:
        value = json.loads(line)
    except ValueError as error:
        return Problem("invalid_json", f"the line is not valid JSON: {error}")
    if not isinstance(value, dict):
        return Problem("invalid_row", f"the line must hold a JSON object, got {type(value).__name__}")
    return value


def _id_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
