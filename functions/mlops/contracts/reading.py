"""Reading an uploaded file (CSV, gzip CSV, Parquet) into a DataFrame, fast and without surprises.

CSV goes through Arrow's multithreaded reader with the contract's types, so a clean 1M-row file is
parsed once, straight into typed columns. A cell that does not parse as its declared type must not
fail the read: then the file is read again with those columns as text, every column that converts
cleanly is converted, and a column with unparseable cells stays text so that validation can report
each such cell with its row and value. What is wrong with the file itself (empty, not UTF-8, wrong
delimiter, ragged rows, a stray quote that swallowed records, corrupt Parquet or gzip, unknown
extension) raises ``FileProblem``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from mlops.contracts.coercion import CSV_FALSE_VALUES, CSV_TRUE_VALUES, NULL_TOKENS, strict_cast
from mlops.contracts.model import ColumnSpec, DataContract
from mlops.contracts.quoted_lines import stray_quote_in_table, stray_quote_in_text

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = b"\xef\xbb\xbf"
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.gzip")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_UTF8_CHUNK = 1 << 22
# Reading and validating run on worker threads. Arrow's default allocator (mimalloc) keeps what they
# free in per-thread heaps, where malloc reuses it across threads and trims it back to the OS
# (``release_unused``). For 1M x 20, reading a CSV peaked at 2.4x the frame instead of 1.9x, and
# validating a Parquet file at 105 MB above what reading left instead of 60 MB.
_SYSTEM_POOL = pa.system_memory_pool()
_RAGGED_EXAMPLES = 3

FileFormat = Literal["csv", "parquet"]


class FileProblem(Exception):  # noqa: N818 - the problem's word for it: a problem, not a program error
    """What is wrong with an uploaded file as a whole, so that no row of it can be checked."""

    def __init__(self, code: str, message: str, *, line: int | None = None, byte_offset: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.byte_offset = byte_offset

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class SliceOrigin:
    """Where a CSV slice sits in its file, when the bytes read are the file's header line followed by
    the slice (a byte range of the file, `mlops.datasets.upload_plan`): what a problem's byte, line
    and record numbers past the header are moved by, so that it names the file's own byte and line,
    counted as a read of the whole file counts them."""

    header_bytes: int
    bytes_before: int = 0  # bytes of the file between the header's end and the slice's first byte
    lines_before: int = 0  # newlines there, every one (the UTF-8 check counts lines so)
    records_before: int = 0  # non-empty records there (the CSV reader counts lines so: a quoted newline
    # or an empty line ends none)

    def byte(self, offset: int) -> int:
        return offset + self.bytes_before if offset >= self.header_bytes else offset

    def line(self, line: int, offset: int) -> int:
        return line + self.lines_before if offset >= self.header_bytes else line

    def record(self, number: int) -> int:
        return number + self.records_before if number > 1 else number


def file_format(filename: str) -> FileFormat:
    """The format an upload's name announces; the content may still turn out to be gzip."""
    name = filename.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise FileProblem(
        "unsupported_extension",
        f"{filename!r} is neither CSV nor Parquet: upload a .csv, .csv.gz or .parquet file",
    )


@contextlib.contextmanager
def system_memory_pool() -> Iterator[None]:
    """Arrow allocates through malloc inside this block (see ``_SYSTEM_POOL``); the pool is restored after."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(_SYSTEM_POOL)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def read_table(
    data: bytes, *, filename: str, contract: DataContract | None, origin: SliceOrigin | None = None
) -> pd.DataFrame:
    """The upload as a DataFrame; raises ``FileProblem`` (and nothing else) for a file that cannot be read.
    `origin`: the data is a slice of a CSV file (after its header), and a problem names the file's line."""
    kind = file_format(filename)
    with system_memory_pool():
        return _read_table(data, filename, kind, contract, origin or SliceOrigin(header_bytes=0))


