"""Batch scoring: a file under `batch/<model>/` scored by the model's champion into CSV parts beside it.

The same code answers as the predict API: each chunk of rows becomes the records `encode_request`
checks and encodes, and the champion's ONNX session scores them. What differs is the failure unit.
A request with one bad row is rejected whole; in a file a bad row is not scored and gets its problems
in the `error` column, and the other rows are scored. Only what makes the whole file unusable fails
it: no champion, missing model columns, no header, a corrupt gzip stream.

Input is read as a stream (CSV or JSON Lines, plain or gzip, detected by content) and scored in
chunks of `chunk_rows` rows, so memory is bounded by the chunk, never by the file. Row numbers follow
the ingestion reports: `row` is the 1-based data row, the first row after the header (or the first
JSON object) being 1; blank lines are not rows.

Outputs, for `batch/<model>/<stem>.csv` (or .csv.gz, .jsonl, .jsonl.gz, .ndjson, .ndjson.gz):
`batch/<model>/<stem>.predictions/part-00000.csv`, … (one per chunk, each with a header), then
`_SUCCESS.json` last, or `_FAILED.json` with the reason. Names are deterministic, so a redelivered
event rewrites the same parts; a `_SUCCESS.json` for the same S3 object version makes it a no-op.

numpy and the standard library only (plus the serving core): no pandas or pyarrow in this Lambda.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np

from mlops.names import BATCH_PREFIX
from mlops.serving.inputs import Problem, RequestError, encode_request
from mlops.serving.models import ServedVersion
from mlops.serving.signature import ServedInput, ServedSignature

OUTPUT_SUFFIX = ".predictions"
SUCCESS_FILE = "_SUCCESS.json"
FAILED_FILE = "_FAILED.json"
ID_COLUMNS = ("id", "row_id")  # copied to the output so results join back to the caller's rows
DEFAULT_CHUNK_ROWS = 10_000
TIME_MARGIN_MS = 30_000  # stop this long before the Lambda timeout, plus the slowest chunk so far
MAX_LINE_CHARS = 1 << 20  # a longer JSON line is a row error, read in pieces, never held whole
MAX_NAMED_COLUMNS = 50  # ignored columns named in the summary (JSON Lines rows may each add new ones)
READ_BUFFER_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

Format = Literal["csv", "jsonl"]
SUFFIXES: dict[str, Format] = {
    ".csv.gzip": "csv",
    ".csv.gz": "csv",
    ".csv": "csv",
    ".jsonl.gz": "jsonl",
    ".jsonl": "jsonl",
    ".ndjson.gz": "jsonl",
    ".ndjson": "jsonl",
}
NOT_UTF8 = "the row holds bytes that are not UTF-8: save the file as UTF-8"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class BatchFileError(Exception):
    """The file as a whole cannot be scored: a stable code and a message for the person who uploaded it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotInputError(ValueError):
    """An object under `batch/` that is not an input file (our own outputs, an unsupported type)."""

    def __init__(self, message: str, *, own_output: bool = False) -> None:
        super().__init__(message)
        self.own_output = own_output


# -- keys ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchKey:
    """Where an input file is and where its outputs go."""

    key: str
    model: str
    filename: str
    stem: str
    format: Format

    @property
    def output_prefix(self) -> str:
        return f"{BATCH_PREFIX}{self.model}/{self.stem}{OUTPUT_SUFFIX}/"

    def part_key(self, index: int) -> str:
        return f"{self.output_prefix}part-{index:05d}.csv"

    @property
    def success_key(self) -> str:
        return self.output_prefix + SUCCESS_FILE

    @property
    def failed_key(self) -> str:
        return self.output_prefix + FAILED_FILE


def batch_key(key: str) -> BatchKey:
    """Parse `batch/<model>/<file>`; NotInputError for our own outputs and anything else not to score."""
    parts = key.split("/")
    if parts[0] + "/" != BATCH_PREFIX:
        raise NotInputError(f"{key!r} is not under {BATCH_PREFIX}")
    if len(parts) >= 4 and parts[2].endswith(OUTPUT_SUFFIX):
        raise NotInputError(f"{key!r} is an output of batch scoring", own_output=True)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise NotInputError(f"batch files go directly under {BATCH_PREFIX}<model>/<file>; got {key!r}")
    filename = parts[2]
    lowered = filename.lower()
    for suffix, fmt in SUFFIXES.items():
        if lowered.endswith(suffix) and len(filename) > len(suffix):
            return BatchKey(key, parts[1], filename, filename[: -len(suffix)], fmt)
    supported = ", ".join(SUFFIXES)
    raise NotInputError(f"{filename!r} is not a file batch scoring reads (supported: {supported})")


