"""Labels in: what a sender is told about a submission, and what is stored. Bad labels refuse the
whole submission naming index and field; unjoinable ones are counted and the rest stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.label_intake import (
    MAX_LABELS,
    LabelIntake,
    LabelTarget,
    NotMonitored,
    SubmissionError,
    api_problems,
    check_labels,
    label_target,
    parse_request_id,
    store_labels,
    submission_from_body,
)
from mlops.monitoring.label_store import read_labels
from mlops.serving.prediction_keys import DEFAULT_HORIZON_DAYS, PredictionKey, ResolvedKey
from mlops.serving.request_ids import answered_at, canonical, new_request_id
from mlops.serving.signature import ServedSignature

NOW = datetime(2026, 12, 10, 15, 30, tzinfo=UTC)
CLASSES = LabelTarget("churn", ("0", "1"), timedelta(days=14), "churned")
NUMBERS = LabelTarget("prices", None, timedelta(days=14), "price")


def _id(at: datetime, seed: int = 0) -> str:
    return new_request_id(int(at.timestamp() * 1000), bytes([seed]) * 10)


def _check(labels: list[Any], target: LabelTarget = CLASSES) -> LabelIntake:
    return check_labels(
        submission_from_body({"labels": labels}, model=target.model),
        target,
        now=NOW,
        received_at=NOW,
        source="api key-1",
    )


def test_class_labels_are_stored_by_the_hour_of_their_predictions_in_arrival_order() -> None:
    morning, noon = NOW.replace(hour=9, minute=5), NOW.replace(hour=12, minute=59)
    first, second = _id(morning, 1), _id(noon, 2)
    intake = _check(
        [
            {"request_id": first.upper(), "row": 0, "label": "1"},  # ids come back in any case
            {"request_id": second, "label": "0"},  # row defaults to 0
            {"request_id": first, "row": 2, "label": "0"},
        ]
    )
    assert (intake.accepted, intake.refused_total, intake.problem_count) == (3, 0, 0)
    assert [b.hour for b in intake.batches] == [NOW.replace(hour=9, minute=0), NOW.replace(hour=12, minute=0)]
    nine, twelve = intake.batches
    assert nine.request_ids.tolist() == [first, first] and nine.rows.tolist() == [0, 2]
    assert nine.values.tolist() == ["1", "0"] and twelve.values.tolist() == ["0"]
    assert all(b.received_at == NOW and b.source == "api key-1" for b in intake.batches)
    assert intake.notes() == []


def test_a_number_or_boolean_whose_value_is_a_class_is_stored_as_that_class_and_the_sender_is_told() -> None:
    at = NOW - timedelta(hours=1)
    intake = _check([{"request_id": _id(at), "label": 1}, {"request_id": _id(at, 1), "label": 0.0}])
    assert intake.accepted == 2 and intake.numbers_as_classes == 2
    assert intake.batches[0].values.tolist() == ["1", "0"]
    assert "2 labels were numbers, booleans or numeric text" in intake.notes()[0]
    booleans = LabelTarget("fraud", ("False", "True"), timedelta(days=1))
    intake = _check([{"request_id": _id(at), "label": True}], booleans)
    assert intake.batches[0].values.tolist() == ["True"]


def test_a_file_and_the_api_agree_numeric_text_and_booleans_name_a_numeric_class_by_value() -> None:
    """A CSV's "0.0" (pandas writes an int column with gaps so) is class "0" as the API's 0.0 is;
    true and false are classes "1" and "0" (found by a newcomer: the file refused what the API took)."""
    at = NOW - timedelta(hours=1)
    labels = [{"request_id": _id(at, n), "label": value} for n, value in enumerate(["0.0", " 1 ", True, False, "1e0"])]
    intake = _check(labels)
    assert intake.problem_count == 0 and intake.batches[0].values.tolist() == ["0", "1", "1", "0", "1"]
    assert intake.numbers_as_classes == 5
    refused = _check([{"request_id": _id(at), "label": "2.0"}, {"request_id": _id(at, 1), "label": "nan"}])
    assert refused.problem_count == 2


def test_regression_labels_are_finite_numbers() -> None:
    at = NOW - timedelta(days=2)
    intake = _check([{"request_id": _id(at), "label": 3}, {"request_id": _id(at, 1), "label": -0.25}], NUMBERS)
    assert intake.batches[0].values.dtype == np.float64 and intake.batches[0].values.tolist() == [3.0, -0.25]
    refused = _check(
        [
            {"request_id": _id(at), "label": True},
            {"request_id": _id(at), "label": "3.5"},
            {"request_id": _id(at), "label": float("nan")},
        ],
        NUMBERS,
    )
    assert [(p.index, p.field, p.code) for p in refused.problems] == [
        (0, "label", "wrong_type"),
        (1, "label", "wrong_type"),
        (2, "label", "not_finite"),
    ]
    assert refused.batches == () and refused.accepted == 0


@pytest.mark.parametrize(
    ("label", "field", "code", "words"),
    [
        ({"request_id": None, "row": 0, "label": "1"}, "request_id", "missing_field", "is null"),
        ({"request_id": 7, "label": "1"}, "request_id", "wrong_type", "the number 7"),
        ({"label": "maybe"}, "label", "unknown_class", "'maybe' is not a class of churn; its classes are '0', '1'"),
        ({"label": 2}, "label", "unknown_class", "2 is not a class of churn"),
        ({"label": ["1"]}, "label", "wrong_type", "got a list"),
        ({"label": None}, "label", "missing_field", "is missing"),
        ({}, "label", "missing_field", "is missing"),
        ({"label": "1", "row": 1.5}, "row", "invalid_row", "whole number"),
        ({"label": "1", "row": -1}, "row", "invalid_row", "from 0 to 999"),
        ({"label": "1", "row": "2"}, "row", "invalid_row", "the text '2'"),
        ({"label": "1", "row": True}, "row", "invalid_row", "the boolean true"),
        ({"label": "1", "lable": "1"}, "lable", "unknown_field", "not a label's field"),
    ],
    ids=[
        "no-id",
        "id-not-text",
        "unknown-class",
        "number-not-a-class",
        "list",
        "null",
        "no-label",
        "fractional-row",
        "negative-row",
        "text-row",
        "boolean-row",
        "typo",
    ],
)
def test_a_label_that_cannot_be_right_refuses_the_whole_submission_naming_index_and_field(
    label: dict[str, Any], field: str, code: str, words: str
) -> None:
    good = {"request_id": _id(NOW), "label": "1"}
    intake = _check([good, {"request_id": _id(NOW, 1), **label}, good])
    [problem] = intake.problems
    assert (problem.index, problem.field, problem.code) == (1, field, code)
    assert words in problem.detail
    assert intake.batches == () and intake.accepted == 0  # nothing of it is stored


def test_an_item_that_is_no_object_is_one_problem() -> None:
    intake = _check(["1", {"request_id": _id(NOW), "label": "1"}])
    assert [(p.index, p.code) for p in intake.problems] == [(0, "not_an_object")]
    assert "got the text '1'" in intake.problems[0].detail


def test_a_refusal_quotes_at_most_a_hundred_problems_and_a_hundred_characters_of_a_name_sent() -> None:
    """A 3.2 MB unknown field name was quoted twice (message and field), and every unknown field of
    every label was listed: an answer past Lambda's 6 MB response limit, a 502 for the client."""
    name = "x" * 3_200_000
    labels = [{"request_id": _id(NOW), "label": "1", name: 1}] + [
        {"request_id": _id(NOW), "label": "1", **{f"f{n}": 1 for n in range(50)}} for _ in range(10)
    ]
    intake = _check(labels)
    answer = json.dumps(api_problems(intake))
    assert intake.problem_count == 501 and len(intake.problems) == 100
    assert len(answer) < 30_000, len(answer)
    assert "(a name of 3,200,000 characters)" in intake.problems[0].detail