def _read_table(
    data: bytes, filename: str, kind: FileFormat, contract: DataContract | None, origin: SliceOrigin
) -> pd.DataFrame:
    try:
        if data[:2] == GZIP_MAGIC:
            data = _gunzip(data)
        if data[:3] == UTF8_BOM:
            data = data[3:]
        if not data or data.isspace():
            raise FileProblem("empty_file", f"{filename!r} is empty: there is no header and no data")
        if data[:4] == PARQUET_MAGIC or kind == "parquet":
            tables = [_read_parquet(data, filename, contract)]
        else:
            tables = [_read_csv(data, filename, contract, origin)]
        return _to_frame(tables)
    except FileProblem:
        raise
    except (pa.ArrowException, ValueError, TypeError, OSError, EOFError, IndexError, KeyError, OverflowError) as exc:
        # A reader failing in a way not foreseen above is still the file's problem, never a crash.
        raise FileProblem("unreadable", f"{filename!r} could not be read: {exc}") from exc


def text_cells(data: bytes, names: Sequence[str]) -> pa.Table:
    """The named columns of a CSV (or gzip CSV) file as the text of their cells, missing where
    `read_table` reads a cell as missing: what these columns hold when a read of more rows finds
    them to be text. Only the named columns are converted."""
    with system_memory_pool():
        if data[:2] == GZIP_MAGIC:
            data = _gunzip(data)
        if data[:3] == UTF8_BOM:
            data = data[3:]
        read, parse, convert = _options(data, {name: pa.string() for name in names})
        convert.include_columns = list(names)
        return pcsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem("corrupt_gzip", f"the gzip stream is corrupt or truncated: {exc}") from None


def _read_parquet(data: bytes, filename: str, contract: DataContract | None) -> pa.Table:
    if data[:4] != PARQUET_MAGIC or data[-4:] != PARQUET_MAGIC:
        raise FileProblem(
            "corrupt_parquet",
            f"{filename!r} is not a Parquet file: a Parquet file starts and ends with 'PAR1' "
            f"(this one starts with {data[:8]!r}); upload CSV as .csv",
        )
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    try:
        schema = pq.ParquetFile(pa.BufferReader(data)).schema_arrow
        # Text declared as a category is read as a dictionary: smaller, and checked once per category.
        dictionary = [
            f.name
            for f in schema
            if f.name in specs
            and specs[f.name].type.value == "category"
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=dictionary or None)
        table = parquet.read(use_threads=True)
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError) as exc:
        raise FileProblem("corrupt_parquet", f"{filename!r} is a corrupt Parquet file: {exc}") from None
    _check_names(table.column_names)
    if table.num_rows == 0:
        raise FileProblem("no_rows", f"{filename!r} has columns ({_names(table.column_names)}) but no rows")
    return _convert_text_columns(table, specs, infer=False)


def _check_utf8(data: bytes, origin: SliceOrigin) -> None:
    """Say where the first non-UTF-8 byte is: a Latin-1 export otherwise turns into silent garbage."""
    if data.isascii():
        return
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FileProblem(
            "not_utf8", "the file is UTF-16 encoded; the platform expects UTF-8: re-save it as UTF-8", byte_offset=0
        )
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    for start in range(0, len(data), _UTF8_CHUNK):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start : start + _UTF8_CHUNK], final=start + _UTF8_CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            local = start - pending + exc.start
            offset, line = origin.byte(local), origin.line(data.count(b"\n", 0, local) + 1, local)
            raise FileProblem(
                "not_utf8",
                f"byte {offset} (line {line}) is 0x{data[local]:02X}, which is not valid UTF-8: the platform "
                "expects UTF-8 text (this looks like Latin-1 or Windows-1252; re-save the file as UTF-8)",
                line=line,
                byte_offset=offset,
            ) from None


