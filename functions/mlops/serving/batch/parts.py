"""Batch scoring in parts (issue #20): a file past the batch function's size threshold is scored by
the batch scoring state machine, step by step as written here, with the same reading and scoring
code as one invocation, into the same parts and `_SUCCESS.json`, byte for byte.

plan -> (gzip: split) -> Distributed Map: count each slice's rows -> number -> Distributed Map:
score each item -> finish.

- **plan**: the input's header is checked against the model (a file that cannot be scored fails
  here, with today's code and message) and a plain file is cut into byte slices at record ends by
  the splitter ingestion uses (`mlops.record_cuts`; JSON Lines at any newline). A gzip stream
  cannot be read from the middle, so one task (**split**) decompresses it once into plain pieces
  in the run's work folder, cut by the same cutter, and those pieces are the slices.
- **count**: rows are what the reader numbers (blank lines are not rows, a quoted field may hold a
  newline), so each slice's rows are counted by the reader itself.
- **number**: the parts are defined by row count, `chunk_rows` rows each as one invocation writes
  them, so they do not depend on how the input was sliced. Each part is written by the child of
  the slice its first row is in: that child skips the rows before it and reads on into the next
  slices until its last part is full. One item per such slice.
- **score**: each child loads the version pinned when the run started (by number, its ONNX sha256
  checked: a promotion mid-file never mixes versions), scores its parts and records its figures.
- **finish**: the figures merged in order into `_SUCCESS.json` (as one invocation writes it), or
  `_FAILED.json` naming the part that failed; no `_SUCCESS.json` then.

Payloads carry keys and counts; slices, items and figures travel through the run's work folder,
`batch-work/<model>/<run>/` in the artifacts bucket.

One module because the work folder's layout and the records in it (slices, counts, items, figures)
are written by one step and read by the next: they change together, as the steps' order does.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import hashlib
import io
import itertools
import json
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops.names import BATCH_WORK_PREFIX
from mlops.record_cuts import RecordCuts, SplitError, csv_ranges
from mlops.serving.batch.keys import BatchKey, batch_key
from mlops.serving.batch.outputs import BatchOutcome, BatchUpload, FileRun, write_failure, write_success
from mlops.serving.batch.reading import (
    MAX_NAMED_COLUMNS,
    BatchFileError,
    BatchInput,
    BrokenRowError,
    Readable,
    binary_stream,
    open_input,
)
from mlops.serving.batch.scoring import header_line, output_columns, score_chunk
from mlops.serving.batch.store import BatchStore, RangedObjects
from mlops.serving.models import ServedVersion

MB = 1 << 20
DEFAULT_SLICE_BYTES = 64 * MB  # about 300,000 rows of 30 features: well under a minute for a child
HEAD_BYTES = 1 * MB  # the header is looked for in the file's first megabyte
_READ_BYTES = 8 * MB
_HEAD_READ_BYTES = 8 << 10


# -- the run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartsRun:
    """The state machine's input, which every step receives: the file, the pinned version, the sizes."""

    run: str  # the execution's name: names the work folder
    upload: BatchUpload
    version: int
    onnx_sha256: str
    chunk_rows: int
    started_at: float  # epoch seconds, when the batch function started the run
    size: int  # bytes of the input object version
    previous_parts: int = 0  # parts of an earlier `_SUCCESS.json`, deleted past this run's count

    @property
    def key(self) -> BatchKey:
        return batch_key(self.upload.key)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> PartsRun:
        return cls(**{**document, "upload": BatchUpload(**document["upload"])})


@dataclass(frozen=True)
class PartsRouting:
    """When the batch function hands a file to the state machine, and how it starts a run (returning
    the execution's ARN). gzip has its own threshold: its size is compressed, its rows several times more."""

    above_bytes: int
    gzip_above_bytes: int
    start: Callable[[PartsRun], str]

    def wanted(self, key: BatchKey, size: int) -> bool:
        gzipped = key.filename.lower().endswith((".gz", ".gzip"))
        return size > (self.gzip_above_bytes if gzipped else self.above_bytes)


def run_name(upload: BatchUpload) -> str:
    """One execution per object version (a redelivered event starts none twice): the file and a hash."""
    identity = f"{upload.bucket}\x00{upload.key}\x00{upload.version_id}\x00{upload.etag}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = upload.key.split("/", 1)[-1].replace("/", "-")
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] + "-" + digest


