"""Batch scoring on real registered models: a file scores as the predict API scores the same records,
chunk by chunk with the same answers, bad rows named by row and field while the others are scored,
and the end-to-end run (parts, markers, redelivery, time limit) against an in-memory bucket."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from mlops.serving.batch import (
    BatchFileError,
    NotInputError,
    batch_key,
    open_input,
    score_chunk,
    score_upload,
)
from mlops.serving.inputs import encode_request
from mlops.serving.models import ServedVersion, load_version
from tests.unit.serving.parts_support import MemoryBucket, resolver
from tests.unit.serving.support import Registered, breast_cancer, churn, diabetes

Row = dict[str, str]


def _served(registered: Registered) -> ServedVersion:
    return load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)


def _cell(value: Any) -> str:
    """A record's value as a CSV exporter writes it: empty for null, true/false, shortest float text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _csv(records: Sequence[dict[str, Any]], extra: dict[str, Sequence[Any]] | None = None) -> bytes:
    extra = extra or {}
    columns = [*extra, *records[0]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for i, record in enumerate(records):
        writer.writerow([_cell(extra[c][i]) if c in extra else _cell(record[c]) for c in columns])
    return out.getvalue().encode()


def _score(data: bytes, served: ServedVersion, fmt: str = "csv", chunk_rows: int = 10_000) -> list[Row]:
    """Every output row of every part, in order, as a reader of the parts would see them."""
    source = open_input(io.BytesIO(data), "csv" if fmt == "csv" else "jsonl", served.signature)
    rows: list[Row] = []
    for chunk in source.chunks(chunk_rows):
        part = score_chunk(chunk, served, source.id_columns)
        rows.extend(csv.DictReader(io.StringIO(part.body.decode())))
    return rows


def _test_records(registered: Registered, count: int | None = None) -> list[dict[str, Any]]:
    return registered.records(registered.prepared.splits.rows_test[:count])


# -- answers ---------------------------------------------------------------------------------------


def test_a_csv_scores_as_the_api_scores_its_records_and_as_scikit_learn_does() -> None:
    registered = breast_cancer()
    served = _served(registered)
    records = _test_records(registered)
    rows = _score(_csv(records), served)
    assert [int(r["row"]) for r in rows] == list(range(1, len(records) + 1)), "1-based data rows"
    assert all(r["error"] == "" for r in rows)
    encoded = encode_request(records, served.signature, served.policy)
    answer = served.predict(encoded.matrix)
    assert answer.probabilities is not None
    assert [r["prediction"] for r in rows] == [str(p) for p in answer.predictions]
    classes = list(served.signature.classes or ())
    batch = np.array([[float(r[f"probability_{c}"]) for c in classes] for r in rows])
    assert np.abs(batch - answer.probabilities).max() <= 5e-7  # written with six decimals
    assert np.abs(batch - registered.model.predict_proba(encoded.matrix)).max() < 1e-5
    assert list(rows[0]) == ["row", "prediction", "probability_0", "probability_1", "error"]


def test_regression_predictions_read_back_as_the_float32_the_model_answered() -> None:
    registered = diabetes()
    served = _served(registered)
    records = _test_records(registered)
    rows = _score(_csv(records), served)
    answer = served.predict(encode_request(records, served.signature, served.policy).matrix)
    assert [np.float32(r["prediction"]) for r in rows] == [np.float32(p) for p in answer.predictions]
    assert list(rows[0]) == ["row", "prediction", "error"]


def test_chunks_of_seven_give_the_same_output_as_one_chunk() -> None:
    registered = breast_cancer()
    served = _served(registered)
    data = _csv(_test_records(registered, 50))
    source = open_input(io.BytesIO(data), "csv", served.signature)
    sizes = [len(chunk) for chunk in source.chunks(7)]
    assert sizes == [7] * 7 + [1]
    assert _score(data, served, chunk_rows=7) == _score(data, served, chunk_rows=50)


def test_gzip_is_read_by_its_content_whatever_the_name() -> None:
    registered = breast_cancer()
    served = _served(registered)
    data = _csv(_test_records(registered, 20))
    assert _score(gzip.compress(data), served) == _score(data, served)


def test_json_lines_score_as_the_same_records_in_csv() -> None:
    registered = churn()
    served = _served(registered)
    records = _test_records(registered, 40)
    assert any(v is None for r in records for v in r.values()), "the churn rows include nulls"
    lines = "\n\n".join(json.dumps(r) for r in records) + "\n"  # blank lines are not rows
    from_jsonl = _score(lines.encode(), served, "jsonl", chunk_rows=9)
    assert from_jsonl == _score(_csv(records), served)
    assert [int(r["row"]) for r in from_jsonl] == list(range(1, 41))
    assert list(from_jsonl[0])[2:4] == ["probability_churn", "probability_stay"]


# -- bad rows and bad files ------------------------------------------------------------------------


def test_bad_cells_leave_their_rows_unscored_and_named_and_the_rest_scored() -> None:
    registered = breast_cancer()
    served = _served(registered)
    data = _csv(_test_records(registered, 10)).decode().splitlines()
    header = data[0].split(",")
    radius, area = header.index("mean_radius"), header.index("mean_area")
    bad = {3: (radius, "twelve"), 7: (area, "")}  # text in a number; an empty cell the contract forbids
    for row, (column, text) in bad.items():
        cells = data[row].split(",")
        cells[column] = text
        data[row] = ",".join(cells)
    data.insert(5, "1.0,2.0")  # a ragged row (data row 5)
    rows = _score(("\n".join(data) + "\n").encode(), served)
    errors = {int(r["row"]): r["error"] for r in rows if r["error"]}
    assert errors == {
        3: "mean_radius: expected a number, got a string 'twelve'",
        5: f"the row has 2 values, the header names {len(header)} columns",
        8: "mean_area: 'mean_area' may not be null",
    }
    assert all(rows[i - 1]["prediction"] == "" for i in errors)
    assert sum(1 for r in rows if r["prediction"]) == 8 and len(rows) == 11


def test_churn_rows_with_an_unseen_category_a_word_for_a_bool_or_text_for_a_number_are_named() -> None:
    registered = churn()
    served = _served(registered)
    records = _test_records(registered, 6)
    records[1] = {**records[1], "city": "Atlantis"}
    records[2] = {**records[2], "member": "yes"}
    records[4] = {**records[4], "age": "forty", "city": "Narnia"}
    rows = _score(_csv(records), served)
    errors = {int(r["row"]): r["error"] for r in rows if r["error"]}
    assert errors == {
        2: "city: 'Atlantis' is not among the data contract's allowed values",
        3: "member: expected true or false, got a string 'yes'",
        5: "age: expected a number, got a string 'forty'; city: 'Narnia' is not among the data contract's "
        "allowed values",
    }
    good = [records[i] for i in (0, 3, 5)]
    answer = served.predict(encode_request(good, served.signature, served.policy).matrix)
    assert [rows[i]["prediction"] for i in (0, 3, 5)] == answer.predictions


def test_bools_read_true_false_one_zero_in_any_case_and_empty_as_null() -> None:
    registered = churn()
    served = _served(registered)
    base = {"age": 30.0, "income": 30000.0, "city": "Lyon"}
    texts = ["TRUE", "False", "1", "0", ""]
    data = _csv([{**base, "member": t} for t in texts])
    rows = _score(data, served)
    assert all(r["error"] == "" for r in rows)
    typed = [{**base, "member": v} for v in (True, False, True, False, None)]
    answer = served.predict(encode_request(typed, served.signature, served.policy).matrix)
    assert [r["prediction"] for r in rows] == answer.predictions


def test_a_file_missing_a_model_column_fails_naming_it() -> None:
    registered = breast_cancer()
    served = _served(registered)
    records = [
        {k: v for k, v in r.items() if k not in ("mean_radius", "worst_area")} for r in _test_records(registered, 3)
    ]
    with pytest.raises(BatchFileError) as caught:
        open_input(io.BytesIO(_csv(records)), "csv", served.signature)
    assert caught.value.code == "missing_columns"
    assert "'mean_radius', 'worst_area'" in caught.value.message
    jsonl = "\n".join(json.dumps(r) for r in records).encode()
    with pytest.raises(BatchFileError, match=r"first JSON object lacks .*'mean_radius'"):
        open_input(io.BytesIO(jsonl), "jsonl", served.signature)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\n\n", "empty_file"),
        (b"a,b,a\n1,2,3\n", "duplicate_columns"),
        # mtime=0: a gzip header holds its write time, and a test id built from it would differ
        # between the xdist workers, which must collect the same tests.
        (gzip.compress(b"mean_radius\n1\n", mtime=0)[:-12], "corrupt_gzip"),
    ],
    ids=["empty", "blank_lines", "duplicate_columns", "corrupt_gzip"],
)
def test_unreadable_files_fail_with_a_code(data: bytes, code: str) -> None:
    served = _served(breast_cancer())
    with pytest.raises(BatchFileError) as caught:
        source = open_input(io.BytesIO(data), "csv", served.signature)
        list(source.chunks(10))
    assert caught.value.code == code