def test_labels_that_cannot_be_joined_are_counted_and_the_rest_stored() -> None:
    good = _id(NOW - timedelta(days=13, hours=23))  # inside the 14-day horizon
    labels = [
        {"request_id": good, "label": "1"},
        {"request_id": "0b9b0e5e-3f4a-4b7c-9d2e-1a2b3c4d5e6f", "label": "0"},  # a UUIDv4: not ours
        {"request_id": "order-17", "label": "0"},
        {"request_id": _id(NOW - timedelta(days=14, minutes=1)), "label": "0"},
        {"request_id": _id(NOW + timedelta(minutes=4)), "label": "0"},  # clock skew: accepted
        {"request_id": _id(NOW + timedelta(minutes=6)), "label": "0"},
    ]
    intake = _check(labels)
    assert intake.problem_count == 0 and intake.accepted == 2
    assert dict(intake.refused) == {"unknown_id": 2, "unknown_key": 0, "too_late": 1, "from_the_future": 1}
    assert [(r.index, r.reason) for r in intake.examples] == [
        (1, "unknown_id"),
        (2, "unknown_id"),
        (3, "too_late"),
        (5, "from_the_future"),
    ]
    assert "14 days (monitoring.performance.horizon_days)" in intake.examples[2].detail
    assert sum(len(b.rows) for b in intake.batches) == 2