@dataclass(frozen=True)
class WorkFolder:
    """Where a run keeps what one step hands the next, in the artifacts bucket."""

    run: PartsRun

    @property
    def prefix(self) -> str:
        return f"{BATCH_WORK_PREFIX}{self.run.key.model}/{self.run.run}/"

    @property
    def header(self) -> str:
        return f"{self.prefix}header.json"

    @property
    def slices(self) -> str:
        return f"{self.prefix}slices.jsonl"

    @property
    def items(self) -> str:
        return f"{self.prefix}items.jsonl"

    def piece(self, index: int) -> str:
        return f"{self.prefix}pieces/{index:05d}"

    def count(self, index: int) -> str:
        return f"{self.prefix}counts/{index:05d}.json"

    def scored(self, index: int) -> str:
        return f"{self.prefix}scored/{index:05d}.json"


@dataclass(frozen=True)
class InputSlice:
    """Bytes `start`-`stop` of the input (or of a gzip input's plain piece, `staged` in the work
    folder), whole records; read after the header, bytes 0-`header_stop` of `header_key`, unless the
    slice itself starts the file."""

    index: int
    key: str
    start: int
    stop: int
    header_key: str
    header_stop: int
    staged: bool = False

    @property
    def starts_file(self) -> bool:
        return self.key == self.header_key and self.start == 0


@dataclass(frozen=True)
class ScoreItem:
    """One child of the scoring Map: parts `first_part` on, read from `slices` (its own and the ones
    its last part reaches into), after skipping `skip` rows that an earlier part holds."""

    index: int
    first_part: int
    parts: int
    rows_before: int  # rows of the file before the first slice's first row
    skip: int
    slices: list[InputSlice]

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ScoreItem:
        slices = [InputSlice(**s) for s in document["slices"]]
        return cls(**{**document, "slices": slices})


@dataclass
class ScoredItem:
    """A child's figures, merged in order by the finish; or its failure, naming its parts."""

    index: int
    parts: list[str] = field(default_factory=list)
    rows: int = 0
    scored: int = 0
    errors: int = 0
    warnings: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    failure: dict[str, str] | None = None


@dataclass
class PartsServices:
    """What the steps reach: the outputs beside the input, the input by ranges, the work folder, and
    the pinned version loader (`version(model, number)`, cached per container)."""

    outputs: BatchStore
    inputs: RangedObjects
    work: RangedObjects
    version: Callable[[str, int], ServedVersion]
    slice_bytes: int = DEFAULT_SLICE_BYTES
    clock: Callable[[], float] = time.time


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def _lines(values: Sequence[Any]) -> bytes:
    return "".join(json.dumps(asdict(v), sort_keys=True) + "\n" for v in values).encode()


def _pinned(run: PartsRun, services: PartsServices) -> ServedVersion:
    served = services.version(run.key.model, run.version)
    if served.onnx_sha256 != run.onnx_sha256:
        raise RuntimeError(
            f"{run.key.model} v{run.version}: its ONNX artifact has sha256 {served.onnx_sha256[:12]}…, the run "
            f"pinned {run.onnx_sha256[:12]}…"
        )
    return served


# -- step 1: the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOutcome:
    gzip: bool = False
    slices: int = 0
    items_key: str = ""
    problem: dict[str, str] | None = None


@dataclass(frozen=True)
class Header:
    """What the header says, for the finish: the output columns and the columns the model ignores."""

    id_columns: list[str]
    columns: list[str]
    ignored_columns: list[str]


def header_stop(head: bytes, fmt: str) -> int | None:
    """The end of the header line: the first line that is not blank (as the reader skips blank ones;
    for CSV, the record's end outside quotes). None when the first `len(head)` bytes hold none."""
    position = 0
    while (newline := head.find(b"\n", position)) >= 0:
        line = head[position:newline].removeprefix(b"\xef\xbb\xbf" if position == 0 else b"")
        blank = not line.strip() if fmt == "jsonl" else not line.rstrip(b"\r")
        if not blank:
            end = newline + 1
            while fmt == "csv" and head.count(b'"', 0, end) % 2:  # a header with a quoted newline
                end = head.find(b"\n", end) + 1
                if end == 0:
                    return None
            return end
        position = newline + 1
    return None


def _check_header(head: bytes, run: PartsRun, served: ServedVersion) -> Header:
    """The header read as one invocation reads it: BatchFileError for a file that cannot be scored."""
    source = open_input(io.BytesIO(head), run.key.format, served.signature)
    return Header(source.id_columns, output_columns(served.signature, source.id_columns), source.ignored_columns)


