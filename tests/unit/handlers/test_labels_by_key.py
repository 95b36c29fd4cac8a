"""Labels that name their prediction by the client's own key (issue #19): the request's x-request-key,
or the row's id field (`monitoring.performance.id_field`), as a client meets them through the predict
function: predictions carrying them, the keys recorded as capture lands, labels by key stored under
the request ids they named. The registry is a dict, DynamoDB (the prediction keys table) is moto's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops.monitoring.label_store import read_labels
from mlops.serving.capture import CaptureBuffer, read_capture
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from mlops.serving.prediction_keys import PredictionKey, PredictionKeys
from tests.unit.handlers.predict_golden import Registry
from tests.unit.handlers.support import QUIET, Context, loaded, rest_event
from tests.unit.serving.support import churn, create_prediction_keys_table

pytestmark = QUIET
ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}
TABLE = "prediction-keys"


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with loaded("handlers.predict") as module:
        yield module


class Deployment:
    def __init__(self, module: Any, capture: CaptureBuffer, labels: dict[str, bytes], captured: dict[str, bytes]):
        self.module, self.capture, self.labels, self.captured = module, capture, labels, captured

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.module.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    def predict(self, rows: list[dict[str, Any]], key: str | None = None, model: str = "orders") -> tuple[int, Any]:
        headers = {"x-request-key": key} if key else None
        path = f"/v1/models/{model}/predict"
        return self.call(
            rest_event(
                "POST", path, "/v1/models/{name}/predict", {"name": model}, body={"instances": rows}, headers=headers
            )
        )

    def feedback(self, labels: list[dict[str, Any]], model: str = "orders") -> tuple[int, Any]:
        path = f"/v1/models/{model}/feedback"
        event = rest_event("POST", path, "/v1/models/{name}/feedback", {"name": model}, body={"labels": labels})
        return self.call(event)


@pytest.fixture
def deployment(predict: Any) -> Iterator[Deployment]:
    """`orders` names order_id as its id field (not an input of the model); `churn` names none."""
    registered = churn()
    records = {
        ("orders", 1): {
            **registered.record,
            "model": "orders",
            "monitoring": {"performance": {"id_field": "order_id", "horizon_days": 7}},
        },
        ("churn", 1): {**registered.record, "model": "churn", "monitoring": {"performance": {}}},
    }
    registry = Registry({name: {"champion": {"version": 1}} for name, _ in records}, records)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_prediction_keys_table(client, TABLE)
        keys = PredictionKeys(client, TABLE)
        captured: dict[str, bytes] = {}
        capture = CaptureBuffer(write=captured.__setitem__, default_sample_rate=1.0, record_keys=keys.record)
        serving = Serving(
            models=ServedModels(registry=registry, read_artifact=registered.artifacts.__getitem__),
            policies=DeployedPolicies(read=registry.serving_policy),
            capture=capture,
        )
        labels: dict[str, bytes] = {}
        services = predict.PredictServices(serving, "serving", write_labels=labels.__setitem__, prediction_keys=keys)
        with predict.services.replaced(services):
            yield Deployment(predict, capture, labels, captured)


def test_labels_by_request_key_and_by_order_id_are_stored_under_the_predictions_they_name(
    deployment: Deployment,
) -> None:
    status, first = deployment.predict([{**ROW, "order_id": "A-1"}, {**ROW, "order_id": 1002}], key="customer-7")
    assert status == 200, first
    status, second = deployment.predict([{**ROW, "order_id": None}, ROW], key="customer-8")  # rows without ids
    assert status == 200, second
    deployment.capture.flush()  # the batch lands, then its keys are recorded

    [(_, batch)] = deployment.captured.items()
    _, arrays = read_capture(batch)
    assert arrays["id"].tolist() == ["A-1", "1002", "", ""] and "input:order_id" not in arrays
    assert arrays["request_key"].tolist() == ["customer-7"] * 2 + ["customer-8"] * 2

    status, answer = deployment.feedback(
        [
            {"request_key": "customer-8", "row": 1, "label": "churn"},
            {"id": "A-1", "label": "stay"},
            {"id": 1002, "label": "churn"},
            {"id": "Z-9", "label": "stay"},  # no prediction had this order id
        ]
    )
    assert status == 200, answer
    assert answer["accepted"] == 3 and answer["refused"]["unknown_key"] == 1, answer
    assert answer["examples"][0]["id"] == "Z-9" and "'order_id'" in answer["examples"][0]["message"]
    stored = [read_labels(body) for body in deployment.labels.values()]
    named = sorted(
        (rid, row, label) for s in stored for rid, row, label in zip(s.request_ids, s.rows, s.values, strict=True)
    )
    assert named == sorted(
        [
            (second["request_id"], 1, "churn"),
            (first["request_id"], 0, "stay"),
            (first["request_id"], 1, "churn"),
        ]
    )


def test_an_id_labels_cannot_name_is_refused_by_row_and_field_and_a_model_without_an_id_field_takes_none(
    deployment: Deployment,
) -> None:
    status, body = deployment.predict([ROW, {**ROW, "order_id": {"nested": 1}}])
    assert status == 400 and body["error"]["code"] == "invalid_input"
    [problem] = body["error"]["problems"]
    assert (problem["row"], problem["field"], problem["code"]) == (1, "order_id", "invalid_id")
    status, body = deployment.predict([{**ROW, "order_id": "A-1"}], model="churn")
    assert status == 400 and body["error"]["problems"][0]["code"] == "unknown_field"
    status, body = deployment.feedback([{"id": "A-1", "label": "stay"}], model="churn")
    assert status == 400 and body["error"]["problems"][0]["code"] == "no_id_field"


def test_the_signature_tells_a_client_how_labels_may_name_predictions(deployment: Deployment) -> None:
    event = rest_event("GET", "/v1/models/orders/signature", "/v1/models/{name}/signature", {"name": "orders"})
    status, described = deployment.call(event)
    assert status == 200
    assert described["labels"] == {"by": ["request_id", "request_key", "id"], "id_field": "order_id", "horizon_days": 7}


def test_a_key_labels_cannot_name_is_said_in_the_answer_and_a_unicode_key_travels_in_the_body(
    deployment: Deployment,
) -> None:
    for key in ("k" * 300, "caf\u00c3\u00a9-42"):  # too long; UTF-8 bytes a server decoded as latin-1
        status, answer = deployment.predict([ROW], key=key)
        assert status == 200, answer  # the key still picks the canary side
        [warning] = answer["warnings"]
        assert warning["code"] == "request_key_not_recorded" and warning["field"] == "x-request-key"
    path = "/v1/models/orders/predict"
    body = {"instances": [ROW], "request_key": "café-🚀-42"}  # JSON carries any text
    status, answer = deployment.call(
        rest_event("POST", path, "/v1/models/{name}/predict", {"name": "orders"}, body=body)
    )
    assert status == 200 and "warnings" not in answer, answer
    deployment.capture.flush()
    status, labelled = deployment.feedback([{"request_key": "café-🚀-42", "label": "stay"}])
    assert status == 200 and labelled["accepted"] == 1, labelled


def test_a_model_whose_labels_are_joined_captures_every_request_whatever_the_sample_rate(predict: Any) -> None:
    """A deployed config (or a challenger's own) may say capture 10 %; a label by key must still name the
    newest prediction made with the key, not an older one that happened to be sampled."""
    registered = churn()
    record = {**registered.record, "model": "orders", "monitoring": {"performance": {"id_field": "order_id"}}}
    registry = Registry({"orders": {"champion": {"version": 1}}}, {("orders", 1): record})
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_prediction_keys_table(client, TABLE)
        keys = PredictionKeys(client, TABLE)
        captured: dict[str, bytes] = {}
        capture = CaptureBuffer(write=captured.__setitem__, default_sample_rate=0.0, record_keys=keys.record)
        serving = Serving(
            models=ServedModels(registry=registry, read_artifact=registered.artifacts.__getitem__),
            policies=DeployedPolicies(read=registry.serving_policy),
            capture=capture,
        )
        services = predict.PredictServices(serving, "serving", write_labels={}.__setitem__, prediction_keys=keys)
        with predict.services.replaced(services):
            deployment = Deployment(predict, capture, {}, captured)
            answers = []
            for _ in range(3):  # a millisecond apart: within one, UUIDv7's random bits order the ids, not time
                answers.append(deployment.predict([{**ROW, "order_id": "C-1"}], key="customer-7")[1])
                time.sleep(0.002)
            capture.flush()
            [(_, batch)] = captured.items()
            assert read_capture(batch)[1]["request_id"].tolist() == [a["request_id"] for a in answers]
            newest = keys.resolve("orders", [PredictionKey("key", "customer-7")], datetime.now(UTC))
            assert newest[PredictionKey("key", "customer-7")].request_id == answers[-1]["request_id"]
