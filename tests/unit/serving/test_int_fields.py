"""An int field as the data contract declares it: its allowed values refused (or warned) as
`unseen_category`, a fraction refused as `wrong_type`, a whole float such as 2.0 accepted."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from mlops.serving.inputs import InputPolicy, RequestError, encode_request, number_columns
from mlops.serving.models import ServedVersion, load_version
from mlops.serving.signature import ServedSignature, signature_differences
from tests.unit.serving.support import Registered, tickets

ROW = {"support_tickets": 1, "monthly_charges": 42.5, "tenure_months": 12}


def _served(registered: Registered) -> ServedVersion:
    return load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)


def _document(registered: Registered) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(registered.artifacts[registered.record["signature_key"]])
    return document


def _refused(rows: list[dict[str, Any]], policy: InputPolicy) -> RequestError:
    served = _served(tickets())
    with pytest.raises(RequestError) as caught:
        encode_request(rows, served.signature, policy, served.number_columns)
    return caught.value


def test_the_signature_shows_an_int_fields_allowed_values() -> None:
    inputs = {i["name"]: i for i in _served(tickets()).signature.describe()["inputs"]}
    assert inputs["support_tickets"]["type"] == "int"
    assert inputs["support_tickets"]["allowed_values"] == [0, 1, 2, 3]
    assert inputs["support_tickets"]["range"] == {"min": None, "max": None}
    assert "allowed_values" not in inputs["tenure_months"]  # the contract lists none: any whole number >= 0


def test_a_value_outside_the_allowed_values_is_refused_naming_row_and_field() -> None:
    error = _refused([ROW, {**ROW, "support_tickets": 99}], InputPolicy())
    assert error.code == "invalid_input"
    assert [(p.row, p.field, p.code) for p in error.problems] == [(1, "support_tickets", "unseen_category")]
    assert "99 is not among the data contract's allowed values (0, 1, 2, 3)" in error.problems[0].message
    assert "unseen_category: reject" in error.message
    assert error.refused is not None and error.refused.refusals == [{}, {"support_tickets": "unseen_category"}]


def test_under_the_warn_policy_a_value_outside_the_allowed_values_is_answered_with_a_warning() -> None:
    served = _served(tickets(unseen_category="warn"))
    encoded = encode_request(
        [ROW, {**ROW, "support_tickets": 99}], served.signature, served.policy, served.number_columns
    )
    assert [(w.row, w.field, w.code) for w in encoded.warnings] == [(1, "support_tickets", "unseen_category")]
    assert encoded.matrix[1, served.signature.field("support_tickets").column] == 99.0


@pytest.mark.parametrize("field", ["support_tickets", "tenure_months"])  # with allowed values, and without
def test_a_fraction_for_an_int_field_is_a_wrong_type(field: str) -> None:
    error = _refused([ROW, {**ROW, field: 1.5}], InputPolicy(out_of_range="warn", unseen_category="warn"))
    assert [(p.row, p.field, p.code) for p in error.problems] == [(1, field, "wrong_type")]
    assert "expected a whole number (an int field), got a number 1.5" in error.problems[0].message
    assert error.refused is None  # a wrong type is the client's bug, not traffic the policy refused


def test_a_whole_float_for_an_int_field_is_accepted_and_encoded_as_its_integer() -> None:
    served = _served(tickets())
    whole = encode_request([{**ROW, "support_tickets": 2.0, "tenure_months": 7.0}], served.signature, served.policy)
    integer = encode_request([{**ROW, "support_tickets": 2, "tenure_months": 7}], served.signature, served.policy)
    assert whole.warnings == [] and np.array_equal(whole.matrix, integer.matrix)
    assert whole.matrix[0, served.signature.field("support_tickets").column] == 2.0


def test_the_one_step_path_leaves_a_field_with_allowed_values_to_the_per_field_check() -> None:
    numbers = number_columns(_served(tickets()).signature)
    assert "support_tickets" not in numbers.fields
    assert {"monthly_charges", "tenure_months"} <= numbers.fields


def test_a_signature_stored_without_an_int_fields_allowed_values_still_loads_and_takes_any_whole_number() -> None:
    document = _document(tickets())
    for field in document["inputs"]:
        field.pop("allowed_values", None)
    signature = ServedSignature.from_json(document)
    assert signature.field("support_tickets").allowed_numbers is None
    assert "allowed_values" not in signature.describe()["inputs"][0]
    encoded = encode_request([{**ROW, "support_tickets": 99}], signature, InputPolicy())
    assert encoded.matrix[0, signature.field("support_tickets").column] == 99.0


def test_a_challenger_with_fewer_allowed_numbers_is_a_signature_difference() -> None:
    champion = _served(tickets()).signature
    document = _document(tickets())
    for field in document["inputs"]:
        if field["name"] == "support_tickets":
            field["allowed_values"] = ["0", "1", "2"]
    challenger = ServedSignature.from_json(document)
    assert signature_differences(champion, challenger) == [
        "field 'support_tickets': the challenger refuses 3, which the champion accepts"
    ]
    assert signature_differences(challenger, champion) == []


def _churn_refusal(value: Any) -> tuple[str, str]:
    from tests.unit.serving.support import churn

    served = _served(churn())
    row = {"age": 30.0, "income": 1.0, "member": True, "city": value}
    fields = {s.name for s in served.signature.inputs}
    row = {k: v for k, v in row.items() if k in fields}
    with pytest.raises(RequestError) as caught:
        encode_request([row], served.signature, served.policy, served.number_columns)
    problem = next(p for p in caught.value.problems if p.field == "city")
    return problem.code, problem.message


def test_a_whole_number_for_a_category_is_read_as_its_text_and_a_fraction_or_bool_is_a_wrong_type() -> None:
    # The README's table of 400 codes says so: 7 is looked up as category "7" (unseen here), 1.5 and
    # true are not category values at all.
    assert _churn_refusal(7)[0] == "unseen_category"
    assert _churn_refusal(1.5)[0] == "wrong_type"
    assert _churn_refusal(True)[0] == "wrong_type"


def test_an_integer_too_large_for_a_float_says_so_and_how_long_it_is() -> None:
    error = _refused([{**ROW, "monthly_charges": 10**400}], InputPolicy())
    [problem] = error.problems
    assert (problem.code, problem.field) == ("not_finite", "monthly_charges")
    assert problem.message == (
        "expected a number a 64-bit float can hold (up to about 1.8e308), got an integer of about 401 digits"
    )
