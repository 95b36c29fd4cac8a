"""What the stray-quote check (`mlops.contracts.quoted_lines`) adds to reading a CSV for validation:
its time inside `read_table`, against `read_table`'s, on the ingestion benchmark's 1M x 20 table.

The benchmark's clean CSV has no quote after its header (the check does not look at it) and its dirty
one quoted `"1,5"` cells on one line; three more files are the clean one with its `note` column
quoted: 2 % of notes on three lines (the second no record), 2 % on two lines in the last column, and
the worst case found, 1 % on two lines whose first line has exactly the commas that end the record,
so that each is looked up in the file (the rest of the notes quoted on one line).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ingestion_checks, ingestion_data
from bench.figures import Figure

SEED = 20
NoteText = Callable[[str, int], str]


def run(quick: bool) -> list[Figure]:
    from mlops.contracts import load_contract, read_table, reading

    rows = 20_000 if quick else 1_000_000
    dataset = ingestion_data.ensure(rows)
    contract = load_contract(ingestion_checks.contract_yaml(), source="bench/ingestion_checks.py")
    checked = reading._refuse_stray_quote
    spent: list[float] = []

    def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            checked(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    clean = dataset.path("clean", "csv")
    files = {
        "clean CSV (no quotes)": clean.read_bytes(),
        'dirty CSV ("1,5" cells quoted)': dataset.path("dirty", "csv").read_bytes(),
        "notes quoted, 2 % on three lines": _notes(clean, _three_lines, 0.02),
        "notes quoted and last, 2 % on two lines": _notes(clean, _two_lines, 0.02, last=True),
        "worst found: 1 % of notes on two lines, each looked up": _notes(clean, _first_line_ends_the_record, 0.01),
    }
    figures = []
    reading._refuse_stray_quote = timed  # type: ignore[assignment]
    try:
        for name, data in files.items():
            reads, checks = [], []
            for _ in range(3 if quick else 7):
                spent.clear()
                started = time.perf_counter()
                read_table(data, filename="bench.csv", contract=contract)
                reads.append(time.perf_counter() - started)
                checks.append(sum(spent))
            read, check = statistics.median(reads), statistics.median(checks)
            figures.append(
                Figure(
                    benchmark="stray_quotes",
                    figure=f"stray-quote check in read_table: {name}",
                    value=check * 1000,
                    unit="ms",
                    baseline="read_table without the check",
                    baseline_value=(read - check) * 1000,
                    ratio=check / (read - check),
                    ratio_meaning="value / baseline (the share the check adds)",
                    target="small (< 0.1x)",
                    met=check / (read - check) < 0.1,
                    data=f"{rows:,} rows x 20 columns, {len(data) / 1e6:.0f} MB, median of {len(reads)}",
                )
            )
    finally:
        reading._refuse_stray_quote = checked  # type: ignore[assignment]
    return figures


def _notes(path: Path, note_text: NoteText, share: float, *, last: bool = False) -> bytes:
    """The clean CSV with its `note` column quoted (moved last with `last`), `share` of the notes
    written by `note_text` (the note, and the number of columns after it)."""
    rng = random.Random(SEED)
    with path.open(newline="") as source:
        names = source.readline().rstrip("\n").split(",")
        note = names.index("note")
        after = 0 if last else len(names) - note - 1
        if last:
            names.append(names.pop(note))
        lines = [",".join(names)]
        for line in source:  # the clean file quotes nothing: its commas are its separators
            cells = line.rstrip("\n").split(",")
            text = cells.pop(note)
            quoted = note_text(text, after) if rng.random() < share else f'"{text}"'
            cells.insert(len(cells) if last else note, quoted)
            lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def _three_lines(text: str, after: int) -> str:
    return f'"{text}, see below\nline two ""quoted""\nline three"'


def _two_lines(text: str, after: int) -> str:
    return f'"{text}\nplease call back, today"'


def _first_line_ends_the_record(text: str, after: int) -> str:
    return '"' + text + ", x" * after + '\nline two"'