def test_a_row_with_bytes_that_are_not_utf8_is_a_row_error_and_the_others_are_scored() -> None:
    registered = breast_cancer()
    served = _served(registered)
    data = _csv(_test_records(registered, 5), {"id": ["a", "b", "c", "d", "e"]})
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b"b,", "b\u00e9,".encode("latin-1"), 1)  # Latin-1, as a spreadsheet may save it
    rows = _score(b"\n".join(lines), served, chunk_rows=2)
    assert [bool(r["error"]) for r in rows] == [False, True, False, False, False]
    assert rows[1]["error"] == "the row holds bytes that are not UTF-8: save the file as UTF-8"
    assert rows[1]["id"] == "b?" and all(rows[i]["prediction"] for i in (0, 2, 3, 4))
    with pytest.raises(BatchFileError, match="the first line: the row holds bytes that are not UTF-8"):
        open_input(io.BytesIO(b'{"id": "\xe9"}\n'), "jsonl", served.signature)


def test_an_id_column_is_passed_through_and_other_extra_columns_are_named_as_ignored() -> None:
    registered = breast_cancer()
    served = _served(registered)
    records = _test_records(registered, 5)
    ids = ["a-1", "a-2", "a,3", "a-4", ""]
    data = _csv(records, {"id": ids, "target": [1] * 5, "note": ["x"] * 5})
    source = open_input(io.BytesIO(data), "csv", served.signature)
    assert source.id_columns == ["id"] and source.ignored_columns == ["target", "note"]
    rows = _score(data, served)
    assert [r["id"] for r in rows] == ids
    assert list(rows[0])[:3] == ["row", "id", "prediction"]
    jsonl = "\n".join(json.dumps({"row_id": 10 + i, **r, "extra": 1}) for i, r in enumerate(records)).encode()
    source = open_input(io.BytesIO(jsonl), "jsonl", served.signature)
    assert source.id_columns == ["row_id"] and source.ignored_columns == ["extra"]
    assert [r["row_id"] for r in _score(jsonl, served, "jsonl")] == ["10", "11", "12", "13", "14"]