# -- reading ---------------------------------------------------------------------------------------


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


def text_stream(source: Readable) -> io.TextIOWrapper:
    """UTF-8 text (a leading BOM dropped) from a plain or gzip stream: gzip is told by its magic bytes,
    as ingestion tells it, so a gzip file named `.csv` reads as well as one named `.csv.gz`."""
    buffered = io.BufferedReader(_RawStream(source), buffer_size=READ_BUFFER_BYTES)
    binary: io.BufferedReader[_RawStream] | gzip.GzipFile = buffered
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        binary = gzip.GzipFile(fileobj=buffered, mode="rb")
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

    def __init__(self, text: io.TextIOWrapper, fmt: Format, signature: ServedSignature) -> None:
        self.format = fmt
        self.signature = signature
        self.rows_read = 0
        self._text = text
        self._fields = [spec.name for spec in signature.inputs]
        self._known = set(self._fields)
        self.id_columns: list[str] = []
        self._ignored: dict[str, None] = {}  # ordered set, first seen first
        self._first: tuple[int, str | None] | None = None  # JSON Lines: the object read to check columns
        if fmt == "csv":
            self._csv = csv.reader(text)
            self._start_csv()
        else:
            self._start_jsonl()

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
        header = next((row for row in self._guarded(self._csv) if row), None)
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
        for row in self._guarded(self._csv):
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

    def _guarded(self, rows: Iterator[Any]) -> Iterator[Any]:
        """What breaks mid-file (a truncated gzip, a field longer than the csv module allows) fails the
        file, saying how far it was read."""
        try:
            yield from rows
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise BatchFileError(
                "corrupt_gzip", f"after row {self.rows_read} the gzip stream is corrupt or truncated: {error}"
            ) from None
        except csv.Error as error:
            raise BatchFileError(
                "malformed_csv", f"after row {self.rows_read} the CSV cannot be read: {error}"
            ) from None


def open_input(source: Readable, fmt: Format, signature: ServedSignature) -> BatchInput:
    """Open a stream for scoring; BatchFileError when its columns cannot feed the model."""
    return BatchInput(text_stream(source), fmt, signature)


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


# -- scoring ---------------------------------------------------------------------------------------


@dataclass
class ScoredChunk:
    """One output part: the CSV bytes and what it holds."""

    rows: int
    scored: int
    errors: int
    warnings: int
    body: bytes


def output_columns(signature: ServedSignature, id_columns: Sequence[str]) -> list[str]:
    probabilities = [f"probability_{c}" for c in signature.classes or ()]
    return ["row", *id_columns, "prediction", *probabilities, "error"]