def test_duplicates_are_all_stored_in_arrival_order_and_counted() -> None:
    first = _id(NOW - timedelta(hours=2))
    intake = _check(
        [
            {"request_id": first, "label": "0"},
            {"request_id": first.upper(), "row": 0, "label": "1"},  # the same row, corrected
            {"request_id": first, "row": 1, "label": "1"},
        ]
    )
    assert intake.duplicates == 1 and intake.accepted == 3
    [batch] = intake.batches
    assert batch.values.tolist() == ["0", "1", "1"] and batch.rows.tolist() == [0, 0, 1]
    assert any("the join keeps the latest" in note for note in intake.notes())


def test_up_to_ten_thousand_labels_are_taken_in_one_request_and_more_are_refused_whole() -> None:
    at = NOW - timedelta(minutes=30)
    labels = [{"request_id": _id(at, i % 256), "row": i % 1000, "label": "1"} for i in range(MAX_LABELS)]
    assert _check(labels).accepted == MAX_LABELS
    with pytest.raises(SubmissionError) as refused:
        submission_from_body({"labels": [*labels, labels[0]]}, model="churn")
    assert refused.value.status == 413 and refused.value.code == "too_many_labels"
    assert "10,001 labels" in refused.value.message and "feedback/churn/" in refused.value.message


@pytest.mark.parametrize(
    "body",
    [{"labels": []}, {"labels": {}}, [], {"labels": [], "model": "x"}, {"rows": []}],
    ids=["empty", "not-a-list", "not-an-object", "extra-key", "no-labels"],
)
def test_a_body_of_another_shape_is_a_400_naming_the_shape(body: Any) -> None:
    with pytest.raises(SubmissionError) as refused:
        submission_from_body(body)
    assert refused.value.status == 400 and '"labels"' in refused.value.message


def test_stored_objects_read_back_and_a_second_store_writes_the_same_keys() -> None:
    intake = _check([{"request_id": _id(NOW - timedelta(hours=30)), "label": "1"}])
    written: dict[str, bytes] = {}
    keys = store_labels(intake, "file-3f2a", written.__setitem__)
    assert keys == ["labels/churn/date=2026-12-09/hour=09/20261210T153000000-file-3f2a.npz"]
    assert store_labels(intake, "file-3f2a", written.__setitem__) == keys and list(written) == keys
    back = read_labels(written[keys[0]])
    assert back.values.tolist() == ["1"] and back.model == "churn"
    with pytest.raises(ValueError, match="stores nothing"):
        store_labels(_check([{"label": "1"}]), "x", written.__setitem__)


def _signature(classes: tuple[Any, ...] | None, label: str = "churned") -> ServedSignature:
    problem = "regression" if classes is None else "binary"
    return ServedSignature(problem, label, (), "input", 1, ("label",), classes)