def test_json_lines_rows_that_are_not_objects_or_lack_a_field_are_row_errors() -> None:
    registered = churn()
    served = _served(registered)
    records = _test_records(registered, 4)
    lines = [
        json.dumps(records[0]),
        "[1, 2]",
        "{not json",
        json.dumps({k: v for k, v in records[3].items() if k != "age"}),
    ]
    rows = _score("\n".join(lines).encode(), served, "jsonl")
    assert rows[0]["error"] == "" and rows[0]["prediction"]
    assert rows[1]["error"] == "the line must hold a JSON object, got list"
    assert rows[2]["error"].startswith("the line is not valid JSON")
    assert rows[3]["error"] == "age: 'age' is required (send null if it is unknown)"


# -- keys ------------------------------------------------------------------------------------------


def test_keys_name_the_model_and_the_outputs_beside_the_input() -> None:
    key = batch_key("batch/churn/march.csv.gz")
    assert (key.model, key.stem, key.format) == ("churn", "march", "csv")
    assert key.part_key(3) == "batch/churn/march.predictions/part-00003.csv"
    assert key.success_key == "batch/churn/march.predictions/_SUCCESS.json"
    assert batch_key("batch/churn/a.b.NDJSON").stem == "a.b"
    with pytest.raises(NotInputError) as own:
        batch_key("batch/churn/march.predictions/part-00000.csv")
    assert own.value.own_output
    for other in ("batch/churn/report.xlsx", "batch/churn/", "batch/churn/sub/dir.csv", "batch/.csv"):
        with pytest.raises(NotInputError) as caught:
            batch_key(other)
        assert not caught.value.own_output


