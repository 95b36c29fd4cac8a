"""Data contract model: the YAML shape, malformed contracts named field by field, the published schema."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.contracts import model
from mlops.contracts.drafting import render_contract_yaml
from mlops.contracts.loading import load_contract, parse_contract
from mlops.contracts.model import ContractError, DataContract, contract_json_schema
from mlops.contracts.schema import render_schema

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "data-contract.schema.json"


def docstring_example() -> str:
    doc = model.__doc__
    assert doc is not None
    example = doc.split("A full example::")[1].split("Cells read as null")[0]
    return textwrap.dedent(example)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ContractError) as caught:
        load_contract(text, source="test.yaml")
    return caught.value.problems


MINIMAL = """
dataset: customers
version: 1
columns:
  - {name: age, type: int}
"""


def test_the_documented_example_loads_with_every_shape() -> None:
    contract = load_contract(docstring_example(), source="model docstring")
    assert contract.dataset == "customers"
    assert contract.label == "churned"
    age = contract.column("age")
    assert age is not None and age.min is not None and age.max is not None
    assert age.min.value == 0 and age.min.mostly == 1.0 and age.min.severity == "error"
    assert (age.max.value, age.max.mostly, age.max.severity) == (120, 0.999, "warning")
    spend = contract.column("monthly_spend")
    assert spend is not None
    assert (spend.type.value, spend.type.mostly) == ("float", 0.99)
    assert (spend.nullable.value, spend.nullable.mostly) == (False, 0.98)
    signup = contract.column("signup_date")
    assert signup is not None and signup.min is not None
    assert signup.min.value == datetime(2015, 1, 1)
    coupon = contract.column("coupon")
    assert coupon is not None and coupon.required.value is False
    assert contract.extra_columns.effective_severity == "warning"
    assert contract.duplicate_rows.effective_severity == "error"
    assert contract.forbidden_columns.value == ["ssn", "email"]
    assert contract.row_count is not None and (contract.row_count.min, contract.row_count.max) == (1000, 5_000_000)
    assert contract.label_min_class_share is not None and contract.label_min_class_share.severity == "warning"
    assert [d.statistic for d in contract.distributions] == ["mean", "quantile"]
    assert contract.policy.auto_train is False


def test_defaults_of_a_minimal_contract() -> None:
    contract = load_contract(MINIMAL, source="minimal")
    assert contract.extra_columns.value == "reject"
    assert contract.duplicate_rows.value == "allow"
    assert contract.columns[0].required.value is True
    assert contract.columns[0].nullable.value is False
    assert contract.policy.auto_train is False
    assert contract.description == "" and contract.label is None


def test_json_is_read_as_well_as_yaml() -> None:
    text = json.dumps({"dataset": "x", "version": 2, "columns": [{"name": "a", "type": "float", "min": 0}]})
    contract = load_contract(text.encode(), source="x.json")
    assert contract.version == 2
    assert contract.columns[0].min is not None and contract.columns[0].min.value == 0


def test_integers_listed_for_a_text_column_mean_their_text() -> None:
    contract = load_contract(MINIMAL.replace("type: int}", "type: category, allowed_values: [1, 2, x]}"), source="t")
    values = contract.columns[0].allowed_values
    assert values is not None and values.value == ["1", "2", "x"]


def test_every_field_problem_is_named_with_its_path() -> None:
    problems = problems_of(
        """
dataset: Bad Name
version: 0
columns:
  - name: a
    type: integer
  - name: b
    type: int
    min: 5
    max: 3
    nulable: true
  - name: c
    type: string
    regex: "(?=x)"
    allowed_values: [yes, maybe]
  - name: d
    type: float
    min: {value: 1, mostly: 2}
    max: abc
row_count: {min: 10, max: 5, mostly: 0.5}
duplicate_rows: sometimes
distributions:
  - {column: d, statistic: quantile, q: 1.5, min: 3}
  - {column: d, statistic: mean, q: 0.5}
"""
    )
    assert problems == [
        "dataset: 'Bad Name' is not a slug: lowercase letters, digits, '_' and '-', starting with a letter or digit, "
        "at most 63 characters",
        "version: must be ≥ 1 (got 0)",
        "columns[0].type: 'integer' is not one of int, float, bool, string, category, datetime",
        "columns[1].nulable: is not a known field (did you mean 'nullable'?)",
        "columns[2].allowed_values[0]: True is a boolean in YAML; quote it ('true') for text",
        "columns[2].regex: '(?=x)' uses syntax RE2 does not support (lookaround, backreference): "
        "Invalid regular expression: invalid perl operator: (?=",
        "columns[3].min.mostly: must be ≤ 1.0 (got 2)",
        "columns[3].max: 'abc' is neither a number nor an ISO 8601 date/time",
        "row_count.mostly: does not apply: this check is met or not for the whole file",
        "row_count.min: must be ≤ max (10 > 5)",
        "duplicate_rows: 'sometimes' is not one of allow, warn, reject",
        "distributions[0].q: must be in (0, 1), got 1.5",
        "distributions[1].q: applies to statistic: quantile, not mean",
        "distributions[1].min: give min, max or both",
    ]


def test_cross_field_problems_are_all_listed() -> None:
    problems = problems_of(
        """
