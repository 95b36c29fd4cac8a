"""The predict function behind a Lambda function URL: the same routes, answers, refusals and metrics
as behind the REST API, in the function URL's response shape, and labels credited to the IAM caller.

The request is Lambda's payload format 2.0 (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html,
"Request payload"): `rawPath`, `requestContext.http.method`, header names in lower case,
`isBase64Encoded`, and with AWS_IAM auth the caller under `requestContext.authorizer.iam`. The
answer is the response format's `statusCode`, `headers` and `body` ("Response payload")."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mlops.monitoring.label_store import read_labels
from mlops.serving.capture import CaptureBuffer
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from tests.unit.handlers.predict_golden import GOLDEN, Registry, answer, cases, deployed
from tests.unit.handlers.support import ACCOUNT, QUIET, Context, rest_event
from tests.unit.serving.support import churn

pytestmark = QUIET
RECORDED: dict[str, Any] = json.loads(GOLDEN.read_text())
REST_EVENTS = cases()
CALLER = f"arn:aws:iam::{ACCOUNT}:role/scoring-client"
ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}


def function_url_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    base64: bool = False,
    iam: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A function URL request with AWS_IAM auth, as Lambda delivers it (payload format 2.0)."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"host": "abc123.lambda-url.us-east-1.on.aws", "x-amzn-trace-id": "Root=1-0-0", **lowered},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "authorizer": {
                "iam": dict(iam)
                if iam is not None
                else {"accessKey": "AKIA0", "accountId": ACCOUNT, "callerId": "AROA0:client", "userArn": CALLER}
            },
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "6f1c0a2e-feed-4bac-9d1e-0123456789ab",
            "routeKey": "$default",
            "stage": "$default",
            "time": "05/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1796504400000,
        },
        "isBase64Encoded": base64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if body is not None:
        event["body"] = body
    return event


def from_rest(event: Mapping[str, Any]) -> dict[str, Any]:
    """The same request sent to the function URL instead of the REST API."""
    converted = function_url_event(
        event["httpMethod"],
        event["path"],
        body=event.get("body"),
        headers=event.get("headers") or {},
        query=event.get("queryStringParameters") or {},
        base64=bool(event.get("isBase64Encoded")),
    )
    converted["requestContext"]["requestId"] = event["requestContext"]["requestId"]
    return converted


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with deployed("handlers.predict") as module:
        yield module


@pytest.mark.parametrize("case", sorted(REST_EVENTS))
def test_a_function_url_request_gets_the_rest_apis_answer(predict: Any, case: str) -> None:
    answered = answer(predict, from_rest(REST_EVENTS[case]))
    recorded = RECORDED[case]
    assert (answered["status"], answered["body"]) == (recorded["status"], recorded["body"])
    assert answered["metrics"] == recorded["metrics"]
    assert answered["headers"] == {"Content-Type": ["application/json"]}


def test_the_answer_is_in_the_function_url_response_shape(predict: Any) -> None:
    event = function_url_event(
        "POST",
        "/v1/models/churn/predict",
        body=json.dumps({"instances": [ROW]}),
        headers={"Content-Type": "application/json"},
    )
    response = predict.handler(event, Context())
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert response["headers"] == {"Content-Type": "application/json"} and response["isBase64Encoded"] is False
    assert json.loads(response["body"])["predictions"] == ["churn"]


def test_the_request_key_is_read_from_the_lower_case_header_and_the_query(predict: Any) -> None:
    event = function_url_event("GET", "/v1/models/churn-warn/signature", query={"request_key": "customer-7"})
    body = json.loads(predict.handler(event, Context())["body"])
    assert body["request_key"]["key"] == "customer-7"
    event = function_url_event("GET", "/v1/models/churn-warn/signature", headers={"X-Request-Key": "customer-8"})
    body = json.loads(predict.handler(event, Context())["body"])
    assert body["request_key"]["key"] == "customer-8"


# ------------------------------------------------------------------------------------- feedback

MONITORED = {"every_hours": 24, "drift": {}, "performance": {"horizon_days": 7}}


@pytest.fixture
def monitored(predict: Any) -> Iterator[tuple[Any, dict[str, bytes]]]:
    registered = churn()
    registry = Registry(
        aliases_of={"churn": {"champion": {"version": 1}}},
        records={("churn", 1): {**registered.record, "model": "churn", "monitoring": MONITORED}},
    )
    serving = Serving(
        models=ServedModels(registry=registry, read_artifact=dict(registered.artifacts).__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=lambda key, body: None, default_sample_rate=1.0),
    )
    labels: dict[str, bytes] = {}
    with predict.services.replaced(predict.PredictServices(serving, "serving", write_labels=labels.__setitem__)):
        yield predict, labels


def _label_source(module: Any, labels: dict[str, bytes], event: dict[str, Any]) -> str:
    predicted = function_url_event(
        "POST",
        "/v1/models/churn/predict",
        body=json.dumps({"instances": [ROW]}),
        headers={"content-type": "application/json"},
    )
    request_id = json.loads(module.handler(predicted, Context())["body"])["request_id"]
    event["body"] = json.dumps({"labels": [{"request_id": request_id, "label": "churn"}]})
    response = module.handler(event, Context())
    assert response["statusCode"] == 200, response["body"]
    [stored] = json.loads(response["body"])["stored"]
    return str(read_labels(labels[stored]).source)


def test_labels_through_a_function_url_are_credited_to_the_iam_caller(
    monitored: tuple[Any, dict[str, bytes]],
) -> None:
    module, labels = monitored
    event = function_url_event("POST", "/v1/models/churn/feedback", headers={"content-type": "application/json"})
    assert _label_source(module, labels, event) == f"iam {CALLER}"


def test_without_a_user_arn_the_caller_id_names_the_source(monitored: tuple[Any, dict[str, bytes]]) -> None:
    module, labels = monitored
    event = function_url_event(
        "POST",
        "/v1/models/churn/feedback",
        headers={"content-type": "application/json"},
        iam={"accountId": ACCOUNT, "callerId": "AROA0:client"},
    )
    assert _label_source(module, labels, event) == "iam AROA0:client"


def test_labels_through_the_rest_api_are_credited_to_the_api_key(monitored: tuple[Any, dict[str, bytes]]) -> None:
    module, labels = monitored
    event = rest_event("POST", "/v1/models/churn/feedback", "/v1/models/{name}/feedback", {"name": "churn"}, body={})
    event["requestContext"]["identity"]["apiKeyId"] = "key-7"
    assert _label_source(module, labels, event) == "api key key-7"
