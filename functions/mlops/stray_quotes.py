"""A stray quote that swallowed records: the one rule by which every CSV reader of the platform
(ingestion's Arrow reader, batch scoring's csv module) tells it from free text with line breaks.
Standard library only: the batch scoring functions carry no pandas, pyarrow or pydantic.

A CSV record may span lines: a quoted field may hold line breaks (a `notes` column). A stray quote,
one opened and never meant to hold anything, makes every reader run on through the line breaks of
the records below it up to the next quote character, and read them as one cell: those rows vanish
without an error, and every row number after them shifts. The rule tells the two apart by reading
each line of a record that spans lines on its own, as if it were a whole record (a quote that does
not close on its line counting as a plain character): **when every line then has exactly the
header's number of fields, each line evidently is a record, and the quote that joined them is
stray.** Blank lines are not records and are passed over.

Free text with line breaks is not read so unless each of its lines, the first with the fields
before it and the last with the fields after it, holds just as many commas as a whole record: a
note's line would need 19 commas in a 20-column file. The rule needs two columns at least (in a
one-column file every line is a whole record), and is weakest at two: there a note whose first
line has no comma and whose later lines have one each (`1,"hello\\nfoo, bar"`) reads as records.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

QUOTE = '"'
ADVICE = (
    "remove that quote, or end the value it opens with a closing quote on the same line; a quote that is "
    'part of a value is written twice inside a quoted value ("12"" pipe"), as RFC 4180 does'
)


@dataclass(frozen=True)
class StrayQuote:
    """Where a quote swallowed records: the row (the first data row is row 1) and the line (the header
    is line 1; None where only a piece of the file was read) it opened on, the column whose field it
    opened, how many lines that field runs over, and the header's field count."""

    row: int
    line: int | None
    column: str
    lines: int
    fields: int

    def describe(self, filename: str | None = None) -> str:
        """The problem in the uploader's words: where, what it did, and the fix."""
        where = f"row {self.row}" if self.line is None else f"row {self.row} (line {self.line})"
        until = "" if self.line is None else f" (to line {self.line + self.lines - 1})"
        return (
            f"{filename + ': ' if filename else ''}{where}, column {self.column!r}: a quote opens a field that "
            f"runs over {self.lines} lines{until}, and each of those lines holds a whole record of "
            f"{self.fields} fields: the quote is stray, and the {self.lines} records would be read as one. "
            f"Fix the file: {ADVICE}"
        )


def fields_alone(line: str) -> tuple[int, int | None]:
    """(fields, the index of the field a quote opens without closing on the line, or None) of one line
    read as if it were a whole record; commas after an unclosed quote separate fields."""
    line = line.rstrip("\r\n")
    fields, at, end = 1, 0, len(line)
    while at < end:
        if line.startswith(QUOTE, at):  # a quote at a field's start opens a quoted field
            close = _closing_quote(line, at + 1)
            if close is None:
                return fields + line.count(",", at), fields - 1
            at = close + 1
        comma = line.find(",", at)
        if comma < 0:
            break
        fields += 1
        at = comma + 1
    return fields, None


def _closing_quote(line: str, start: int) -> int | None:
    """The quote that ends a quoted field starting at `start` (a doubled quote is part of the value)."""
    while (quote := line.find(QUOTE, start)) >= 0:
        if line.startswith(QUOTE, quote + 1):
            start = quote + 2
            continue
        return quote
    return None


def swallowed_column(lines: Sequence[str], width: int) -> int | None:
    """The rule (module text) on the lines of one record: the index of the column whose quote swallowed
    the records the lines hold, or None. The last line is read first: free text fails there soonest."""
    if width < 2:
        return None
    records = [text for text in lines if text.strip()]
    if len(records) < 2 or any(fields_alone(text)[0] != width for text in reversed(records[1:])):
        return None
    fields, column = fields_alone(records[0])
    return column if fields == width else None


def stray_quote(lines: Sequence[str], header: Sequence[str], *, row: int, line: int | None) -> StrayQuote | None:
    """The rule on the lines of one record: data row `row`, starting at line `line`."""
    column = swallowed_column(lines, len(header))
    return None if column is None else StrayQuote(row, line, header[column], len(lines), len(header))


class RecordLines:
    """Lines on their way to a `csv.reader`, the lines of the record being read kept aside, so that a
    record the reader returns can be held against the rule: `csv.reader(kept)`, then `kept.take()`
    after each row."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self._kept: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self._kept.append(line)
            yield line

    def take(self) -> list[str]:
        """The lines read since the last call (one record's, or a blank line's); forgets them."""
        taken, self._kept = self._kept, []
        return taken


def first_stray_quote(lines: Iterable[str]) -> StrayQuote | None:
    """The first stray quote in a CSV's lines (the header first), read with the csv module, which reads
    a stray quote as every reader does: on to the next quote character."""
    kept = RecordLines(lines)
    reader = csv.reader(kept)
    header: list[str] | None = None
    row = line = 0
    try:
        for fields in reader:
            taken = kept.take()
            if header is None:
                header = fields or None
            elif fields:
                row += 1
                if len(taken) > 1 and (found := stray_quote(taken, header, row=row, line=line + 1)):
                    return found
            line += len(taken)
    except csv.Error:  # a field past the csv module's limit: the record read so far is the evidence
        if header is not None:
            return stray_quote(kept.take(), header, row=row + 1, line=line + 1)
    return None