def plan(run: PartsRun, services: PartsServices) -> PlanOutcome:
    """The header checked; a plain input cut into slices (a gzip input goes to the split first)."""
    work, upload, fmt = WorkFolder(run), run.upload, run.key.format
    try:
        with _decompressed(run, services) as stream:
            head = _head(stream, fmt)
            gzipped = isinstance(stream, gzip.GzipFile)
        stop = header_stop(head, fmt)
        header = _check_header(head[:stop] if stop else head, run, _pinned(run, services))
    except BatchFileError as failure:
        return PlanOutcome(problem={"code": failure.code, "message": failure.message})
    services.work.put(work.header, _json(asdict(header)), "application/json")
    if gzipped:
        return PlanOutcome(gzip=True)
    if stop is None:  # no header line in the first megabyte: one slice, the whole file
        slices = [InputSlice(0, upload.key, 0, run.size, upload.key, 0)]
    else:
        try:
            _, ranges = csv_ranges(_InputBytes(services, run), services.slice_bytes, quoted=fmt == "csv")
        except SplitError as error:
            return PlanOutcome(problem={"code": "unsplittable_csv", "message": f"{run.key.filename}: {error}"})
        bounds = [stop if fmt == "csv" else 0, *(r.start for r in ranges if r.start > stop), run.size]
        slices = [
            InputSlice(i, upload.key, start, end, upload.key, stop)
            for i, (start, end) in enumerate(itertools.pairwise(bounds))
        ]
    services.work.put(work.slices, _lines(slices), "application/jsonl")
    return PlanOutcome(slices=len(slices), items_key=work.slices)


def _head(stream: io.BufferedIOBase, fmt: str) -> bytes:
    """The first bytes, read on until they hold the header line or HEAD_BYTES: no further, so that a
    gzip stream that breaks past the header is the split's to report, with how far it read."""
    head = b""
    while len(head) < HEAD_BYTES and header_stop(head, fmt) is None:
        data = stream.read(min(_HEAD_READ_BYTES, HEAD_BYTES - len(head)))
        if not data:
            break
        head += data
    return head


@contextlib.contextmanager
def _decompressed(run: PartsRun, services: PartsServices) -> Iterator[io.BufferedIOBase]:
    """The input's bytes from the start, decompressed if gzip; a corrupt stream is the file's failure."""
    upload = run.upload
    stream = binary_stream(services.inputs.stream(upload.key, upload.version_id, 0, run.size))
    try:
        yield stream
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise BatchFileError("corrupt_gzip", f"the gzip stream is corrupt or truncated: {error}") from None


def _read(stream: Readable) -> bytes:
    chunks = []
    while data := stream.read(_READ_BYTES):
        chunks.append(data)
    return b"".join(chunks)


@dataclass(frozen=True)
class _InputBytes:
    """The input as a `ByteSource`, for the cutter."""

    services: PartsServices
    run: PartsRun

    @property
    def size(self) -> int:
        return self.run.size

    def read(self, start: int, stop: int) -> bytes:
        upload = self.run.upload
        return _read(self.services.inputs.stream(upload.key, upload.version_id, start, stop))


# -- step 1b: a gzip input split into plain pieces (one task) ----------------------------------------


def split(run: PartsRun, services: PartsServices) -> PlanOutcome:
    """Decompress the input once into plain pieces of about `slice_bytes`, cut at record ends by the
    same cutter; the pieces are the slices. Memory: one piece and one read at a time."""
    work, fmt = WorkFolder(run), run.key.format
    cutter = RecordCuts(services.slice_bytes, quoted=fmt == "csv")
    pending = bytearray()  # the current piece's bytes
    piece_start = 0  # its offset in the decompressed stream
    pieces: list[int] = []  # their sizes
    stop: int | None = None
    lines = 0  # newlines decompressed so far: where a corrupt stream broke, for the person who uploaded it

    def write(upto: int) -> None:
        nonlocal piece_start
        services.work.put(work.piece(len(pieces)), bytes(pending[: upto - piece_start]), "application/octet-stream")
        pieces.append(upto - piece_start)
        del pending[: upto - piece_start]
        piece_start = upto

    try:
        with _decompressed(run, services) as stream:
            for chunk in _reads(stream):
                if not cutter.fed:  # the first read holds the first megabyte, where the header is
                    stop = header_stop(chunk[:HEAD_BYTES], fmt)
                cuts = cutter.feed(chunk)
                lines += chunk.count(b"\n")
                pending += chunk
                for cut in cuts:
                    if stop is not None and cut.offset > stop:  # a piece never splits the header off
                        write(cut.offset)
        cutter.finish()
    except SplitError as error:
        return PlanOutcome(problem={"code": "unsplittable_csv", "message": f"{run.key.filename}: {error}"})
    except BatchFileError as failure:
        message = failure.message
        if failure.code == "corrupt_gzip":
            message = f"after line {lines:,} (byte {cutter.fed:,} decompressed) {message}"
        return PlanOutcome(problem={"code": failure.code, "message": message})
    if pending or not pieces:
        write(cutter.fed)
    first = work.piece(0)
    start = stop if stop is not None and fmt == "csv" else 0
    slices = [
        InputSlice(i, work.piece(i), start if i == 0 else 0, size, first, stop or 0, staged=True)
        for i, size in enumerate(pieces)
    ]
    services.work.put(work.slices, _lines(slices), "application/jsonl")
    return PlanOutcome(slices=len(slices), items_key=work.slices)