def _header(data: bytes) -> tuple[str, list[str]]:
    end = data.find(b"\n")
    line = (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")
    try:
        names = next(csv.reader(io.StringIO(line)), [])
    except csv.Error:
        names = line.split(",")
    return line, names


def _check_delimiter(header: str, contract: DataContract | None) -> None:
    if "," in header or (contract is not None and header in contract.column_names):
        return
    for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        count = header.count(delimiter)
        if count:
            raise FileProblem(
                "wrong_delimiter",
                f"the header has no commas but {count} {label}: the file seems to use {delimiter!r} as its "
                "delimiter; the platform reads comma-separated CSV (export with ',' as the separator)",
                line=1,
            )


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    twice = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if twice:
        raise FileProblem("duplicate_columns", f"the header names {_names(twice)} more than once", line=1)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _csv_type(kind: str, fmt: str | None) -> pa.DataType:
    if kind == "int":
        return pa.int64()
    if kind == "float":
        return pa.float64()
    if kind == "bool":
        return pa.bool_()
    if kind == "category":
        return pa.dictionary(pa.int32(), pa.string())
    if kind == "datetime" and fmt is None:
        return pa.timestamp("us")
    return pa.string()  # string, and datetimes with a format (converted after the read)


def _quoted_values(data: bytes) -> bool:
    """Quoted values may hold newlines, and then the parser must track quotes across blocks, which
    costs half again the parse time; a quoted header alone (as many exporters write) does not count."""
    header_end = data.find(b"\n")
    return header_end >= 0 and data.find(b'"', header_end) >= 0


def _options(
    data: bytes, column_types: dict[str, pa.DataType]
) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions, pcsv.ConvertOptions]:
    read = pcsv.ReadOptions(use_threads=True, block_size=1 << 22)
    parse = pcsv.ParseOptions(delimiter=",", newlines_in_values=_quoted_values(data))
    convert = pcsv.ConvertOptions(
        column_types=column_types,
        null_values=NULL_TOKENS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=CSV_TRUE_VALUES,
        false_values=CSV_FALSE_VALUES,
    )
    return read, parse, convert


def _read_csv(data: bytes, filename: str, contract: DataContract | None, origin: SliceOrigin) -> pa.Table:
    _check_utf8(data, origin)
    header, names = _header(data)
    if not header.strip():
        raise FileProblem("no_header", "the first line is empty: it must name the columns", line=1)
    _check_delimiter(header, contract)
    _check_names(names)
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    declared = {n: _csv_type(specs[n].type.value, specs[n].format) for n in names if n in specs}
    buffer = pa.py_buffer(data)
    read, parse, convert = _options(data, declared)
    try:
        table = pcsv.read_csv(buffer, read_options=read, parse_options=parse, convert_options=convert)
        fallback = False
    except pa.ArrowInvalid as exc:
        fallback = True
        message = str(exc)
        if "columns, got" in message:
            _refuse_stray_quote(data, filename, None, quoted=parse.newlines_in_values, origin=origin)
            raise _ragged(data, names, origin) from None
        if "conversion error" not in message:
            raise FileProblem("malformed_csv", f"{filename!r} is not well-formed CSV: {message}") from None
        # Some cell is not of its column's type: read every typed column as text and convert each below.
        as_text = {n: t if t == pa.string() or pa.types.is_dictionary(t) else pa.string() for n, t in declared.items()}
        as_text |= {n: pa.string() for n in names if n not in declared}
        read, parse, convert = _options(data, as_text)
        table = pcsv.read_csv(buffer, read_options=read, parse_options=parse, convert_options=convert)
    if table.num_rows == 0:
        raise FileProblem("no_rows", f"{filename!r} has a header ({_names(table.column_names)}) but no data rows")
    _refuse_stray_quote(data, filename, table, quoted=parse.newlines_in_values, origin=origin)
    return _convert_text_columns(table, specs, infer=fallback)


