"""A stray quote in a file for batch scoring fails the file naming its row, line, column and the lines it
swallowed, in one invocation as in parts; never a `_SUCCESS.json` with rows missing and every later
row number shifted. Notes with line breaks, commas and doubled quotes are scored row for row."""

from __future__ import annotations

import csv
import io
import json

from mlops.serving.batch import score_upload
from mlops.serving.models import ServedVersion, load_version
from tests.loan_notes import STRAY_SPAN, loan_notes_csv
from tests.unit.serving.parts_support import MemoryBucket, PartsMachine, resolver, score_in_parts
from tests.unit.serving.support import Registered, breast_cancer

KEY = "batch/breast-cancer/loans.csv"
PREFIX = "batch/breast-cancer/loans.predictions/"


def _served(registered: Registered) -> ServedVersion:
    return load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)


def _features(registered: Registered) -> list[dict[str, object]]:
    return registered.records(registered.prepared.splits.rows_test[:50])


def test_notes_on_several_lines_are_scored_row_for_row() -> None:
    registered = breast_cancer()
    notes = loan_notes_csv(3_000, features=_features(registered))
    bucket = MemoryBucket()
    outcome = score_upload(bucket.upload(KEY, notes.data), bucket, resolver(_served(registered)), chunk_rows=1_000)
    assert outcome.status == "scored" and (outcome.rows, outcome.rows_with_errors) == (3_000, 0)
    rows = [row for part in outcome.parts for row in csv.DictReader(io.StringIO((bucket.get(part) or b"").decode()))]
    assert [(row["row"], row["id"]) for row in rows] == [(str(i), f"R{i}") for i in range(1, 3_001)]


def test_a_stray_quote_fails_the_file_naming_where_and_the_parts_path_refuses_it_with_the_same_fix() -> None:
    registered = breast_cancer()
    served = _served(registered)
    notes = loan_notes_csv(3_000, stray_row=2_500, stray_column="note", features=_features(registered))
    line = notes.lines[2_499]

    bucket = MemoryBucket()
    alone = score_upload(bucket.upload(KEY, notes.data), bucket, resolver(served), chunk_rows=1_000)
    assert alone.status == "failed" and bucket.get(f"{PREFIX}_SUCCESS.json") is None
    failed = json.loads(bucket.get(f"{PREFIX}_FAILED.json") or b"{}")
    assert failed["code"] == "stray_quote"
    assert failed["message"].startswith(
        f"row 2500 (line {line}), column 'note': a quote opens a field that runs over {STRAY_SPAN} lines "
        f"(to line {line + STRAY_SPAN - 1}), and each of those lines holds a whole record of {len(notes.header)} fields"
    )

    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 100_000)
    in_parts = score_in_parts(machine, machine.raw.upload(KEY, notes.data), served, chunk_rows=1_000)
    assert in_parts.status == "failed" and in_parts.summary.startswith("unsplittable_csv: loans.csv: it has an odd")
    assert "remove that quote" in in_parts.summary and "remove that quote" in failed["message"]


def test_a_stray_quote_that_swallows_past_the_csv_field_limit_is_named_not_called_malformed() -> None:
    registered = breast_cancer()
    notes = loan_notes_csv(3_000, stray_row=100, stray_column="note", features=_features(registered))
    text = notes.data.decode()
    opened = text.index('"call back')
    # Every later note as plain text: nothing closes the stray quote, whose field outgrows the csv module's limit.
    rest = text[opened + 1 :].replace('"line one, with comma\nline two ""quoted""\nline three"', "three lines")
    rest = rest.replace('"line one, with comma\nline two"', "two lines").replace('"said ""will pay"", then left"', "x")
    assert len(rest) > csv.field_size_limit() and '"' not in rest
    bucket = MemoryBucket()
    data = (text[: opened + 1] + rest).encode()
    outcome = score_upload(bucket.upload(KEY, data), bucket, resolver(_served(registered)), chunk_rows=1_000)
    assert outcome.summary.startswith(f"stray_quote: row 100 (line {notes.lines[99]}), column 'note'")
