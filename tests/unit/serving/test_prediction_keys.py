"""The keys predictions were made with, as labels name them (issue #19): recorded as capture batches
land, resolved to the latest prediction made with a key before the label arrived. DynamoDB is moto's,
with the table the stack creates (pk/sk strings, TTL on expires_at)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from mlops.serving.capture import CaptureBuffer, RequestKeys, read_capture
from mlops.serving.prediction_keys import (
    KeyedPrediction,
    KeyPolicy,
    PredictionKey,
    PredictionKeys,
    key_policy,
    recordable,
)
from mlops.serving.request_ids import new_request_id
from tests.unit.serving.support import create_prediction_keys_table

TABLE = "prediction-keys"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _id(at: datetime) -> str:
    return new_request_id(int(at.timestamp() * 1000))


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        create_prediction_keys_table(dynamodb, TABLE)
        yield dynamodb


def test_a_key_names_the_latest_prediction_made_with_it_before_the_label_arrived(client: Any) -> None:
    keys = PredictionKeys(client, TABLE)
    customer = PredictionKey("key", "customer-7")
    monday, tuesday, friday = _id(T0), _id(T0 + timedelta(days=1)), _id(T0 + timedelta(days=4))
    expires = T0 + timedelta(days=15)
    for request_id in (tuesday, monday, friday):  # batches land in any order
        keys.record("churn", [KeyedPrediction(customer, request_id, None)], expires)

    # A label sent on Wednesday is about Tuesday's prediction, not Friday's (made after it arrived).
    [(key, found)] = keys.resolve("churn", [customer], T0 + timedelta(days=2)).items()
    assert key == customer and found.request_id == tuesday and found.row is None and found.reused
    assert keys.resolve("churn", [customer], T0 + timedelta(days=5))[customer].request_id == friday
    # Before the first prediction, and for another model or key, the key names nothing.
    assert keys.resolve("churn", [customer], T0 - timedelta(seconds=1)) == {}
    assert keys.resolve("other-model", [customer], T0 + timedelta(days=5)) == {}
    assert keys.resolve("churn", [PredictionKey("key", "customer-8")], T0 + timedelta(days=5)) == {}


def test_an_id_names_its_row_and_a_request_key_and_an_id_of_the_same_text_are_different_keys(client: Any) -> None:
    keys = PredictionKeys(client, TABLE)
    request_id = _id(T0)
    keys.record(
        "churn",
        [
            KeyedPrediction(PredictionKey("key", "A-17"), request_id, None),
            KeyedPrediction(PredictionKey("id", "A-17"), request_id, 3),
            KeyedPrediction(PredictionKey("id", "B-2"), request_id, 4),
        ],
        T0 + timedelta(days=15),
    )
    found = keys.resolve(
        "churn", [PredictionKey("id", "A-17"), PredictionKey("id", "B-2"), PredictionKey("key", "A-17")], T0
    )
    assert found[PredictionKey("id", "A-17")].row == 3 and not found[PredictionKey("id", "A-17")].reused
    assert found[PredictionKey("id", "B-2")].row == 4
    assert found[PredictionKey("key", "A-17")].row is None


def test_a_retried_batch_writes_the_same_items_and_every_key_of_a_large_batch_is_kept(client: Any) -> None:
    keys = PredictionKeys(client, TABLE)
    request_id = _id(T0)
    batch = [KeyedPrediction(PredictionKey("id", f"order-{i}"), request_id, i) for i in range(1000)]
    expires = T0 + timedelta(days=15)
    keys.record("churn", batch, expires)
    keys.record("churn", batch, expires)  # the capture writer retried: nothing is added
    assert client.scan(TableName=TABLE, Select="COUNT")["Count"] == 1000
    found = keys.resolve("churn", [k.key for k in batch], T0)
    assert len(found) == 1000 and all(found[k.key].row == k.row and not found[k.key].reused for k in batch)
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "churn#id#order-5"}, "sk": {"S": f"{request_id}#00005"}})
    assert item["Item"]["expires_at"]["N"] == str(int(expires.timestamp()))  # DynamoDB's TTL: epoch seconds


class _Throttled:
    """DynamoDB answering BatchWriteItem with UnprocessedItems (what it does under throttling)."""

    def __init__(self, unprocessed_answers: int, *, keep: int = 1) -> None:
        self.left = unprocessed_answers
        self.keep = keep  # requests processed per call
        self.calls: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        [(table, requests)] = RequestItems.items()
        self.calls.append(len(requests))
        if self.left:
            self.left -= 1
            return {"UnprocessedItems": {table: requests[self.keep :]}}
        return {"UnprocessedItems": {}}


def test_unprocessed_items_are_sent_again_and_a_table_that_keeps_refusing_is_an_error() -> None:
    waits: list[float] = []
    throttled = _Throttled(unprocessed_answers=2)
    batch = [KeyedPrediction(PredictionKey("key", f"c-{i}"), _id(T0), None) for i in range(3)]
    PredictionKeys(throttled, TABLE, sleep=waits.append).record("churn", batch, T0)
    assert throttled.calls == [3, 2, 1] and waits == [0.05, 0.1]
    with pytest.raises(RuntimeError, match="left unprocessed after 5 attempts"):
        PredictionKeys(_Throttled(unprocessed_answers=99, keep=0), TABLE, sleep=waits.append).record("churn", batch, T0)


@pytest.mark.parametrize(
    ("value", "recorded"),
    [
        ("customer-7", "customer-7"),
        (17, "17"),
        (17.0, "17"),  # a Parquet int column with a gap reads as floats
        ("", None),
        (True, None),
        (1.5, None),
        (float("nan"), None),
        (None, None),
        ("x" * 257, None),
    ],
)
def test_what_a_key_or_id_may_be(value: Any, recorded: str | None) -> None:
    assert recordable(value) == recorded


def test_only_a_model_whose_labels_are_joined_records_keys() -> None:
    assert key_policy(None) is None and key_policy({"drift": {}}) is None
    assert key_policy({"performance": {}}) == KeyPolicy(None, timedelta(days=14))
    assert key_policy({"performance": {"id_field": "order_id", "horizon_days": 3}}) == KeyPolicy(
        "order_id", timedelta(days=3)
    )
    # As the registry table gives it back: DynamoDB numbers are Decimals.
    assert key_policy({"performance": {"horizon_days": Decimal("7")}}) == KeyPolicy(None, timedelta(days=7))
    assert key_policy({"performance": {"horizon_days": -1}}) == KeyPolicy(None, timedelta(days=14))


def test_capture_keeps_each_rows_key_and_id_and_records_the_keys_once_its_batch_is_written() -> None:
    written: dict[str, bytes] = {}
    recorded: list[tuple[str, list[KeyedPrediction], datetime]] = []
    capture = CaptureBuffer(
        write=written.__setitem__,
        default_sample_rate=1.0,
        record_keys=lambda model, keyed, expires: recorded.append((model, list(keyed), expires)),
        now=lambda: T0,
    )
    policy = KeyPolicy("order_id", timedelta(days=7))
    first, second = _id(T0), _id(T0)
    for request_id, keys in (
        (first, RequestKeys(policy, "customer-7", ["A-1", None])),
        (second, RequestKeys(policy, None, None)),  # no key, no ids: rows kept, nothing recorded
    ):
        capture.add(
            model="churn",
            version=1,
            fields={"age": "numeric"},
            classes=None,
            values={"age": [30.0, 40.0]},
            predictions=[0.1, 0.2],
            probabilities=None,
            variant="champion",
            request_id=request_id,
            keys=keys,
        )
    capture.flush()
    [(_, data)] = written.items()
    _, arrays = read_capture(data)
    assert arrays["request_key"].tolist() == ["customer-7", "customer-7", "", ""]
    assert arrays["id"].tolist() == ["A-1", "", "", ""]
    [(model, keyed, expires)] = recorded
    assert model == "churn" and expires == T0 + timedelta(days=8)  # the horizon and a day
    assert keyed == [
        KeyedPrediction(PredictionKey("key", "customer-7"), first, None),
        KeyedPrediction(PredictionKey("id", "A-1"), first, 0),
    ]
    assert np.all(arrays["request_id"][:2] == first)


def test_keys_that_cannot_be_recorded_are_counted_and_the_capture_still_lands() -> None:
    written: dict[str, bytes] = {}

    def refuse(model: str, keyed: Any, expires: datetime) -> None:
        raise RuntimeError("throttled")

    capture = CaptureBuffer(write=written.__setitem__, default_sample_rate=1.0, record_keys=refuse)
    capture.add(
        model="churn",
        version=1,
        fields={"age": "numeric"},
        classes=None,
        values={"age": [30.0]},
        predictions=[0.1],
        probabilities=None,
        variant="champion",
        request_id=_id(T0),
        keys=RequestKeys(KeyPolicy(None, timedelta(days=7)), "customer-7"),
    )
    capture.flush()
    assert len(written) == 1 and capture.take_counts() == (1, 0) and capture.take_key_failures() == 1