# -- one file end to end, on an in-memory bucket ---------------------------------------------------


def test_a_file_is_scored_into_parts_then_a_success_marker_and_a_redelivery_does_nothing() -> None:
    registered = breast_cancer()
    served = _served(registered)
    store = MemoryBucket()
    upload = store.upload(
        "batch/breast-cancer/patients.csv", _csv(_test_records(registered, 25), {"row_id": range(25)})
    )
    outcome = score_upload(upload, store, resolver(served), chunk_rows=10)
    assert outcome.status == "scored" and (outcome.rows, outcome.rows_scored, outcome.rows_with_errors) == (25, 25, 0)
    prefix = "batch/breast-cancer/patients.predictions/"
    parts = [f"{prefix}part-0000{i}.csv" for i in range(3)]
    assert store.puts[1:] == [*parts, f"{prefix}_SUCCESS.json"], "the marker comes last"
    success = json.loads(store.text(f"{prefix}_SUCCESS.json"))
    assert success["status"] == "succeeded" and success["parts"] == parts
    assert success["source"]["version_id"] == upload.version_id and success["version"] == 1
    assert success["id_columns"] == ["row_id"] and success["ignored_columns"] == []
    assert success["columns"] == ["row", "row_id", "prediction", "probability_0", "probability_1", "error"]
    assert success["rows"] == 25 and success["rows_scored"] == 25 and success["seconds"] >= 0
    assert store.text(parts[2]).count("\n") == 1 + 5

    writes = len(store.puts)
    again = score_upload(upload, store, resolver(served), chunk_rows=10)
    assert again.status == "already_scored" and len(store.puts) == writes


def test_a_new_version_of_the_file_replaces_the_outputs_and_removes_stale_parts() -> None:
    registered = breast_cancer()
    served = _served(registered)
    store = MemoryBucket()
    key = "batch/breast-cancer/patients.csv"
    score_upload(store.upload(key, _csv(_test_records(registered, 25))), store, resolver(served), chunk_rows=10)
    newer = store.upload(key, _csv(_test_records(registered, 8)))
    outcome = score_upload(newer, store, resolver(served), chunk_rows=10)
    prefix = "batch/breast-cancer/patients.predictions/"
    assert outcome.status == "scored" and outcome.parts == [f"{prefix}part-00000.csv"]
    assert f"{prefix}part-00001.csv" not in store.objects and f"{prefix}part-00002.csv" not in store.objects
    assert json.loads(store.text(f"{prefix}_SUCCESS.json"))["source"]["version_id"] == newer.version_id


