"""`mlops predict` reads the files users have: JSON, JSON Lines and CSV typed by the model's signature."""

from __future__ import annotations

import json

import pytest

from mlopsctl.prediction_input import (
    PredictionInputError,
    field_types,
    input_form,
    problem_lines,
    read_prediction_input,
)

TYPES = {"mean_radius": "float", "count": "int", "smoker": "bool", "plan": "category", "code": "string"}


@pytest.mark.parametrize(
    ("path", "text", "form"),
    [
        ("rows.csv", '{"instances": []}', "csv"),
        ("rows.JSONL", "", "jsonl"),
        ("rows.ndjson", "", "jsonl"),
        ("rows.json", "a,b", "json"),
        (None, '[{"a": 1}]', "json"),
        (None, '{"instances": [{"a": 1}]}', "json"),
        (None, '{"a": 1}\n{"a": 2}\n', "jsonl"),
        (None, "a,b\n1,2\n", "csv"),
        ("-", '{"a": 1}\n', "json"),
    ],
)
def test_the_form_comes_from_the_extension_or_the_content(path: str | None, text: str, form: str) -> None:
    assert input_form(path, text) == form


def test_csv_cells_are_typed_by_the_signature_and_other_columns_left_out() -> None:
    text = "mean_radius,count,smoker,plan,code,target\n1.5,3,yes,7,007,1\n,,,,,0\nbig,2.0,maybe,x,y,1\n"
    read = read_prediction_input(text, "csv", TYPES)
    assert read.left_out == ["target"]
    assert read.body == {
        "columns": ["mean_radius", "count", "smoker", "plan", "code"],
        "data": [
            [1.5, 3, True, "7", "007"],  # a category and a string stay text, leading zeros and all
            [None, None, None, None, None],  # empty is null
            ["big", 2.0, "maybe", "x", "y"],  # not a number: sent as it is, so the API names the problem
        ],
    }


def test_csv_without_a_signature_sends_numbers_as_numbers_and_keeps_every_column() -> None:
    read = read_prediction_input("a,b,c\n1,x,nan\n", "csv")
    assert (read.body, read.left_out) == ({"columns": ["a", "b", "c"], "data": [[1, "x", "nan"]]}, [])


@pytest.mark.parametrize(
    ("text", "form", "message"),
    [
        ("", "csv", "the CSV is empty"),
        ("a,a\n1,2\n", "csv", "names 'a' more than once"),
        ("a,b\n1\n", "csv", "CSV line 2 has 1 cells; the header has 2"),
        ('{"a": 1}\n{"a": \n', "jsonl", "line 2 is not JSON"),
        ("{", "json", "not JSON"),
    ],
)
def test_unreadable_input_says_where(text: str, form: str, message: str) -> None:
    with pytest.raises(PredictionInputError, match=message):
        read_prediction_input(text, form)  # type: ignore[arg-type]


def test_json_lines_and_json_lists_become_instances() -> None:
    assert read_prediction_input('{"a": 1}\n\n{"a": 2}\n', "jsonl").body == {"instances": [{"a": 1}, {"a": 2}]}
    assert read_prediction_input('[{"a": 1}]', "json").body == {"instances": [{"a": 1}]}
    assert read_prediction_input('{"columns": ["a"], "data": [[1]]}', "json").body["columns"] == ["a"]


def test_field_types_cover_every_answering_version() -> None:
    signature = {
        "inputs": [{"name": "a", "type": "float"}],
        "versions": [{"inputs": [{"name": "a", "type": "float"}]}, {"inputs": [{"name": "b", "type": "int"}]}],
    }
    assert field_types(signature) == {"a": "float", "b": "int"}


def test_the_id_field_labels_name_rows_by_is_kept_as_text_not_left_out() -> None:
    """A model whose config names `monitoring.performance.id_field` takes rows carrying it, and labels
    may name a row by it: a CSV's id column travels, as written (leading zeros and all)."""
    signature = {
        "inputs": [{"name": "a", "type": "float"}],
        "labels": {"by": ["request_id", "id"], "id_field": "order_id"},
    }
    types = field_types(signature)
    assert types == {"a": "float", "order_id": "string"}
    read = read_prediction_input("order_id,a,returned\nORD-00017,1.5,0\n00017,2,1\n", "csv", types)
    assert read.left_out == ["returned"]
    assert read.body == {"columns": ["order_id", "a"], "data": [["ORD-00017", 1.5], ["00017", 2]]}


def test_problems_print_one_line_each_by_row_and_field() -> None:
    problems: list[dict[str, object]] = [
        {"code": "wrong_type", "message": "expected a number, got a string", "row": 0, "field": "mean_radius"},
        {"code": "invalid_body", "message": "bad"},
    ]
    assert problem_lines(problems, count=5) == [
        "  row 0 mean_radius: expected a number, got a string [wrong_type]",
        "  request: bad [invalid_body]",
        "  … and 3 more (the API lists the first 2)",
    ]


def test_each_row_knows_the_file_line_it_starts_on() -> None:
    """The API numbers rows from 0; a user's editor and `mlops contract check` count lines. A quoted
    cell spanning two lines and a blank line must not shift the rows after them."""
    text = 'a,note\n1,plain\n2,"two\nlines"\n\n3,last\n'
    assert read_prediction_input(text, "csv").lines == [2, 3, 6]
    assert read_prediction_input('{"a": 1}\n\n{"a": 2}\n', "jsonl").lines == [1, 3]
    assert read_prediction_input('{"instances": [{"a": 1}]}', "json").lines == []


def test_a_problem_names_the_row_and_its_line_when_the_file_has_lines() -> None:
    problems: list[dict[str, object]] = [
        {"code": "null", "message": "'a' may not be null", "row": 2, "field": "a", "line": 6},
    ]
    assert problem_lines(problems) == ["  row 2 (line 6) a: 'a' may not be null [null]"]


def test_a_json_lines_row_ends_at_a_newline_only() -> None:
    """A JSON string may hold U+2028, U+2029 and U+0085 raw; str.splitlines ended a line at each,
    refusing a valid file (and would have numbered the rows after them a line too far)."""
    rows = [{"a": "x\u2028y"}, {"a": "\u0085"}, {"a": "\u2029"}]
    text = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\r\n\n" + '{"a": 4}\n'
    prepared = read_prediction_input(text, "jsonl")
    assert prepared.body == {"instances": [*rows, {"a": 4}]}
    assert prepared.lines == [1, 2, 3, 5]