def _reads(stream: io.BufferedIOBase) -> Iterator[bytes]:
    """Reads of about _READ_BYTES made of `read1` calls, so that a stream breaking mid-read first gives
    what it decompressed before the break (one `read` would drop it): the split says how far it got."""
    buffer = bytearray()
    try:
        while data := stream.read1(_READ_BYTES):
            buffer += data
            if len(buffer) >= _READ_BYTES:
                yield bytes(buffer)
                buffer.clear()
    except (gzip.BadGzipFile, EOFError, zlib.error):
        if buffer:
            yield bytes(buffer)
        raise
    if buffer:
        yield bytes(buffer)


# -- reading slices ----------------------------------------------------------------------------------


class _Joined:
    """Streams read one after another, each opened only when the previous one is used up."""

    def __init__(self, streams: Iterator[Readable]) -> None:
        self._streams = streams
        self._current: Readable | None = None

    def read(self, amt: int, /) -> bytes:
        while True:
            if self._current is None:
                self._current = next(self._streams, None)
                if self._current is None:
                    return b""
            data = self._current.read(amt)
            if data:
                return data
            self._current = None


def _slices_stream(run: PartsRun, slices: Sequence[InputSlice], services: PartsServices) -> _Joined:
    """The header line (unless the first slice starts the file), then the slices' bytes in order."""

    def streams() -> Iterator[Readable]:
        first = slices[0]
        if not first.starts_file:
            yield _range(run, first, first.header_key, 0, first.header_stop, services)
        for piece in slices:
            yield _range(run, piece, piece.key, piece.start, piece.stop, services)

    return _Joined(streams())


def _range(run: PartsRun, piece: InputSlice, key: str, start: int, stop: int, services: PartsServices) -> Readable:
    if piece.staged:
        return services.work.stream(key, None, start, stop)
    return services.inputs.stream(key, run.upload.version_id, start, stop)


def _open(
    run: PartsRun, slices: Sequence[InputSlice], rows_before: int, services: PartsServices
) -> tuple[ServedVersion, BatchInput]:
    served = _pinned(run, services)
    stream = _slices_stream(run, slices, services)
    return served, open_input(stream, run.key.format, served.signature, rows_before=rows_before)


# -- step 2: one slice's rows (a child of the first Map) ---------------------------------------------


def count(run: PartsRun, piece: InputSlice, services: PartsServices) -> int:
    """The rows the reader numbers in one slice, recorded for the numbering; a failure is recorded too."""
    work = WorkFolder(run)
    # Any positive number tells a JSON Lines reader that the first line was put before the slice.
    before = 0 if piece.starts_file else 1
    try:
        _served, source = _open(run, [piece], before, services)
        rows = source.count()
    except Exception as error:
        where = f"bytes {piece.start}-{piece.stop - 1} of {_slice_file(run, piece)}"
        recorded: dict[str, Any] = {"failure": _failure(error, where)}
        if isinstance(error, BrokenRowError):  # the file's row needs the earlier slices' rows: the finish's
            broken = SliceBreak(error.code, error.row - before, error.reason, where)
            recorded = {"failure": broken.in_slice(), "broken": asdict(broken)}
        services.work.put(work.count(piece.index), _json(recorded), "application/json")
        raise
    services.work.put(work.count(piece.index), _json({"rows": rows}), "application/json")
    return rows