def test_an_event_for_a_replaced_version_is_left_to_the_newer_ones_event() -> None:
    served = _served(breast_cancer())
    store = MemoryBucket()
    older = store.upload("batch/breast-cancer/a.csv", _csv(_test_records(breast_cancer(), 3)))
    store.upload("batch/breast-cancer/a.csv", _csv(_test_records(breast_cancer(), 4)))
    outcome = score_upload(older, store, resolver(served))
    assert outcome.status == "superseded" and not any(".predictions/" in k for k in store.puts)


def test_an_unknown_model_or_missing_columns_write_a_failure_marker_saying_why() -> None:
    served = _served(breast_cancer())
    store = MemoryBucket()
    outcome = score_upload(store.upload("batch/nobody/a.csv", b"x\n1\n"), store, resolver(served))
    assert outcome.status == "failed"
    failed = json.loads(store.text("batch/nobody/a.predictions/_FAILED.json"))
    assert failed["code"] == "not_found" and "no model named 'nobody'" in failed["message"]
    outcome = score_upload(store.upload("batch/breast-cancer/b.csv", b"x\n1\n"), store, resolver(served))
    failed = json.loads(store.text("batch/breast-cancer/b.predictions/_FAILED.json"))
    assert failed["code"] == "missing_columns" and "'mean_radius'" in failed["message"] and failed["version"] == 1


def test_scoring_stops_before_the_time_limit_and_says_how_far_it_got() -> None:
    registered = breast_cancer()
    served = _served(registered)
    store = MemoryBucket()
    upload = store.upload("batch/breast-cancer/big.csv", _csv(_test_records(registered, 30)))
    remaining: Iterator[int] = iter([300_000, 300_000, 20_000])
    outcome = score_upload(upload, store, resolver(served), chunk_rows=10, remaining_ms=lambda: next(remaining))
    assert outcome.status == "stopped" and outcome.rows == 20
    failed = json.loads(store.text("batch/breast-cancer/big.predictions/_FAILED.json"))
    assert failed["code"] == "time_limit" and "rows 1-20" in failed["message"] and "split the file" in failed["message"]
    assert "batch/breast-cancer/big.predictions/_SUCCESS.json" not in store.objects

    exact = store.upload("batch/breast-cancer/exact.csv", _csv(_test_records(registered, 20)))
    remaining = iter([300_000, 300_000, 20_000])
    fits = score_upload(exact, store, resolver(served), chunk_rows=10, remaining_ms=lambda: next(remaining))
    assert fits.status == "scored" and fits.rows == 20, "no stop when nothing is left to score"

    rerun = score_upload(upload, store, resolver(served), chunk_rows=10)  # e.g. after a larger timeout
    assert rerun.status == "scored" and "batch/breast-cancer/big.predictions/_FAILED.json" not in store.objects


def test_an_infrastructure_error_is_raised_for_a_retry_after_a_failure_marker() -> None:
    registered = breast_cancer()
    served = _served(registered)
    store = MemoryBucket()
    upload = store.upload("batch/breast-cancer/a.csv", _csv(_test_records(registered, 5)))
    store.fail_on = "part-00000.csv"
    with pytest.raises(ConnectionError):
        score_upload(upload, store, resolver(served))
    failed = json.loads(store.text("batch/breast-cancer/a.predictions/_FAILED.json"))
    assert failed["code"] == "internal_error" and "retried" in failed["message"]


def test_a_file_with_a_header_and_no_rows_gets_one_part_with_the_header() -> None:
    served = _served(breast_cancer())
    store = MemoryBucket()
    header = ",".join(i.name for i in served.signature.inputs) + "\n"
    outcome = score_upload(store.upload("batch/breast-cancer/none.csv", header.encode()), store, resolver(served))
    assert outcome.status == "scored" and outcome.rows == 0
    assert store.text(outcome.parts[0]) == "row,prediction,probability_0,probability_1,error\n"