def _refuse_stray_quote(
    data: bytes, filename: str, table: pa.Table | None, *, quoted: bool, origin: SliceOrigin
) -> None:
    """A quote that swallowed whole records (`mlops.stray_quotes`) is the file's problem, named at its
    line: read on, the rows it swallowed would vanish and every later row number would shift. `table`:
    what Arrow read, or None when it could not read the file; `origin`: where a slice's rows and lines
    are in the file (a stray quote is past the header)."""
    if not quoted:
        return
    found = stray_quote_in_text(data) if table is None else stray_quote_in_table(data, table)
    if found is not None:
        line = None if found.line is None else found.line + origin.lines_before
        found = replace(found, row=found.row + origin.records_before, line=line)
        raise FileProblem("stray_quote", found.describe(filename), line=found.line)


def _convert_text_columns(table: pa.Table, specs: dict[str, ColumnSpec], *, infer: bool) -> pa.Table:
    """Give each text column its declared type when every cell converts; leave it text otherwise."""
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        spec = specs.get(name)
        if spec is not None:
            kind = spec.type.value
            if kind == "string":
                continue
            converted = strict_cast(column, kind, spec.format)
        elif infer:
            # An undeclared column (or no contract) read as text after a failed inference: try the usual types.
            converted = strict_cast(column, "int", None)
            if converted is None:
                converted = strict_cast(column, "float", None)
        else:
            continue
        if converted is not None:
            table = table.set_column(index, name, converted)
    return table


def _ragged(data: bytes, names: list[str], origin: SliceOrigin) -> FileProblem:
    """Name the lines whose field count differs from the header's, found by a serial re-read. Arrow
    numbers them by record, the header being 1: a quoted newline and an empty line start none."""
    found: list[tuple[int | None, int, int, str]] = []

    def handler(row: pcsv.InvalidRow) -> str:
        number = origin.record(row.number) if row.number is not None else None
        found.append((number, row.expected_columns, row.actual_columns, row.text))
        return "error" if len(found) >= _RAGGED_EXAMPLES else "skip"

    read = pcsv.ReadOptions(use_threads=False)
    parse = pcsv.ParseOptions(newlines_in_values=_quoted_values(data), invalid_row_handler=handler)
    convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names})
    with contextlib.suppress(pa.ArrowException):  # the handler stops the read after a few lines
        pcsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    if not found:
        return FileProblem("ragged_rows", "some rows have a different number of fields than the header")
    number, expected, actual, text = found[0]
    where = f"line {number}" if number is not None else "a line"
    snippet = text if len(text) <= 80 else text[:77] + "..."
    message = f"{where} has {actual} fields where the header has {expected}: {snippet!r}"
    others = [f"line {n}" for n, *_ in found[1:] if n is not None]
    if others:
        message += f"; so do {', '.join(others)}" + (" and maybe more" if len(found) >= _RAGGED_EXAMPLES else "")
    return FileProblem("ragged_rows", message, line=number)


def _to_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Column by column, releasing each Arrow column once converted, so the peak stays near one copy.

    The table arrives in a list that this function empties: no caller's variable keeps it alive.
    """
    table = tables.pop()
    names = table.column_names
    columns: list[pa.ChunkedArray | None] = list(table.columns)
    del table
    # Hand what the readers freed back to the OS before and while the columns are converted.
    _release()
    out: dict[str, pd.Series] = {}
    for index, name in enumerate(names):
        column = columns[index]
        assert column is not None
        columns[index] = None
        out[name] = _to_series(column, name)
        del column
        if index % 4 == 3:
            _release()
    _release()
    return pd.DataFrame(out, copy=False)


def _release() -> None:
    pa.default_memory_pool().release_unused()


def _to_series(column: pa.ChunkedArray, name: str) -> pd.Series:
    kind = column.type
    if column.null_count and pa.types.is_integer(kind):
        mapper = {kind: pd.Int64Dtype()}.get
        return pd.Series(column.to_pandas(types_mapper=mapper), name=name, copy=False)
    if column.null_count and pa.types.is_boolean(kind):
        mapper = {kind: pd.BooleanDtype()}.get
        return pd.Series(column.to_pandas(types_mapper=mapper), name=name, copy=False)
    return pd.Series(column.to_pandas(), name=name, copy=False)