def test_the_target_is_the_answering_versions_classes_as_serving_answers_them() -> None:
    monitoring = {"performance": PerformanceConfig(horizon_days=3).model_dump(mode="json")}
    target = label_target("churn", [_signature((0, 1)), _signature((0, 1, 2))], monitoring)
    assert target.classes == ("0", "1", "2") and target.horizon == timedelta(days=3)
    assert target.label_column == "churned" and target.classifier
    regression = label_target("prices", [_signature(None, "price")], {"performance": {}})
    assert regression.classes is None and regression.horizon == timedelta(days=DEFAULT_HORIZON_DAYS)
    assert PerformanceConfig().horizon_days == DEFAULT_HORIZON_DAYS


@pytest.mark.parametrize("monitoring", [None, {}, {"drift": {}}, {"performance": None}])
def test_a_model_without_performance_monitoring_takes_no_labels_and_is_told_how(monitoring: Any) -> None:
    with pytest.raises(NotMonitored, match=r"configs/churn.yaml.*mlops config deploy"):
        label_target("churn", [_signature((0, 1))], monitoring, version=4)


_MINTED = st.builds(
    lambda ms, tail, upper: new_request_id(ms, tail).upper() if upper else new_request_id(ms, tail),
    st.integers(0, 2**48 - 1),
    st.binary(min_size=10, max_size=10),
    st.booleans(),
)


@given(text=st.one_of(_MINTED, st.text(max_size=40), st.uuids().map(str), _MINTED.map(lambda t: t[:14] + "8" + t[15:])))
@example(text="0197a0b0-0000-7000-c000-000000000000")  # variant 110x: not RFC 9562's
@example(text="0197a0b0-0000-7000-8000-00000000000 ")  # 36 characters, one of them no hex digit
@example(text=uuid.UUID("0197a0b0-0000-7000-8000-000000000000").hex)  # no hyphens
def test_the_fast_id_check_says_what_request_ids_says(text: str) -> None:
    """The intake reads a million ids without uuid.UUID; it must accept and date exactly what
    mlops.serving.request_ids accepts and dates."""
    request_id, issued_ms = parse_request_id(text)
    assert request_id == canonical(text)
    if request_id is not None:
        issued = answered_at(text)
        assert issued is not None and issued_ms == round(issued.timestamp() * 1000)


# -- labels that name their prediction by the request's key or the row's id ----------------------------
ORDERS = LabelTarget("churn", ("0", "1"), timedelta(days=14), "churned", id_field="order_id")


class _Keys:
    """The prediction keys table as `resolve` answers: key -> (request id, row, reused); records the calls."""

    def __init__(self, known: dict[PredictionKey, ResolvedKey]) -> None:
        self.known = known
        self.calls: list[tuple[list[PredictionKey], datetime]] = []

    def __call__(self, keys: Sequence[PredictionKey], at: datetime) -> dict[PredictionKey, ResolvedKey]:
        self.calls.append((list(keys), at))
        return {k: self.known[k] for k in keys if k in self.known}


def _check_keyed(labels: list[Any], keys: _Keys, target: LabelTarget = ORDERS) -> LabelIntake:
    return check_labels(
        submission_from_body({"labels": labels}, model=target.model),
        target,
        now=NOW,
        received_at=NOW,
        source="api key-1",
        resolve=keys,
    )


