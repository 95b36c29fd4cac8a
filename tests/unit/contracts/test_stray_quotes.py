"""A stray quote on ingestion's single-file path: refused naming the file, the line the quote opened on,
the column and the lines it swallowed, with advice that works; free text with line breaks, commas and
doubled quotes is read whole; the partitioned plan refuses the same bytes with the same advice."""

from __future__ import annotations

import re

import pytest

from mlops.contracts import FileProblem, load_contract, read_table
from mlops.contracts.reading import SliceOrigin
from mlops.record_cuts import BytesInMemory, SplitError, csv_ranges
from mlops.stray_quotes import swallowed_column
from tests.loan_notes import CONTRACT, STRAY_SPAN, TWO_LINES, loan_notes_csv


def test_notes_on_several_lines_with_commas_and_quotes_are_read_whole_not_taken_for_a_stray_quote() -> None:
    notes = loan_notes_csv(4_000)
    assert sum(row[5] == TWO_LINES for row in notes.rows) > 50, "notes whose first line ends the record"
    frame = read_table(notes.data, filename="loans.csv", contract=load_contract(CONTRACT, source="loans.yaml"))
    assert len(frame) == 4_000
    assert frame["id"].tolist() == [f"R{i}" for i in range(1, 4_001)]
    assert frame["note"].fillna("").tolist() == [row[5] for row in notes.rows]


@pytest.mark.parametrize(
    "region",
    ["{name: region, type: string}", "{name: region, type: category}", None],
    ids=["string", "category", "no_contract"],
)
def test_a_stray_quote_is_refused_naming_the_file_line_column_and_lines_it_swallowed(region: str | None) -> None:
    notes = loan_notes_csv(4_000, stray_row=2_500)
    line = notes.lines[2_499]
    text = CONTRACT.replace("{name: region, type: string}", region or "")
    contract = load_contract(text, source="loans.yaml") if region else None
    with pytest.raises(FileProblem) as caught:
        read_table(notes.data, filename="loans.csv", contract=contract)
    problem = caught.value
    assert problem.code == "stray_quote" and problem.line == line
    assert problem.message.startswith(
        f"loans.csv: row 2500 (line {line}), column 'region': a quote opens a field that runs over "
        f"{STRAY_SPAN} lines (to line {line + STRAY_SPAN - 1}), and each of those lines holds a whole record "
        "of 7 fields"
    )
    assert "remove that quote" in problem.message and "smaller" not in problem.message


def test_a_slice_of_the_file_names_the_same_row_and_line_as_the_whole_file() -> None:
    notes = loan_notes_csv(4_000, stray_row=2_500)
    header_stop = notes.data.index(b"\n") + 1
    start = _line_start(notes.data, notes.lines[2_000])  # the slice starts at row 2001
    origin = SliceOrigin(header_stop, start - header_stop, notes.lines[2_000] - 2, 2_000)
    with pytest.raises(FileProblem) as whole:
        read_table(notes.data, filename="loans.csv", contract=None)
    with pytest.raises(FileProblem) as piece:
        read_table(notes.data[:header_stop] + notes.data[start:], filename="loans.csv", contract=None, origin=origin)
    assert (piece.value.message, piece.value.line) == (whole.value.message, whole.value.line)


def _line_start(data: bytes, line: int) -> int:
    at = 0
    for _ in range(line - 1):
        at = data.index(b"\n", at) + 1
    return at


def test_a_stray_quote_in_the_last_column_is_found_and_notes_there_are_read_whole() -> None:
    # The loans without their last column, `defaulted`, so that `note` is last, and the note that stops
    # the stray quote without its comma, so that Arrow reads the rows it swallowed as one of 6 fields.
    last = {
        stray: re.sub(
            rb",(defaulted|0|1)\n", b"\n", loan_notes_csv(2_000, stray_row=stray, stray_column="note").data
        ).replace(b'"", then left"', b'"" then left"')
        for stray in (None, 1_200)
    }
    assert read_table(last[None], filename="loans.csv", contract=None).columns[-1] == "note"
    assert len(read_table(last[None], filename="loans.csv", contract=None)) == 2_000
    with pytest.raises(FileProblem) as caught:
        read_table(last[1_200], filename="loans.csv", contract=None)
    assert caught.value.code == "stray_quote" and "row 1200 (line" in caught.value.message


def test_a_stray_quote_never_closed_is_named_as_such_not_as_a_short_row() -> None:
    notes = loan_notes_csv(300)
    data = notes.data + b'R301,L0000301,5.0,40,"north,,0\nR302,L0000302,6.0,41,south,,0\n'
    with pytest.raises(FileProblem) as caught:
        read_table(data, filename="loans.csv", contract=load_contract(CONTRACT, source="loans.yaml"))
    line = data.count(b"\n") - 1
    assert caught.value.code == "stray_quote" and caught.value.line == line
    assert caught.value.message.startswith(f"loans.csv: row 301 (line {line}), column 'region'")


def test_the_partitioned_plan_refuses_the_same_bytes_advising_the_same_fix() -> None:
    notes = loan_notes_csv(4_000, stray_row=2_500)
    with pytest.raises(SplitError) as caught:
        csv_ranges(BytesInMemory(notes.data), 16_000)
    assert "a quote is stray" in str(caught.value) and "remove that quote" in str(caught.value)
    assert "smaller files" not in str(caught.value).replace("Smaller files are no way around it", "")
    clean = loan_notes_csv(4_000)
    _, ranges = csv_ranges(BytesInMemory(clean.data), 16_000)
    assert len(ranges) > 5, "the same notes without the stray quote are cut"


@pytest.mark.parametrize(
    ("lines", "width", "column"),
    [
        (['1,"x,y', "3,4,z", '5,"six",7'], 3, 1),  # swallowed a record, stopped at the next quote
        (['1,2,"x', "3,4,5"], 3, 2),  # swallowed to the end of the file
        (['1,"x,y', "", "3,4,z", '5,"six",7'], 3, 1),  # a blank line is no record and no evidence
        (['1,"a, b', "c, d", 'e, f"'], 3, None),  # free text: its middle line has 2 fields, not 3
        (['1,"a, b', 'c""d"'], 3, None),  # free text closing with a doubled quote: 1 field
        (['"x', "y"], 1, None),  # one column: every line is a whole record, so nothing tells
    ],
)
def test_the_rule_reads_each_line_of_a_record_as_a_record(lines: list[str], width: int, column: int | None) -> None:
    assert swallowed_column(lines, width) == column
