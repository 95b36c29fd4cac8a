"""A stray quote in a CSV that Arrow has read: the records whose quoted fields hold line breaks, found
in the table, held against the rule of `mlops.stray_quotes` at their lines in the file.

Arrow does not say where a record was in the file, so the lines are found from the cells: a cell
that holds a line break was opened by a quote, and its text up to its last line break (quotes
doubled back) follows that quote in the file. Only cells that could be stray (their first line
completes the record, each later whole line is a record) are looked up, in row order, each from
where the one before ended, so the search reads the file once at most. A file without quotes after
its header is not looked at.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlops.stray_quotes import StrayQuote, first_stray_quote, swallowed_column


class _Cell(NamedTuple):  # a tuple, so that cells sort by row, then column, at C speed
    row: int  # 0-based
    column: int
    text: str


def stray_quote_in_table(data: bytes, table: pa.Table) -> StrayQuote | None:
    """The first stray quote among the records of `table`, read from the CSV `data` (its header first)."""
    names = table.column_names
    at = 0  # where the cell before ended: the cells are found in order
    for cell in _could_be_stray(table):
        head = cell.text[: cell.text.rfind("\n") + 1]
        needle = b'"' + head.replace('"', '""').encode()
        opened = data.find(needle, at)
        if opened < 0:
            continue  # not where a quote put it (a quote inside an unquoted value): not this rule's case
        start = data.rfind(b"\n", 0, opened) + 1
        stop = data.find(b"\n", opened + len(needle))
        lines = data[start : len(data) if stop < 0 else stop].decode("utf-8", "replace").split("\n")
        column = swallowed_column(lines, len(names))
        if column is not None:
            line = data.count(b"\n", 0, start) + 1
            return StrayQuote(cell.row + 1, line, names[column], len(lines), len(names))
        at = opened + len(needle)
    return None


def stray_quote_in_text(data: bytes) -> StrayQuote | None:
    """The first stray quote of a CSV that Arrow could not read (a swallowing quote may leave a
    record short of fields): the whole file read by the csv module, on this error path only."""
    # Decoded as it is read: a StringIO of the whole file would hold four bytes a character.
    return first_stray_quote(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", newline=""))


def _could_be_stray(table: pa.Table) -> list[_Cell]:
    """The text cells, in the file's order, holding a line break where the rule could hold, asked of
    the cell's text alone: its first line ends the record that the fields before it began, and each
    later whole line has a record's field count. In the last column, its last line too: nothing
    follows the cell in its row, so a stray quote's cell ends with the whole record it stopped in
    (Arrow reads a quote that closes a field as the end of the quoting, the rest of the field as
    text up to the next comma, and there can be none), all of its fields but the last before it."""
    width = table.num_columns
    found: list[_Cell] = []
    for index, column in enumerate(table.columns):
        for row, text in _line_breaks(column, width - index - 1, width - 1):
            first, *inner, last = text.split("\n")
            if (
                index + first.count(",") + 1 == width
                and all(line.count(",") + 1 == width for line in inner if line.strip("\r"))
                and (index < width - 1 or last.count(",") >= width - 1)
            ):
                found.append(_Cell(row, index, text))
    return sorted(found)


def _line_breaks(column: pa.ChunkedArray, first: int, inner: int) -> Iterator[tuple[int, str]]:
    """(row, text) of the column's text cells holding a line break and at least `first` commas, and
    `inner` more for each line after the second (what the rule asks). The line breaks are found in
    each chunk's characters, and their cells from its offsets: a search of the bytes, with no look
    at the cells that hold none."""
    offset = 0
    for read in column.chunks:
        chunk = read
        if pa.types.is_dictionary(read.type) and _rows_with_line_breaks(read.dictionary).size:
            chunk = read.cast(read.type.value_type)
        rows = _rows_with_line_breaks(chunk)
        if rows.size:
            texts = chunk.take(pa.array(rows)).to_pylist()
            for row, text in zip(rows.tolist(), texts, strict=True):
                if text is not None and text.count(",") >= first + (text.count("\n") - 1) * inner:
                    yield offset + row, text
        offset += len(read)


def _rows_with_line_breaks(chunk: pa.Array) -> npt.NDArray[np.int64]:
    """The rows of a text chunk whose cells hold a line break (none for a chunk of another type)."""
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        return np.empty(0, np.int64)
    _, offsets, characters = chunk.buffers()
    if characters is None or b"\n" not in characters.to_pybytes():  # one fast search most chunks end at
        return np.empty(0, np.int64)
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
    breaks = np.flatnonzero(np.frombuffer(characters, dtype=np.uint8) == ord("\n"))
    breaks = breaks[(breaks >= bounds[0]) & (breaks < bounds[-1])]
    return np.unique(np.searchsorted(bounds, breaks, side="right") - 1).astype(np.int64)