@dataclass(frozen=True)
class SliceBreak:
    """A slice that breaks mid-way (a field past the CSV limit, say): readable for `rows` of its rows."""

    code: str
    rows: int
    reason: str
    where: str  # the slice: its bytes, in which file

    def in_slice(self) -> dict[str, str]:
        """The failure when the rows before the slice are not known."""
        return {"code": self.code, "message": f"{self.where}: after its row {self.rows} {self.reason}"}

    def in_file(self, run: PartsRun, rows_before: int) -> dict[str, str]:
        """The failure as one invocation words it (the file's row), naming the part the row is in."""
        row = rows_before + self.rows
        part = row // run.chunk_rows
        name = run.key.part_key(part).rsplit("/", 1)[-1]
        where = f"{name} (rows from {part * run.chunk_rows + 1}), {self.where}"
        return {"code": self.code, "message": f"{where}: after row {row} {self.reason}"}


def _slice_file(run: PartsRun, piece: InputSlice) -> str:
    return f"the decompressed {run.key.filename} (piece {piece.index})" if piece.staged else run.key.filename


def _failure(error: Exception, where: str) -> dict[str, str]:
    if isinstance(error, BatchFileError):
        return {"code": error.code, "message": f"{where}: {error.message}"}
    return {"code": "internal_error", "message": f"{where}: {type(error).__name__}: {error}"}


# -- step 3: the numbering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberOutcome:
    items: int
    items_key: str
    parts: int
    rows: int


