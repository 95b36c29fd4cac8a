"""Reading uploads: typed CSV, gzip, Parquet, unparseable cells kept as findings, and every file problem."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.contracts.loading import load_contract
from mlops.contracts.model import DataContract
from mlops.contracts.reading import FileProblem, read_table
from mlops.contracts.validation import check_file, validate

CONTRACT = load_contract(
    """
dataset: people
version: 1
columns:
  - {name: id, type: int, unique: true}
  - {name: name, type: string}
  - {name: score, type: float, min: 0}
  - {name: member, type: bool}
  - {name: plan, type: category, allowed_values: [free, pro]}
  - {name: joined, type: datetime, format: "%d/%m/%Y"}
  - {name: seen, type: datetime, nullable: true}
""",
    source="people.yaml",
)

CLEAN = (
    "id,name,score,member,plan,joined,seen\n"
    "1,Ada,3.5,true,free,01/02/2020,2021-03-04T05:06:07\n"
    "2,Bob,0,no,pro,31/12/2019,\n"
    "3,Cy,12.25,Yes,free,15/06/2021,2021-03-05\n"
)


def people(n: int = 500, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "name": rng.choice(["Ada", "Bob", "Cy", "Dee"], n),
            "score": np.round(rng.uniform(0, 100, n), 3),
            "member": rng.random(n) < 0.5,
            "plan": rng.choice(["free", "pro"], n),
            "joined": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")).strftime(
                "%d/%m/%Y"
            ),
            "seen": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        }
    )


def problem(data: bytes, filename: str = "upload.csv", contract: DataContract | None = CONTRACT) -> FileProblem:
    with pytest.raises(FileProblem) as caught:
        read_table(data, filename=filename, contract=contract)
    return caught.value


def test_csv_columns_get_the_contract_types() -> None:
    frame = read_table(CLEAN.encode(), filename="people.csv", contract=CONTRACT)
    assert frame["id"].dtype == np.int64
    assert frame["score"].dtype == np.float64
    assert frame["member"].tolist() == [True, False, True]
    assert isinstance(frame["plan"].dtype, pd.CategoricalDtype)
    assert frame["joined"].tolist() == [
        pd.Timestamp("2020-02-01"),
        pd.Timestamp("2019-12-31"),
        pd.Timestamp("2021-06-15"),
    ]
    assert pd.api.types.is_datetime64_dtype(frame["seen"])
    assert frame["seen"].isna().tolist() == [False, True, False]
    assert str(frame["name"].dtype) == "str"
    report = validate(frame, CONTRACT)
    assert report.accepted, report.summary()


def test_a_large_clean_file_is_read_typed_in_one_pass() -> None:
    frame = people(20_000)
    data = frame.to_csv(index=False).encode()
    read = read_table(data, filename="people.csv", contract=CONTRACT)
    assert read.shape == frame.shape
    np.testing.assert_array_equal(read["score"].to_numpy(), frame["score"].to_numpy())
    assert read["id"].dtype == np.int64
    assert validate(read, CONTRACT).accepted


def test_unparseable_cells_do_not_fail_the_read_and_become_findings() -> None:
    frame = people(3000).astype({"score": object, "id": object})
    frame.loc[[6, 1999], "score"] = ["12,5", "n/a?"]
    frame.loc[2500, "id"] = "7b"
    data = frame.to_csv(index=False).encode()
    read = read_table(data, filename="people.csv", contract=CONTRACT)
    assert read.shape == (3000, 7)
    assert read.loc[6, "score"] == "12,5"  # kept as text for the report
    assert pd.api.types.is_datetime64_dtype(read["seen"])  # clean columns still converted
    report = validate(read, CONTRACT)
    by_key = {(r.expectation, r.column): r for r in report.results}
    score = by_key[("column.type", "score")]
    assert not score.success and score.unexpected_count == 2
    assert [(e.row, e.value) for e in score.examples] == [(7, "12,5"), (2000, "n/a?")]
    ids = by_key[("column.type", "id")]
    assert [(e.row, e.value) for e in ids.examples] == [(2501, "7b")]
    assert by_key[("column.min", "score")].success  # computed on the cells that parsed
    assert by_key[("column.unique", "id")].success


def test_gzip_csv_is_read_by_extension_and_by_magic_bytes() -> None:
    data = gzip.compress(CLEAN.encode())
    for name in ("people.csv.gz", "people.csv"):
        frame = read_table(data, filename=name, contract=CONTRACT)
        assert frame["name"].tolist() == ["Ada", "Bob", "Cy"]


def test_parquet_is_read_and_validated() -> None:
    frame = people(1000)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    read = read_table(buffer.getvalue(), filename="people.parquet", contract=CONTRACT)
    # Text declared as category is read as a dictionary, and text holding declared dates as dates.
    assert isinstance(read["plan"].dtype, pd.CategoricalDtype)
    assert read["joined"].tolist() == pd.to_datetime(frame["joined"], format="%d/%m/%Y").tolist()
    same = ["id", "name", "score", "member", "seen"]
    pd.testing.assert_frame_equal(read[same], frame[same], check_dtype=False)
    report = validate(read, CONTRACT)
    assert report.accepted, report.summary()


def test_without_a_contract_types_are_inferred() -> None:
    frame = read_table(CLEAN.encode(), filename="x.csv", contract=None)
    assert frame["id"].dtype == np.int64
    assert frame["score"].dtype == np.float64
    assert frame.shape == (3, 7)


def test_integer_columns_with_gaps_stay_integers() -> None:
    frame = read_table(b"id,n\n1,5\n2,\n3,7\n", filename="x.csv", contract=None)
    assert str(frame["n"].dtype) == "Int64"
    assert frame["n"].isna().tolist() == [False, True, False]


def test_quoted_fields_may_hold_commas_and_newlines() -> None:
    data = b'id,name\n1,"Lovelace, Ada"\n2,"two\nlines"\n'
    frame = read_table(data, filename="x.csv", contract=None)
    assert frame["name"].tolist() == ["Lovelace, Ada", "two\nlines"]


def test_a_quoted_header_and_odd_null_spellings() -> None:
    spec = load_contract("dataset: q\nversion: 1\ncolumns:\n  - {name: x, type: float}\n", source="q")
    frame = read_table(b'"x"\n1.5\n-nan\nNA\n2\n', filename="q.csv", contract=spec)
    assert frame.columns.tolist() == ["x"]
    nulls = next(r for r in validate(frame, spec).results if r.expectation == "column.not_null")
    assert [e.row for e in nulls.examples] == [2, 3]


def test_a_utf8_bom_is_ignored() -> None:
    frame = read_table(b"\xef\xbb\xbf" + CLEAN.encode(), filename="x.csv", contract=CONTRACT)
    assert next(iter(frame.columns)) == "id"


# -- file problems -------------------------------------------------------------------------------------------


def test_empty_file() -> None:
    assert problem(b"").code == "empty_file"
    assert problem(b"\n\n  \n").code == "empty_file"
    assert problem(gzip.compress(b""), "x.csv.gz").code == "empty_file"


def test_header_only() -> None:
    found = problem(b"id,name,score\n")
    assert found.code == "no_rows"
    assert "header ('id', 'name', 'score') but no data rows" in found.message


def test_latin1_bytes_name_their_offset() -> None:
    data = "id,name\n1,Ada\n2,José\n".encode("latin-1")
    found = problem(data)
    assert found.code == "not_utf8"
    offset = data.index(b"\xe9")
    assert found.byte_offset == offset and found.line == 3
    assert f"byte {offset} (line 3) is 0xE9, which is not valid UTF-8" in found.message
    assert "expects UTF-8" in found.message


def test_utf8_beyond_ascii_is_fine() -> None:
    frame = read_table("id,name\n1,José\n2,Zoë\n".encode(), filename="x.csv", contract=None)
    assert frame["name"].tolist() == ["José", "Zoë"]


@pytest.mark.parametrize(("delimiter", "label"), [(";", "semicolons"), ("\t", "tabs"), ("|", "pipes")])
def test_wrong_delimiter_is_named(delimiter: str, label: str) -> None:
    data = f"id{delimiter}name{delimiter}score\n1{delimiter}Ada{delimiter}3,5\n".encode()
    found = problem(data)
    assert found.code == "wrong_delimiter"
    assert f"but 2 {label}: the file seems to use {delimiter!r} as its delimiter" in found.message


def test_ragged_rows_name_the_line() -> None:
    found = problem(b"id,name,score\n1,Ada,3\n2,Bob\n3,Cy,4\n4,Dee,5,extra\n")
    assert found.code == "ragged_rows"
    assert found.line == 3
    assert found.message == "line 3 has 2 fields where the header has 3: '2,Bob'; so do line 5"


def test_duplicate_header_names() -> None:
    found = problem(b"id,name,id\n1,a,2\n")
    assert (found.code, found.message) == ("duplicate_columns", "the header names 'id' more than once")


def test_corrupt_parquet() -> None:
    buffer = io.BytesIO()
    people(200).to_parquet(buffer, index=False)
    data = bytearray(buffer.getvalue())
    data[100:400] = b"\x00" * 300
    found = problem(bytes(data), "people.parquet")
    assert found.code == "corrupt_parquet"
    assert problem(b"id,name\n1,a\n", "people.parquet").code == "corrupt_parquet"
    assert problem(bytes(data[: len(data) // 2]), "people.parquet").code == "corrupt_parquet"


def test_empty_parquet_has_no_rows() -> None:
    buffer = io.BytesIO()
    people(5).iloc[:0].to_parquet(buffer, index=False)
    assert problem(buffer.getvalue(), "people.parquet").code == "no_rows"


def test_corrupt_gzip() -> None:
    data = gzip.compress(CLEAN.encode() * 50)
    assert problem(data[: len(data) // 2], "x.csv.gz").code == "corrupt_gzip"


def test_unsupported_extension() -> None:
    found = problem(b"PK\x03\x04", "people.xlsx")
    assert found.code == "unsupported_extension"
    assert ".csv, .csv.gz or .parquet" in found.message


def test_check_file_turns_a_file_problem_into_a_rejected_report() -> None:
    report, frame = check_file(b"id;name\n1;a\n", filename="x.csv", contract=CONTRACT)
    assert frame is None
    assert not report.accepted
    assert report.file_problem is not None and report.file_problem.code == "wrong_delimiter"
    assert report.summary().splitlines()[1].startswith("✗ file   wrong_delimiter: the header has no commas")
    report, frame = check_file(CLEAN.encode(), filename="x.csv", contract=CONTRACT)
    assert report.accepted and frame is not None


# -- property: anything at all gives a frame or a FileProblem, never another exception ------------------------

CSV_TEXT = st.text(alphabet=st.sampled_from(list('ab1,;."\n\t -é\r0x')), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=300), CSV_TEXT.map(lambda t: t.encode()), CSV_TEXT.map(lambda t: gzip.compress(t.encode()))
    ),
    filename=st.sampled_from(["x.csv", "x.csv.gz", "x.parquet", "x.json"]),
    with_contract=st.booleans(),
)
def test_random_bytes_raise_only_file_problems(data: bytes, filename: str, with_contract: bool) -> None:
    contract = CONTRACT if with_contract else None
    try:
        frame = read_table(data, filename=filename, contract=contract)
    except FileProblem as found:
        assert found.code and found.message
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    if contract is not None:
        validate(frame, contract).to_json()
