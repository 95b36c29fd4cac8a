"""POST /v1/models/{name}/feedback as a client meets it: labels for predictions it got, what is stored
and where, what is refused and why. The registry and buckets are dicts; the models are real
registered versions (tests/unit/serving/support.py) whose config turns performance monitoring on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlops.monitoring.label_store import read_labels
from mlops.serving.capture import CaptureBuffer
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from mlops.serving.request_ids import new_request_id
from tests.unit.handlers.predict_golden import Registry
from tests.unit.handlers.support import QUIET, Context, emitted, function_url_event, loaded, rest_event
from tests.unit.serving.support import churn, diabetes

pytestmark = QUIET
ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}
MONITORED = {"every_hours": 24, "drift": {}, "performance": {"horizon_days": 7}}


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with loaded("handlers.predict") as module:
        yield module


@dataclass
class Deployment:
    module: Any
    labels: dict[str, bytes]

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.module.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    def predict(self, model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        event = rest_event(
            "POST",
            f"/v1/models/{model}/predict",
            "/v1/models/{name}/predict",
            {"name": model},
            body={"instances": rows},
        )
        status, body = self.call(event)
        assert status == 200, body
        return body


def _feedback(model: str, body: Any, **kwargs: Any) -> dict[str, Any]:
    event = rest_event(
        "POST", f"/v1/models/{model}/feedback", "/v1/models/{name}/feedback", {"name": model}, body=body, **kwargs
    )
    event["requestContext"]["identity"]["apiKeyId"] = "key-7"
    event["requestContext"]["requestId"] = "6f1c0a2e-feed-4bac-9d1e-0123456789ab"
    return event


@pytest.fixture
def deployment(predict: Any) -> Iterator[Deployment]:
    """churn (classes) and diabetes (numbers) monitored for performance; breast-cancer-like `plain`
    without it."""
    records: dict[tuple[str, int], dict[str, Any]] = {}
    artifacts: dict[str, bytes] = {}
    for name, registered, monitoring in (
        ("churn", churn(), MONITORED),
        ("diabetes", diabetes(), MONITORED),
        ("plain", churn(), {"every_hours": 24, "drift": {}, "performance": None}),
    ):
        records[(name, 1)] = {**registered.record, "model": name, "monitoring": monitoring}
        artifacts.update(registered.artifacts)
    registry = Registry({name: {"champion": {"version": 1}} for name, _ in records}, records)
    serving = Serving(
        models=ServedModels(registry=registry, read_artifact=artifacts.__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=lambda key, body: None, default_sample_rate=1.0),
    )
    labels: dict[str, bytes] = {}
    with predict.services.replaced(predict.PredictServices(serving, "serving", write_labels=labels.__setitem__)):
        yield Deployment(predict, labels)


def test_labels_for_answered_predictions_are_stored_by_their_hour_and_counted(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    answered = deployment.predict("churn", [ROW, {**ROW, "age": 30.0}])
    request_id = answered["request_id"]
    stale = new_request_id(int((datetime.now(UTC) - timedelta(days=8)).timestamp() * 1000))
    labels = [
        {"request_id": request_id, "row": 0, "label": "churn"},
        {"request_id": request_id.upper(), "row": 1, "label": "stay"},
        {"request_id": request_id, "row": 1, "label": "churn"},  # a correction: both kept
        {"request_id": "not-one-of-ours", "label": "stay"},
        {"request_id": stale, "label": "stay"},
    ]
    status, body = deployment.call(_feedback("churn", {"labels": labels}))
    assert status == 200, body
    assert body["accepted"] == 3 and body["duplicates"] == 1
    assert body["refused"] == {"unknown_id": 1, "unknown_key": 0, "too_late": 1, "from_the_future": 0}
    assert [(e["index"], e["reason"]) for e in body["examples"]] == [(3, "unknown_id"), (4, "too_late")]
    [key] = body["stored"]
    hour = datetime.now(UTC)
    assert key.startswith(f"labels/churn/date={hour:%Y-%m-%d}/hour=") and key.endswith(
        "-6f1c0a2e-feed-4bac-9d1e-0123456789ab.npz"
    )
    stored = read_labels(deployment.labels[key])
    assert stored.request_ids.tolist() == [request_id] * 3 and stored.values.tolist() == ["churn", "stay", "churn"]
    assert stored.source == "api key key-7"
    metrics = emitted(capsys.readouterr().out)
    [accepted] = metrics["LabelsAccepted"]
    assert accepted["LabelsAccepted"] == [3.0] and accepted["model"] == "churn"


def test_labels_through_the_function_url_name_the_iam_caller_as_their_source(deployment: Deployment) -> None:
    answered = deployment.predict("churn", [ROW])
    caller = "arn:aws:sts::123456789012:assumed-role/clinic-client/session"
    event = function_url_event(
        "POST",
        "/v1/models/churn/feedback",
        body={"labels": [{"request_id": answered["request_id"], "row": 0, "label": "churn"}]},
        user_arn=caller,
    )
    status, body = deployment.call(event)
    assert status == 200 and body["accepted"] == 1, body
    [key] = body["stored"]
    assert read_labels(deployment.labels[key]).source == f"iam {caller}"


def test_regression_labels_are_numbers(deployment: Deployment) -> None:
    answered = deployment.predict("diabetes", [dict.fromkeys(_diabetes_fields(deployment), 0.01)])
    status, body = deployment.call(
        _feedback("diabetes", {"labels": [{"request_id": answered["request_id"], "label": 151}]})
    )
    assert status == 200 and body["accepted"] == 1, body
    assert read_labels(deployment.labels[body["stored"][0]]).values.tolist() == [151.0]
    status, body = deployment.call(
        _feedback("diabetes", {"labels": [{"request_id": answered["request_id"], "label": "151"}]})
    )
    assert status == 400 and body["error"]["problems"][0]["field"] == "label"


def _diabetes_fields(deployment: Deployment) -> list[str]:
    status, body = deployment.call(
        rest_event("GET", "/v1/models/diabetes/signature", "/v1/models/{name}/signature", {"name": "diabetes"})
    )
    assert status == 200
    return [f["name"] for f in body["inputs"]]


def test_a_wrong_class_refuses_the_request_naming_index_and_field_and_stores_nothing(deployment: Deployment) -> None:
    request_id = deployment.predict("churn", [ROW])["request_id"]
    labels = [{"request_id": request_id, "label": "churn"}, {"request_id": request_id, "label": "gone"}]
    status, body = deployment.call(_feedback("churn", {"labels": labels}))
    assert status == 400 and body["error"]["code"] == "invalid_labels"
    assert "nothing was stored" in body["error"]["message"]
    [problem] = body["error"]["problems"]
    assert (problem["index"], problem["field"], problem["code"]) == (1, "label", "unknown_class")
    assert problem["message"] == "labels[1].label: 'gone' is not a class of churn; its classes are 'churn', 'stay'"
    assert body["request_id"] and deployment.labels == {}


def test_more_than_ten_thousand_labels_is_a_413_and_nothing_is_stored(deployment: Deployment) -> None:
    request_id = deployment.predict("churn", [ROW])["request_id"]
    labels = [{"request_id": request_id, "label": "stay"}] * 10_001
    status, body = deployment.call(_feedback("churn", {"labels": labels}))
    assert status == 413 and body["error"]["code"] == "too_many_labels"
    assert "the limit is 10,000" in body["error"]["message"] and deployment.labels == {}


def test_a_model_without_performance_monitoring_is_a_409_saying_how_to_turn_it_on(deployment: Deployment) -> None:
    request_id = deployment.predict("plain", [ROW])["request_id"]
    status, body = deployment.call(_feedback("plain", {"labels": [{"request_id": request_id, "label": "stay"}]}))
    assert status == 409 and body["error"]["code"] == "not_monitored"
    assert (
        "monitoring: {performance: {}}" in body["error"]["message"] and "configs/plain.yaml" in body["error"]["message"]
    )
    assert deployment.labels == {}


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (_feedback("nobody", {"labels": [{"request_id": "x", "label": "stay"}]}), 404, "not_found"),
        (_feedback("churn", {"labels": []}), 400, "invalid_body"),
        (_feedback("churn", "labels=1", headers={"Content-Type": "text/csv"}), 415, "unsupported_media_type"),
        (_feedback("Churn!", {"labels": []}), 400, "invalid_name"),
    ],
    ids=["unknown-model", "empty", "not-json", "bad-name"],
)
def test_requests_the_route_cannot_take_get_the_error_shape(
    deployment: Deployment, event: dict[str, Any], status: int, code: str
) -> None:
    answered, body = deployment.call(event)
    assert (answered, body["error"]["code"]) == (status, code), body
    assert deployment.labels == {}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_NOW_ID = new_request_id()  # answered "now" (the label is about a prediction this test process made)


@st.composite
def _labels(draw: st.DrawFn) -> Any:
    """Label items near the real shape (so some requests are taken): each field usually right, else
    dropped or any JSON value; sometimes a stray key, sometimes no object at all."""
    item: dict[str, Any] = {}
    for name, near in (
        ("request_id", st.sampled_from([_NOW_ID, _NOW_ID.upper(), "0b9b0e5e-3f4a-4b7c-9d2e-1a2b3c4d5e6f", ""])),
        ("row", st.integers(min_value=0, max_value=999)),
        ("label", st.sampled_from(["churn", "stay"])),
    ):
        choice = draw(st.sampled_from(["near"] * 8 + ["any", "absent"]))
        if choice != "absent":
            item[name] = draw(near if choice == "near" else _JSON | st.integers(-(2**70), 2**70) | st.floats())
    if not draw(st.integers(0, 9)):
        item[draw(st.text(min_size=1, max_size=8))] = draw(_JSON)
    return item if draw(st.integers(0, 19)) else draw(_JSON)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.builds(lambda labels: {"labels": labels}, st.lists(_labels(), max_size=5)), _JSON))
def test_any_body_gets_a_200_or_a_clean_4xx_and_a_refused_one_stores_nothing(deployment: Deployment, body: Any) -> None:
    before = dict(deployment.labels)
    sent = _feedback("churn", json.dumps(body), headers={"Content-Type": "application/json"})
    status, answer = deployment.call(sent)
    event(f"status {status}")  # --hypothesis-show-statistics: both outcomes are drawn
    assert status in (200, 400), answer
    if status == 200:
        assert answer["accepted"] + sum(answer["refused"].values()) == len(body["labels"])
        assert set(deployment.labels) - set(before) == set(answer["stored"])
    else:
        assert answer["error"]["code"] in ("invalid_body", "invalid_labels") and answer["error"]["message"]
        assert all(p["message"].startswith("labels[") for p in answer["error"].get("problems", []))
        assert deployment.labels == before