dataset: ok
version: 1
label: targt
label_min_class_share: 0.1
forbidden_columns: [b]
columns:
  - {name: a, type: float, format: "%Y", allowed_values: [1]}
  - {name: b, type: int, min: 5, max: 3, allowed_values: [1, "x"]}
  - {name: c, type: datetime, min: 2020-01-01, max: 5}
  - {name: d, type: string, regex: "[a-", min: 1}
  - {name: d, type: bool}
distributions:
  - {column: d, statistic: std, min: 3}
  - {column: zz, statistic: mean, max: 3}
"""
    )
    assert problems == [
        "columns[0].allowed_values: applies to string, category, int or bool columns, not float",
        "columns[0].format: applies to datetime columns, not float",
        "columns[1].min: must be ≤ max (5 > 3)",
        "columns[1].allowed_values[1]: 'x' is not an integer",
        "columns[2].max: a datetime column needs a date/time, got 5",
        "columns[3].min: applies to int, float or datetime columns, not string",
        "columns[3].regex: '[a-' does not compile: unterminated character set at position 0",
        "columns[4].name: 'd' is declared twice (also columns[3])",
        "label: 'targt' is not a declared column",
        "forbidden_columns[0]: 'b' is also a declared column",
        "distributions[0].column: 'd' is string; distributions need int or float",
        "distributions[1].column: 'zz' is not a declared column",
    ]


def test_document_level_problems_of_an_otherwise_valid_contract() -> None:
    problems = problems_of(
        """
dataset: ok
version: 1
label: price
label_min_class_share: 0.1
extra_columns: {value: warn, severity: error}
duplicate_rows: {value: reject, mostly: 0.99}
columns:
  - {name: price, type: float}
  - {name: name, type: string, required: {value: true, mostly: 0.5}}
"""
    )
    assert problems == [
        "columns[1].required.mostly: does not apply: this check is met or not for the whole file",
        "label_min_class_share: needs a classification label (int, bool, string or category); 'price' is float",
    ]
    problems = problems_of(
        """
dataset: ok
version: 1
label: price
label_min_class_share: 0.1
extra_columns: {value: warn, severity: error}
columns:
  - {name: price, type: float}
"""
    )
    assert problems == [
        "label_min_class_share: needs a classification label (int, bool, string or category); 'price' is float",
        "extra_columns.severity: 'warn' already means a warning; use 'reject' for an error",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [", "(contract): not valid YAML: expected the node content, but found '<stream end>' (line 1, column 5)"),
        ("- 1\n- 2", "(contract): must be a mapping of fields, got list"),
        ("dataset: a\ndataset: b", "(contract): not valid YAML: key 'dataset' is written twice (line 2, column 1)"),
        ('{"dataset": }', "(contract): not valid JSON: Expecting value (line 1, column 13)"),
        ("dataset: a\nversion: 1", "columns: is required"),
    ],
)
def test_unreadable_contracts(text: str, expected: str) -> None:
    assert problems_of(text) == [expected]


def test_the_error_message_names_the_source_and_counts() -> None:
    with pytest.raises(ContractError) as caught:
        load_contract("dataset: a\nversion: 1", source="contracts/a.yaml")
    assert str(caught.value) == "invalid data contract contracts/a.yaml: 1 problem\n  columns: is required"


def test_committed_json_schema_is_current() -> None:
    expected = render_schema()
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    assert committed == expected, (
        "schemas/data-contract.schema.json is stale; regenerate it from the repository root with\n"
        "  (cd functions && ../.venv/bin/python -m mlops.contracts.schema) > schemas/data-contract.schema.json\n"
        "or, with mlops importable: python -m mlops.contracts.schema > schemas/data-contract.schema.json"
    )


def test_json_schema_accepts_the_documented_example_and_refuses_a_typo() -> None:
    schema = contract_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(json.dumps(yaml.safe_load(docstring_example()), default=str))
    jsonschema.validate(data, schema)
    data["columns"][0]["nulable"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


# -- property: random contracts built from valid parts round-trip through YAML ------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
SEVERITY = st.sampled_from(["error", "warning"])
MOSTLY = st.sampled_from([1.0, 0.99, 0.5, 0.0, 0.999])


def expectation(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The bare value or the mapping, both valid shapes of one expectation."""
    mapped = st.fixed_dictionaries({"value": value}, optional={"mostly": MOSTLY, "severity": SEVERITY})
    return st.one_of(value, mapped)