def score_chunk(chunk: InputChunk, served: ServedVersion, id_columns: Sequence[str]) -> ScoredChunk:
    """Score the rows that pass every check; the others get their problems in `error`."""
    problems: dict[int, list[Problem]] = {i: list(found) for i, found in chunk.problems.items()}
    positions = [i for i, record in enumerate(chunk.records) if record is not None]
    encoded = None
    while positions:
        records = [chunk.records[i] or {} for i in positions]
        try:
            encoded = encode_request(records, served.signature, served.policy)
            break
        except RequestError as rejected:
            bad: set[int] = set()
            for problem in rejected.problems:
                if problem.row is None:  # every check in encode_request is per row; this would be a bug
                    raise
                position = positions[problem.row]
                problems.setdefault(position, []).append(problem)
                bad.add(position)
            positions = [i for i in positions if i not in bad]
    answers: dict[int, list[str]] = {}
    warned: set[int] = set()
    if encoded is not None:
        prediction = served.predict(encoded.matrix)
        probabilities = prediction.probabilities
        labels = {c: _label_text(c) for c in served.signature.classes or ()}
        for j, position in enumerate(positions):
            label = prediction.predictions[j]
            values = [labels[label] if labels else _float32_text(label)]
            if probabilities is not None:
                values.extend(f"{p:.6f}" for p in probabilities[j].tolist())
            answers[position] = values
        warned = {positions[w.row] for w in encoded.warnings if w.row is not None}
    width = 1 + len(served.signature.classes or ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(output_columns(served.signature, id_columns))
    for i, number in enumerate(chunk.numbers):
        answer = answers.get(i)
        error = "" if answer is not None else _error_text(problems.get(i, []))
        writer.writerow([number, *chunk.ids[i], *(answer or [""] * width), error])
    return ScoredChunk(
        rows=len(chunk),
        scored=len(answers),
        errors=len(chunk) - len(answers),
        warnings=len(warned),
        body=out.getvalue().encode("utf-8", errors="replace"),  # an id cell of a row that is not UTF-8
    )


def empty_part(served: ServedVersion, id_columns: Sequence[str]) -> bytes:
    """The header alone: a file with no data rows still gets one part, so readers always find one."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(output_columns(served.signature, id_columns))
    return out.getvalue().encode()


def _label_text(label: Any) -> str:
    """A class as the API's JSON shows it, without quotes: 1, churn, true."""
    return label if isinstance(label, str) else json.dumps(label)


def _float32_text(value: float) -> str:
    """The shortest text that reads back as the same float32 the model answered."""
    return str(np.float32(value))


def _error_text(problems: Sequence[Problem]) -> str:
    if not problems:
        return "not scored"
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


# -- one file, end to end --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchUpload:
    """The object an S3 event names."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    def source(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id, "etag": self.etag}


@dataclass
class OpenedObject:
    body: Readable
    version_id: str | None
    etag: str | None
    size: int
    close: Callable[[], None] = lambda: None


class BatchStore(Protocol):
    """The bucket holding inputs and outputs (S3 in the Lambda, a dict in tests)."""

    def open(self, key: str) -> OpenedObject: ...

    def get_json(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...


Status = Literal["scored", "failed", "already_scored", "superseded", "stopped"]


@dataclass
class BatchOutcome:
    """What became of one file: what the handler logs, counts and returns."""

    key: str
    model: str
    status: Status
    summary: str
    version: int | None = None
    rows: int = 0
    rows_scored: int = 0
    rows_with_errors: int = 0
    parts: list[str] = field(default_factory=list)
    document_key: str | None = None

    def as_record(self) -> dict[str, Any]:
        record = {k: v for k, v in self.__dict__.items() if v is not None}
        record["parts"] = len(self.parts)
        return record


def _same_source(document: Mapping[str, Any] | None, upload: BatchUpload) -> bool:
    """Scored before: the same S3 version, or in an unversioned bucket the same ETag."""
    if not document or document.get("status") != "succeeded":
        return False
    source = document.get("source") or {}
    if upload.version_id is not None:
        return bool(source.get("version_id") == upload.version_id)
    return upload.etag is not None and source.get("version_id") is None and source.get("etag") == upload.etag


@dataclass
class _Run:
    """Progress of one file, enough to say how far it got when it stops."""

    key: BatchKey
    upload: BatchUpload
    started: float
    clock: Callable[[], float]
    served: ServedVersion | None = None
    rows: int = 0
    scored: int = 0
    errors: int = 0
    warnings: int = 0
    parts: list[str] = field(default_factory=list)

    def document(self, status: str, **extra: Any) -> dict[str, Any]:
        document: dict[str, Any] = {
            "status": status,
            "model": self.key.model,
            "version": self.served.version if self.served else None,
            "source": self.upload.source(),
            "rows": self.rows,
            "rows_scored": self.scored,
            "rows_with_errors": self.errors,
            "rows_with_warnings": self.warnings,
            "parts": self.parts,
            "seconds": round(self.clock() - self.started, 3),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        document.update(extra)
        return document


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()


def score_upload(
    upload: BatchUpload,
    store: BatchStore,
    resolve: Callable[[str], ServedVersion],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    remaining_ms: Callable[[], int] = lambda: 1 << 62,
    clock: Callable[[], float] = time.monotonic,
) -> BatchOutcome:
    """Score one uploaded file into its parts and write `_SUCCESS.json`, or `_FAILED.json` saying why.

    Raises NotInputError for keys that are not input files. Other exceptions (S3 or DynamoDB failing) are
    raised after a `_FAILED.json` is written, so Lambda retries the event and the user sees why."""
    key = batch_key(upload.key)
    run = _Run(key, upload, clock(), clock)
    previous = store.get_json(key.success_key)
    if _same_source(previous, upload):
        return BatchOutcome(
            upload.key,
            key.model,
            "already_scored",
            "already scored: this object version has a _SUCCESS.json",
            version=(previous or {}).get("version"),
            document_key=key.success_key,
        )
    try:
        return _score(run, store, resolve, previous, chunk_rows, remaining_ms)
    except BatchFileError as failure:
        return _fail(run, store, failure.code, failure.message)
    except Exception as error:
        message = f"internal error: {type(error).__name__}: {error} (the event is retried automatically)"
        with contextlib.suppress(Exception):  # the original error is the one worth raising
            _fail(run, store, "internal_error", message)
        raise


def _score(
    run: _Run,
    store: BatchStore,
    resolve: Callable[[str], ServedVersion],
    previous: Mapping[str, Any] | None,
    chunk_rows: int,
    remaining_ms: Callable[[], int],
) -> BatchOutcome:
    key, upload = run.key, run.upload
    try:
        run.served = served = resolve(key.model)
    except RequestError as error:
        raise BatchFileError(error.code, error.message) from None
    opened = store.open(key.key)
    try:
        if upload.version_id is not None and opened.version_id not in (None, upload.version_id):
            return BatchOutcome(
                upload.key,
                key.model,
                "superseded",
                f"version {upload.version_id} was replaced by {opened.version_id}, which its own event scores",
            )
        _clear_markers(store, key, previous)
        source = open_input(opened.body, key.format, served.signature)
        slowest_ms = 0.0
        for chunk in source.chunks(chunk_rows):
            # Checked once a next chunk is known to exist, so a file that just fits is never cut short;
            # the margin covers reading a chunk, the slowest chunk so far covers scoring and writing one.
            left = remaining_ms()
            if left < TIME_MARGIN_MS + slowest_ms:
                return _stop(run, store, left)
            began = run.clock()
            scored = score_chunk(chunk, served, source.id_columns)
            part = key.part_key(len(run.parts))
            store.put(part, scored.body, "text/csv; charset=utf-8")
            run.parts.append(part)
            run.rows += scored.rows
            run.scored += scored.scored
            run.errors += scored.errors
            run.warnings += scored.warnings
            slowest_ms = max(slowest_ms, (run.clock() - began) * 1000)
        if not run.parts:
            part = key.part_key(0)
            store.put(part, empty_part(served, source.id_columns), "text/csv; charset=utf-8")
            run.parts.append(part)
    finally:
        opened.close()
    for stale in (previous or {}).get("parts", [])[len(run.parts) :]:
        store.delete(str(stale))  # a shorter file than last time: its extra parts would mislead
    document = run.document(
        "succeeded",
        format=key.format,
        chunk_rows=chunk_rows,
        columns=output_columns(served.signature, source.id_columns),
        id_columns=source.id_columns,
        ignored_columns=source.ignored_columns,
        onnx_sha256=served.onnx_sha256,
    )
    store.put(key.success_key, _json_bytes(document), "application/json")
    summary = (
        f"{run.rows} rows: {run.scored} scored, {run.errors} with errors, by {key.model} v{served.version} "
        f"into {len(run.parts)} part(s)"
    )
    return BatchOutcome(
        upload.key,
        key.model,
        "scored",
        summary,
        version=served.version,
        rows=run.rows,
        rows_scored=run.scored,
        rows_with_errors=run.errors,
        parts=run.parts,
        document_key=key.success_key,
    )


def _clear_markers(store: BatchStore, key: BatchKey, previous: Mapping[str, Any] | None) -> None:
    """Before new parts are written, the markers of an earlier run go, so no reader sees a `_SUCCESS.json`
    beside parts of a different file version (checked first: a delete in a versioned bucket leaves a
    marker even for a key that never existed)."""
    if previous is not None:
        store.delete(key.success_key)
    if store.get_json(key.failed_key) is not None:
        store.delete(key.failed_key)


def _stop(run: _Run, store: BatchStore, left_ms: int) -> BatchOutcome:
    done = f"rows 1-{run.rows}" if run.rows else "no rows"
    message = (
        f"stopped {left_ms / 1000:.0f} s before the function's time limit with {done} scored into "
        f"{len(run.parts)} part(s), in {run.clock() - run.started:.0f} s: split the file into files of at most "
        f"{max(run.rows, 1):,} rows and upload those"
    )
    outcome = _fail(run, store, "time_limit", message)
    outcome.status = "stopped"
    return outcome


def _fail(run: _Run, store: BatchStore, code: str, message: str) -> BatchOutcome:
    document = run.document("failed", code=code, message=message)
    store.put(run.key.failed_key, _json_bytes(document), "application/json")
    return BatchOutcome(
        run.upload.key,
        run.key.model,
        "failed",
        f"{code}: {message}",
        version=run.served.version if run.served else None,
        rows=run.rows,
        rows_scored=run.scored,
        rows_with_errors=run.errors,
        parts=run.parts,
        document_key=run.key.failed_key,
    )
