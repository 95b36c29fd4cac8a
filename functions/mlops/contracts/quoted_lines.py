"""A stray quote in a CSV that Arrow has read: the records whose quoted fields hold line breaks, found
in the table, held against the rule of `mlops.stray_quotes` at their lines in the file.

Arrow does not say where a record was in the file, so the lines are found from the cells: a cell
that holds a line break was opened by a quote, and its text up to its last line break (quotes
doubled back) follows that quote in the file. Only cells that could be stray (their first line
completes the record, each later whole line is a record) are looked up, in row order, each from
where the one before ended, so the search reads the file once at most. A file without quotes after
its header is not looked at, nor one with no more line breaks than rows (one count of its bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from mlops.stray_quotes import StrayQuote, first_stray_quote, swallowed_column


@dataclass(frozen=True)
class _Cell:
    row: int  # 0-based
    column: int
    text: str


def stray_quote_in_table(data: bytes, table: pa.Table) -> StrayQuote | None:
    """The first stray quote among the records of `table`, read from the CSV `data` (its header first)."""
    names = table.column_names
    if data.count(b"\n") <= table.num_rows + 1:
        return None  # no more line breaks than rows: no record spans lines (one pass, a third of the cell scans)
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
    later whole line has a record's field count."""
    width = table.num_columns
    found: list[_Cell] = []
    for index, read in enumerate(table.columns):
        column = read
        if pa.types.is_dictionary(read.type):
            if not any(pc.any(pc.match_substring(chunk.dictionary, "\n")).as_py() for chunk in read.chunks):
                continue
            column = read.cast(read.type.value_type)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        breaks = pc.fill_null(pc.match_substring(column, "\n"), False)
        rows = pc.indices_nonzero(breaks).to_pylist()
        texts = column.filter(breaks).to_pylist() if rows else []  # filter: take would join the chunks
        for row, text in zip(rows, texts, strict=True):
            first, *inner, _ = text.split("\n")
            if index + first.count(",") + 1 == width and all(
                line.count(",") + 1 == width for line in inner if line.strip("\r")
            ):
                found.append(_Cell(row, index, text))
    return sorted(found, key=lambda cell: (cell.row, cell.column))