def whole_file(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A check met or not for the whole file takes a severity but no mostly."""
    return st.one_of(value, st.fixed_dictionaries({"value": value}, optional={"severity": SEVERITY}))


@st.composite
def columns(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(model.COLUMN_TYPES))
    column: dict[str, Any] = {"name": name, "type": draw(expectation(st.just(kind)))}
    if draw(st.booleans()):
        column["required"] = draw(whole_file(st.booleans()))
    column["nullable"] = draw(st.one_of(st.just(True), expectation(st.just(False))))
    if kind in ("int", "float"):
        numbers = st.integers(-1000, 1000) if kind == "int" else st.floats(-1e6, 1e6, allow_nan=False)
        low, high = sorted([draw(numbers), draw(numbers)])
        if draw(st.booleans()):
            column["min"] = draw(expectation(st.just(low)))
        if draw(st.booleans()):
            column["max"] = draw(expectation(st.just(high)))
    if kind == "datetime":
        column["min"] = draw(expectation(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1))))
        if draw(st.booleans()):
            column["format"] = draw(st.sampled_from(["%Y-%m-%d", "%d/%m/%Y %H:%M"]))
    if kind in ("string", "category"):
        words = st.lists(st.text("abcxyz -", min_size=1, max_size=6), min_size=1, max_size=5, unique=True)
        if draw(st.booleans()):
            column["allowed_values"] = draw(expectation(words))
        if draw(st.booleans()):
            column["regex"] = draw(expectation(st.sampled_from(["[a-z]+", "C[0-9]{6}", "(yes|no)"])))
    if kind == "int" and draw(st.booleans()):
        column["allowed_values"] = draw(expectation(st.lists(st.integers(-5, 5), min_size=1, max_size=4, unique=True)))
    if kind == "bool" and draw(st.booleans()):
        column["allowed_values"] = [True]
    if kind in ("int", "string") and draw(st.booleans()):
        column["unique"] = draw(expectation(st.booleans()))
    return column


@st.composite
def contracts(draw: st.DrawFn) -> DataContract:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    cols = [draw(columns(name)) for name in names]
    kinds = {c["name"]: (c["type"]["value"] if isinstance(c["type"], dict) else c["type"]) for c in cols}
    data: dict[str, Any] = {
        "dataset": draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)),
        "version": draw(st.integers(1, 10_000)),
        "description": draw(st.text(max_size=40)),
        "columns": cols,
        "extra_columns": draw(st.sampled_from(["allow", "warn", "reject", {"value": "reject", "severity": "error"}])),
        "duplicate_rows": draw(st.sampled_from(["allow", "warn", "reject", {"value": "reject", "mostly": 0.99}])),
        "policy": {"auto_train": draw(st.booleans())},
    }
    labels = [n for n, k in kinds.items() if k in model.CLASS_LABEL_TYPES]
    if draw(st.booleans()) and labels:
        data["label"] = draw(st.sampled_from(labels))
        data["label_min_class_share"] = draw(expectation(st.floats(0, 1)))
    if draw(st.booleans()):
        data["forbidden_columns"] = draw(whole_file(st.lists(st.sampled_from(["ssn", "email", "phone"]), unique=True)))
    if draw(st.booleans()):
        low = draw(st.integers(0, 100))
        data["row_count"] = {"min": low, "max": low + draw(st.integers(0, 10**7)), "severity": draw(SEVERITY)}
    numeric = [n for n, k in kinds.items() if k in ("int", "float")]
    if numeric:
        data["distributions"] = [
            {"column": draw(st.sampled_from(numeric)), "statistic": "quantile", "q": 0.5, "min": -1.5, "max": 2.0},
            {"column": draw(st.sampled_from(numeric)), "statistic": "mean", "max": 10, "severity": draw(SEVERITY)},
        ]
    return parse_contract(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_random_contracts_round_trip_through_yaml(contract: DataContract) -> None:
    text = render_contract_yaml(contract)
    assert load_contract(text, source="rendered") == contract
    assert render_contract_yaml(load_contract(text, source="rendered")) == text


def test_a_regex_with_a_repetition_past_sys_maxsize_is_a_problem_not_a_crash() -> None:
    """Hypothesis found it: `a{99999999999999999999}` raises OverflowError, not re.error."""
    from mlops.contracts.model import regex_problems

    (problem,) = regex_problems("a{99999999999999999999}")
    assert "does not compile" in problem