def test_a_label_may_name_its_prediction_by_request_key_and_row_or_by_the_rows_id() -> None:
    yesterday, last_week = _id(NOW - timedelta(days=1), 1), _id(NOW - timedelta(days=7), 2)
    keys = _Keys(
        {
            PredictionKey("key", "customer-7"): ResolvedKey(yesterday, None, reused=True),
            PredictionKey("id", "A-17"): ResolvedKey(last_week, 3, reused=False),
            PredictionKey("id", "42"): ResolvedKey(last_week, 4, reused=False),
        }
    )
    intake = _check_keyed(
        [
            {"request_key": "customer-7", "row": 1, "label": "1"},
            {"id": "A-17", "label": "0"},
            {"id": 42, "label": 1},  # a whole-number id is its decimal text
            {"request_key": "customer-9", "label": "1"},  # no prediction was made with it
            {"request_id": yesterday, "row": 0, "label": "0"},
        ],
        keys,
    )
    assert (intake.accepted, dict(intake.refused)["unknown_key"], intake.problem_count) == (4, 1, 0)
    [(asked, at)] = keys.calls  # one lookup for the submission, as of its arrival
    assert at == NOW and set(asked) == {PredictionKey("key", "customer-7"), PredictionKey("id", "A-17")} | {
        PredictionKey("id", "42"),
        PredictionKey("key", "customer-9"),
    }
    week, day = intake.batches  # stored by the hour of the predictions the keys named, like any label
    assert week.request_ids.tolist() == [last_week, last_week] and week.rows.tolist() == [3, 4]
    assert day.request_ids.tolist() == [yesterday, yesterday] and day.rows.tolist() == [1, 0]
    [refused] = intake.examples
    assert (refused.index, refused.reason, refused.request_id) == (3, "unknown_key", "customer-9")
    assert "x-request-key" in refused.detail and "14 days" in refused.detail
    assert any("several predictions" in note for note in intake.notes())


def test_a_key_whose_prediction_is_past_the_horizon_is_too_late() -> None:
    old = _id(NOW - timedelta(days=20))
    keys = _Keys({PredictionKey("key", "customer-7"): ResolvedKey(old, None, reused=False)})
    intake = _check_keyed([{"request_key": "customer-7", "label": "1"}], keys)
    assert intake.accepted == 0 and dict(intake.refused)["too_late"] == 1


@pytest.mark.parametrize(
    ("label", "target", "field", "code"),
    [
        ({"request_id": "x", "request_key": "c-7", "label": "1"}, ORDERS, "request_key", "conflicting_fields"),
        ({"request_key": "c-7", "id": "A-1", "label": "1"}, ORDERS, "id", "conflicting_fields"),
        ({"label": "1"}, ORDERS, "request_id", "missing_field"),
        ({"request_key": 7, "label": "1"}, ORDERS, "request_key", "wrong_type"),
        ({"request_key": "k" * 257, "label": "1"}, ORDERS, "request_key", "wrong_type"),
        ({"id": 1.5, "label": "1"}, ORDERS, "id", "wrong_type"),
        ({"id": "A-1", "row": 2, "label": "1"}, ORDERS, "row", "unexpected_field"),
        ({"id": "A-1", "label": "1"}, CLASSES, "id", "no_id_field"),
    ],
    ids=["id-and-key", "key-and-row-id", "none", "key-number", "key-too-long", "id-fraction", "id-with-row", "no-id"],
)
def test_a_label_that_names_its_prediction_wrongly_refuses_the_submission_before_any_lookup(
    label: dict[str, Any], target: LabelTarget, field: str, code: str
) -> None:
    keys = _Keys({})
    intake = _check_keyed([{"request_key": "c-1", "label": "1"}, label], keys, target)
    assert intake.accepted == 0 and intake.batches == () and keys.calls == []
    [problem] = intake.problems
    assert (problem.index, problem.field, problem.code) == (1, field, code), problem


def test_a_request_id_from_the_far_future_is_refused_as_such_not_a_crash() -> None:
    """The largest UUIDv7 says its request was issued in the year 10889, past datetime's range."""
    intake = _check([{"request_id": "ffffffff-ffff-7fff-bfff-ffffffffffff", "label": "0"}])
    assert intake.accepted == 0 and dict(intake.refused)["from_the_future"] == 1
    assert "past the year 9999" in intake.examples[0].detail


def test_a_null_id_is_named_as_the_field_that_is_empty() -> None:
    intake = _check_keyed([{"id": None, "label": "1"}], _Keys({}))
    [problem] = intake.problems
    assert (problem.field, problem.code) == ("id", "missing_field") and "order_id" in problem.detail