def number(run: PartsRun, slices: int, services: PartsServices) -> NumberOutcome:
    """Parts of `chunk_rows` rows over the slices' counts, each given to the slice its first row is in."""
    work = WorkFolder(run)
    listed = [InputSlice(**json.loads(line)) for line in _text(services, work.slices).splitlines() if line]
    counts = [int(json.loads(_text(services, work.count(i)))["rows"]) for i in range(slices)]
    ends = list(itertools.accumulate(counts))  # the last row number of each slice (cumulative)
    total = ends[-1] if ends else 0
    size = run.chunk_rows
    items: list[ScoreItem] = []
    parts = -(-total // size)
    # The slice holding a part's first row (bisect: the first slice whose cumulative end reaches it).
    for owner, group in itertools.groupby(range(parts), key=lambda p: bisect.bisect_left(ends, p * size + 1)):
        owned = list(group)
        before = ends[owner - 1] if owner else 0  # rows of the slices before the owner
        reaches = bisect.bisect_left(ends, min((owned[-1] + 1) * size, total))  # the slice of its last row
        items.append(
            ScoreItem(
                index=len(items),
                first_part=owned[0],
                parts=len(owned),
                rows_before=before,
                skip=owned[0] * size - before,
                slices=listed[owner : reaches + 1],
            )
        )
    services.work.put(work.items, _lines(items), "application/jsonl")
    return NumberOutcome(items=len(items), items_key=work.items, parts=parts, rows=total)


def _text(services: PartsServices, key: str) -> str:
    found = services.work.get(key)
    if found is None:
        raise RuntimeError(f"{key} is missing from the run's work folder")
    return found.decode()


# -- step 4: one item's parts (a child of the second Map) --------------------------------------------


def score(run: PartsRun, item: ScoreItem, services: PartsServices) -> ScoredItem:
    """Score the item's parts with the pinned version, as one invocation scores them; record the figures."""
    work, key = WorkFolder(run), run.key
    record = ScoredItem(item.index)
    try:
        served, source = _open(run, item.slices, item.rows_before, services)
        source.skip(item.skip)
        for offset, chunk in zip(range(item.parts), source.chunks(run.chunk_rows), strict=False):
            scored = score_chunk(chunk, served, source.id_columns)
            part = key.part_key(item.first_part + offset)
            services.outputs.put(part, scored.body, "text/csv; charset=utf-8")
            record.parts.append(part)
            record.rows += scored.rows
            record.scored += scored.scored
            record.errors += scored.errors
            record.warnings += scored.warnings
        if len(record.parts) != item.parts:
            raise RuntimeError(f"the slices held rows for {len(record.parts)} of the item's {item.parts} parts")
        record.ignored_columns = source.ignored_columns
    except Exception as error:
        first_row = item.first_part * run.chunk_rows + 1
        names = _part_names(key, item.first_part, item.parts)
        record.failure = _failure(error, f"{names} (rows from {first_row})")
        services.work.put(work.scored(item.index), _json(asdict(record)), "application/json")
        raise
    services.work.put(work.scored(item.index), _json(asdict(record)), "application/json")
    return record


def _part_names(key: BatchKey, first: int, parts: int) -> str:
    name = key.part_key(first).rsplit("/", 1)[-1]
    return name if parts == 1 else f"{name} to {key.part_key(first + parts - 1).rsplit('/', 1)[-1]}"


# -- step 5: the finish ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinishInput:
    """What the earlier steps returned, or the error that stopped them."""

    slices: int = 0
    items: int = 0
    problem: dict[str, str] | None = None
    error: dict[str, str] | None = None


def finish(run: PartsRun, given: FinishInput, services: PartsServices) -> BatchOutcome:
    """`_SUCCESS.json` from the children's figures, in order, as one invocation writes it; or
    `_FAILED.json` naming the part (or slice) that failed, and no `_SUCCESS.json`."""
    key, work, outputs = run.key, WorkFolder(run), services.outputs
    file = FileRun(key, run.upload, run.started_at, services.clock, pinned_version=run.version)
    if given.problem is not None:
        return write_failure(file, outputs, given.problem["code"], given.problem["message"])
    records = [_record(services, work.scored(i)) for i in range(given.items)]
    if given.error is not None:
        return _failed(run, file, given, records, services)
    header = json.loads(_text(services, work.header))
    ignored: dict[str, None] = dict.fromkeys(header["ignored_columns"])
    for found in records:
        if found is None:
            raise RuntimeError("a child's figures are missing from the work folder, yet no step failed")
        record = ScoredItem(**found)
        _count_in(file, record)
        for name in record.ignored_columns:  # first seen first, as one reader names them
            if len(ignored) < MAX_NAMED_COLUMNS:
                ignored.setdefault(name, None)
    if not file.parts:
        part = key.part_key(0)
        outputs.put(part, header_line(header["columns"]), "text/csv; charset=utf-8")
        file.parts.append(part)
    previous = {"parts": [key.part_key(i) for i in range(run.previous_parts)]}
    return write_success(
        file,
        outputs,
        previous,
        how=", in parts",
        format=key.format,
        chunk_rows=run.chunk_rows,
        columns=header["columns"],
        id_columns=header["id_columns"],
        ignored_columns=list(ignored),
        onnx_sha256=run.onnx_sha256,
    )


def _count_in(file: FileRun, record: ScoredItem) -> None:
    """A child's parts and rows added to the file's."""
    file.parts += record.parts
    file.rows += record.rows
    file.scored += record.scored
    file.errors += record.errors
    file.warnings += record.warnings


def _record(services: PartsServices, key: str) -> dict[str, Any] | None:
    found = services.work.get(key)
    return json.loads(found) if found is not None else None


def _failed(
    run: PartsRun,
    file: FileRun,
    given: FinishInput,
    records: Sequence[dict[str, Any] | None],
    services: PartsServices,
) -> BatchOutcome:
    """The first recorded failure (a slice's count, then a part's scoring), else the step's error. The
    parts the children wrote are listed with their rows, as one invocation lists the parts it wrote
    before it failed; with no `_SUCCESS.json` they are not a result."""
    work = WorkFolder(run)
    for found in records:
        if found is not None:
            _count_in(file, ScoredItem(**found))
    file.parts.sort()
    counted = [_record(services, work.count(i)) for i in range(given.slices)] if given.items == 0 else []
    for index, found in enumerate(counted):
        if found is not None and found.get("failure"):
            failure = _located(run, found, counted[:index])
            return write_failure(file, services.outputs, failure["code"], failure["message"])
    for found in records:
        if found is not None and found.get("failure"):
            failure = found["failure"]
            return write_failure(file, services.outputs, failure["code"], failure["message"])
    error = given.error or {}
    cause = str(error.get("Cause") or "")[:2000]
    message = f"a step of the batch scoring state machine failed: {error.get('Error', 'unknown error')}: {cause}"
    return write_failure(file, services.outputs, "internal_error", message)


def _located(run: PartsRun, found: dict[str, Any], earlier: Sequence[dict[str, Any] | None]) -> dict[str, str]:
    """A slice's failure at the file's row when every earlier slice was counted (a Map that failed may
    have stopped some before they ran), else at the slice's own row."""
    if "broken" not in found:
        return dict(found["failure"])
    broken = SliceBreak(**found["broken"])
    if any(counted is None or "rows" not in counted for counted in earlier):
        return broken.in_slice()
    return broken.in_file(run, sum(int(counted["rows"]) for counted in earlier if counted is not None))
