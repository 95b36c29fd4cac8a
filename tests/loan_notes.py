"""A loan book's CSV export with free-text notes (fixed seed), and the same file with one stray quote:
the data of the stray-quote tests of ingestion (unit and local) and batch scoring.

The notes are what a stray-quote rule must leave alone: quoted, with commas and doubled quotes, some
on three lines, some on two whose first line ends the record as a stray quote's would. The stray
quote opens a value (`"north`) and never closes it: the next three rows have no note, and the one
after them a quoted note on one line, whose opening quote is where the reader stops swallowing.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

COLUMNS = ("id", "loan_id", "amount", "age", "region")
NOTE_COLUMNS = ("note", "defaulted")
REGIONS = ("north", "south", "east", "west")
THREE_LINES = 'line one, with comma\nline two "quoted"\nline three'
TWO_LINES = "line one, with comma\nline two"  # the first line ends the record: only its last line tells
ONE_LINE = 'said "will pay", then left'
STRAY_SPAN = 5  # the stray quote's row, the three rows without a note, and the row whose note stops it
CONTRACT = """
dataset: loans
version: 1
label: defaulted
columns:
  - {name: id, type: string}
  - {name: loan_id, type: string}
  - {name: amount, type: float, min: 0}
  - {name: age, type: int, min: 18, max: 120}
  - {name: region, type: string}
  - {name: note, type: string, nullable: true}
  - {name: defaulted, type: int}
"""


@dataclass(frozen=True)
class LoanNotes:
    """The file, its rows as written (one text per column), and the line each row starts on."""

    data: bytes
    rows: list[list[str]]
    lines: list[int]  # lines[i]: the line of data row i + 1 (the header is line 1)
    header: list[str]


def loan_notes_csv(
    rows: int,
    *,
    seed: int = 20,
    stray_row: int | None = None,
    stray_column: str = "region",
    features: Sequence[Mapping[str, object]] = (),
) -> LoanNotes:
    """`rows` loans; with `stray_row`, that data row's `stray_column` value opens a quote never closed.
    `features`: more columns, per row (a model's inputs, for batch scoring), before the note."""
    rng = random.Random(seed)
    extra = list(features[0]) if features else []
    header = [*COLUMNS, *extra, *NOTE_COLUMNS]
    written: list[list[str]] = []
    for i in range(1, rows + 1):
        draw = rng.random()
        note = THREE_LINES if draw < 0.03 else TWO_LINES if draw < 0.05 else ONE_LINE if draw < 0.15 else ""
        if i == stray_row:  # a note on one line without quotes, so that nothing closes the stray quote early
            note = "call back" if stray_column == "note" else ""
        elif stray_row is not None and stray_row < i < stray_row + STRAY_SPAN - 1:
            note = ""
        elif stray_row is not None and i == stray_row + STRAY_SPAN - 1:
            note = ONE_LINE
        values = [
            f"R{i}",
            f"L{i:07d}",
            f"{rng.lognormvariate(9, 0.8):.2f}",
            str(rng.randint(18, 90)),
            rng.choice(REGIONS),
            *(str(features[(i - 1) % len(features)][name]) for name in extra),
            note,
            str(int(rng.random() < 0.1)),
        ]
        written.append(values)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    lines, line = [], 2
    for i, values in enumerate(written, start=1):
        lines.append(line)
        if i == stray_row:
            position = header.index(stray_column)
            cells = [_quoted(v) if n != position else '"' + v.replace('"', "") for n, v in enumerate(values)]
            out.write(",".join(cells) + "\n")
        else:
            writer.writerow(values)
        line += 1 + values[header.index("note")].count("\n")
    return LoanNotes(out.getvalue().encode(), written, lines, header)


def _quoted(value: str) -> str:
    """A value as csv.writer writes it in a row (quoted only when it must be)."""
    if not value:
        return value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()
