"""Hostile input, property-based (issue #9, item 3): random and adversarial bodies for the predict and
registry APIs, random files for ingestion, random contracts and training configs.

Whatever arrives, the caller gets a clear 4xx or a report, never a 5xx and never a stack trace, and
a rejected request leaves the stored registry exactly as it was. The handlers run in-process against
moto with the environment their functions get, imported once per module (they read it, and make their
clients, on the first invocation).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from localcloud.apigateway import GatewayRequest, build_proxy_event
from localcloud.dynamodb import atomicity as dynamodb_atomicity
from mlops.contracts import (
    ContractError,
    DataContract,
    FileProblem,
    ValidationReport,
    check_file,
    load_contract,
    parse_contract,
    read_table,
    validate,
)
from mlops.registry.keys import table_definition
from mlops.registry.models import ModelRegistry
from mlops.training.config import ConfigError, TrainingConfig, load_training_config
from tests.unit.serving.support import churn

REGION = "us-east-1"
BUCKET = "artifacts"
TABLE = "registry"
AT = "2026-11-23T12:00:00+00:00"
PREDICT_MODEL = "churn"
REGISTRY_MODEL = "reg-model"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HANDLER_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "REGISTRY_TABLE": TABLE,
    "ARTIFACTS_BUCKET": BUCKET,
    "CAPTURE_SAMPLE_RATE": "0",
    "POWERTOOLS_SERVICE_NAME": "serving",
    "POWERTOOLS_METRICS_NAMESPACE": "Test",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
}
PREDICT_STATUSES = {200, 400, 404, 413, 415}
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


# ------------------------------------------------------------------------------------- the handlers


class _Context:
    function_name = "hostile-input"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:hostile-input"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Cloud:
    predict: Any
    registry_api: Any
    table: Any

    def call(self, module: Any, event: dict[str, Any]) -> dict[str, Any]:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # EMF metric lines
            response: dict[str, Any] = module.handler(event, _Context())
        return response

    def registry_state(self) -> list[dict[str, Any]]:
        """Every item of the table, in key order: versions, aliases, audit, runs."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda i: (i["pk"], i["sk"]))


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _register(registry: ModelRegistry, name: str, record: dict[str, Any], run_id: str) -> int:
    registry.start_run(run_id, {"dataset": "churn", "started_at": AT})
    item = json.loads(json.dumps({**record, "model": name}), parse_float=Decimal)  # DynamoDB takes no floats
    return registry.register_version(name, item, run_id=run_id, at=AT)


@contextlib.contextmanager
def handlers_on(table: Any) -> Iterator[Cloud]:
    """The predict and registry handlers imported afresh against `table` (their clients are made on
    the first invocation), and forgotten afterwards so the next fixture imports them against its own."""
    modules = []
    for name in ("handlers.predict", "handlers.registry_api"):
        sys.modules.pop(name, None)
        modules.append(importlib.import_module(name))
    try:
        yield Cloud(modules[0], modules[1], table)
    finally:
        with contextlib.suppress(Exception):
            modules[0].services().serving.capture.flush()
        for name in ("handlers.predict", "handlers.registry_api"):
            sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    """Bucket and table in moto, churn published as champion of `churn`, two versions of
    `reg-model` (champion moved 1 -> 2, so a rollback has somewhere to go), both handlers imported."""
    dynamodb_atomicity.install()
    registered = churn()
    with _environment(HANDLER_ENV), mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        table = boto3.resource("dynamodb", region_name=REGION).create_table(**table_definition(TABLE))
        for key, body in registered.artifacts.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        registry = ModelRegistry(table)
        version = _register(registry, PREDICT_MODEL, registered.record, "run-churn")
        registry.set_alias(PREDICT_MODEL, "champion", version, reason="hostile input", actor="test", at=AT)
        for run in ("run-reg-1", "run-reg-2"):
            version = _register(registry, REGISTRY_MODEL, registered.record, run)
            registry.set_alias(REGISTRY_MODEL, "champion", version, reason="hostile input", actor="test", at=AT)
        with handlers_on(table) as cloud:
            yield cloud


def proxy_event(
    method: str,
    path: str,
    resource: str,
    path_parameters: dict[str, str],
    body: bytes | None,
    content_type: str | None,
    query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The REST API proxy event the local gateway builds (`build_proxy_event`)."""
    headers = [("Host", "api.example.com"), ("User-Agent", "hypothesis"), ("x-api-key", "k")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    request = GatewayRequest(
        method=method, raw_path=f"/prod{path}", headers=headers, body=body or b"", source_ip="203.0.113.7"
    )
    now = time.time()
    return build_proxy_event(
        request=request,
        path=path,
        resource_path=resource,
        resource_id="abc123",
        path_parameters=path_parameters,
        query=query or {},
        stage="prod",
        stage_variables={},
        api_id="a1b2c3d4e5",
        account_id="123456789012",
        request_id="req-1",
        request_time_epoch_ms=int(now * 1000),
        request_time=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        identity={"sourceIp": "203.0.113.7", "userArn": "arn:aws:iam::123456789012:user/tester"},
        domain_name="api.example.com",
        binary_media_types=[],
    )


def _assert_clean_error(response: dict[str, Any]) -> dict[str, Any]:
    """A non-2xx answer: JSON `{"error": {"code", "message"}}` and no trace of the code inside."""
    body = response.get("body") or ""
    assert "Traceback" not in body and 'File "' not in body, body[:500]
    document = json.loads(body)
    assert isinstance(document, dict), body[:500]
    error = document.get("error")
    assert isinstance(error, dict), body[:500]
    assert isinstance(error.get("code"), str) and error["code"], body[:500]
    assert isinstance(error.get("message"), str) and error["message"], body[:500]
    return document


# ----------------------------------------------------------------------------------- random values

HUGE_INT = 10**400  # parses as JSON, overflows a float

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**600), max_value=10**600),
    st.floats(allow_nan=True, allow_infinity=True),  # json.dumps writes NaN / Infinity literals
    st.text(max_size=20),
    st.sampled_from(["", "0", "1.5", "NaN", "Infinity", "-1e309", "true", "null", "Oslo", "=cmd|' /C calc'!A0"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


# ------------------------------------------------------------------------------------ 1. predict API


def _fields() -> list[str]:
    return list(churn().prepared.meta.feature_spec.columns)


def _valid_rows(count: int) -> list[dict[str, Any]]:
    registered = churn()
    records = registered.records(registered.prepared.splits.rows_test[:count])
    return [{k: v for k, v in r.items() if k in _fields()} for r in records]


@st.composite
def churn_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row near the model's signature: each field kept, dropped or given a random value, plus
    sometimes a field the model does not have."""
    row = dict(draw(st.sampled_from(_valid_rows(20))))
    for name in _fields():
        action = draw(st.sampled_from(["keep", "keep", "drop", "random", "string"]))
        if action == "drop":
            row.pop(name)
        elif action == "random":
            row[name] = draw(json_values)
        elif action == "string":
            row[name] = str(row[name])
    if draw(st.booleans()):
        row[draw(st.text(max_size=10))] = draw(scalars)
    return row


@st.composite
def predict_bodies(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A body and, when it is a well-formed request, how many rows it has."""
    form = draw(st.sampled_from(["instances", "columns", "valid", "json", "text", "bytes", "mixed"]))
    if form == "valid":
        rows = _valid_rows(draw(st.integers(1, 20)))
        return json.dumps({"instances": rows}).encode(), len(rows)
    if form == "instances":
        rows = draw(st.lists(st.one_of(churn_rows(), json_values), max_size=6))
        body: Any = {"instances": rows}
        if draw(st.booleans()):
            body["request_key"] = draw(json_values)
        return json.dumps(body).encode(), len(rows)
    if form == "columns":
        columns = draw(st.one_of(st.just(_fields()), st.lists(st.sampled_from([*_fields(), "x"]), max_size=8)))
        data = draw(st.lists(st.lists(scalars, min_size=len(columns), max_size=len(columns)) | json_values, max_size=5))
        body = {"columns": columns, "data": data}
        if draw(st.booleans()):
            body[draw(st.sampled_from(["instances", "extra", "request_key"]))] = draw(json_values)
        return json.dumps(body).encode(), len(data)
    if form == "json":
        return json.dumps(draw(json_values)).encode(), None
    if form == "mixed":  # a JSON body with its own keys at random
        return json.dumps(
            draw(st.dictionaries(st.sampled_from(["instances", "columns", "data", "request_key", "x"]), json_values))
        ).encode(), None
    if form == "text":
        return draw(st.text(max_size=200)).encode("utf-8", errors="surrogatepass"), None
    return draw(st.binary(max_size=200)), None


CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/plain",
            "",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]
    ),
    st.none(),
    st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t),
)

ADVERSARIAL_PREDICT_BODIES = [
    b"[" * 20_000 + b"]" * 20_000,  # nesting deeper than the JSON parser's recursion
    b'{"instances": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b'{"instances": [{"age": ' + b"9" * 5_000 + b"}]}",  # an integer past Python's digit limit
    b'{"instances": [{"age": ' + str(HUGE_INT).encode() + b', "income": 1, "member": true, "city": "Oslo"}]}',
    b'{"columns": ["age", "income", "member", "city"], "data": [[1e999, NaN, Infinity, -Infinity]]}',
    b'{"instances": [{"age": NaN, "income": Infinity, "member": NaN, "city": NaN}]}',
    json.dumps({"instances": [{"age": 1, "income": 1, "member": True, "city": "x" * 1_000_000}]}).encode(),
    json.dumps({"instances": [_valid_rows(1)[0]] * 1001}).encode(),
    json.dumps({"instances": []}).encode(),
    '{"instances": [{"city": "\u00e9\ud800"}]}'.encode("utf-8", errors="surrogatepass"),
    '{"instances": [{"city": "café"}]}'.encode("latin-1"),
    '{"instances": []}'.encode("utf-16"),
    b'\xef\xbb\xbf{"instances": []}',
    b"",
    b"null",
]


def _predict_case(cloud: Cloud, name: str, body: bytes, content_type: str | None, rows: int | None) -> int:
    path = f"/v1/models/{name}/predict"
    event = proxy_event("POST", path, "/v1/models/{name}/predict", {"name": name}, body, content_type)
    response = cloud.call(cloud.predict, event)
    status = response["statusCode"]
    assert status in PREDICT_STATUSES, (status, response.get("body", "")[:500])
    if status == 200:
        answer = json.loads(response["body"])
        if rows is not None:
            assert len(answer["predictions"]) == rows
        else:
            assert isinstance(answer["predictions"], list) and answer["predictions"]
    else:
        _assert_clean_error(response)
    return int(status)


@FAST
@given(body=predict_bodies(), content_type=CONTENT_TYPES)
def test_predict_answers_any_body_with_200_or_a_clean_4xx(
    cloud: Cloud, body: tuple[bytes, int | None], content_type: str | None
) -> None:
    raw, rows = body
    _predict_case(cloud, PREDICT_MODEL, raw, content_type, rows)


@pytest.mark.parametrize("body", ADVERSARIAL_PREDICT_BODIES, ids=range(len(ADVERSARIAL_PREDICT_BODIES)))
def test_predict_adversarial_bodies(cloud: Cloud, body: bytes) -> None:
    _predict_case(cloud, PREDICT_MODEL, body, "application/json", None)


def test_predict_valid_rows_answer_one_prediction_each(cloud: Cloud) -> None:
    rows = _valid_rows(7)
    assert _predict_case(cloud, PREDICT_MODEL, json.dumps({"instances": rows}).encode(), "application/json", 7) == 200


def _huge_bodies() -> dict[str, dict[str, Any]]:
    row = _valid_rows(1)[0]
    name = "x" * 3_200_000
    return {
        "field name": {"instances": [{**row, name: 1}]},
        "column names": {"columns": [name, name], "data": [[1, 1]]},
        "category value": {"instances": [{**row, "city": "é" * 1_000_000}]},
        "top-level keys": {"instances": [row], **{f"k{i}" + "y" * 200: 1 for i in range(20_000)}},
    }


@pytest.mark.parametrize("case", sorted(_huge_bodies()))
def test_what_a_refusal_quotes_of_the_request_is_bounded(cloud: Cloud, case: str) -> None:
    """A 3.2 MB field name was quoted twice (message and field), and the answer passed Lambda's 6 MB
    response limit: the client got a 502, and the 5xx alarm counted it. Quoted names and values are
    now cut, saying how long they were."""
    body = json.dumps(_huge_bodies()[case]).encode()
    path = "/v1/models/churn/predict"
    event = proxy_event("POST", path, "/v1/models/{name}/predict", {"name": "churn"}, body, "application/json")
    response = cloud.call(cloud.predict, event)
    assert response["statusCode"] == 400, response["body"][:300]
    assert len(response["body"]) < 20_000, len(response["body"])
    message = json.dumps(json.loads(response["body"]))
    assert "characters)" in message or "more]" in message, message[:500]


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/v1/models/" + "A" * 100_000 + "/predict", "/v1/models/{name}/predict"),  # not a model name
        ("/v1/" + "x" * 100_000, "/{proxy+}"),  # no route
    ],
    ids=["model name", "no route"],
)
def test_what_an_answer_quotes_of_the_path_is_bounded(cloud: Cloud, path: str, resource: str) -> None:
    """The path is the client's text too: quoted whole, a 100,000-character one came back whole."""
    name = path.split("/")[3] if resource.endswith("predict") else ""
    event = proxy_event("POST", path, resource, {"name": name} if name else {}, b"{}", "application/json")
    response = cloud.call(cloud.predict, event)
    assert response["statusCode"] in (400, 404), response["body"][:300]
    assert len(response["body"]) < 1_000, len(response["body"])
    assert "(100,0" in _assert_clean_error(response)["error"]["message"]


def test_probabilities_are_short_decimals_not_float32_noise(cloud: Cloud) -> None:
    """6.1e-05, not 6.0999998822808266e-05: each probability is its float32 value rounded to 7 places."""
    body = json.dumps({"instances": _valid_rows(50)}).encode()
    event = proxy_event("POST", f"/v1/models/{PREDICT_MODEL}/predict", "/v1/models/{name}/predict", {}, body, None)
    event["pathParameters"] = {"name": PREDICT_MODEL}
    event["headers"]["Content-Type"] = "application/json"
    answer = json.loads(cloud.call(cloud.predict, event)["body"])
    probabilities = [p for row in answer["probabilities"] for p in row]
    assert all(p == round(p, 7) for p in probabilities)
    assert max(len(repr(p)) for p in probabilities) <= len("0.1234567")
    assert all(abs(sum(row) - 1) < 1e-6 for row in answer["probabilities"])


@FAST
@given(
    text=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode())),
    claim_base64=st.booleans(),
)
@example(text="not base64 at all!", claim_base64=True)
@example(text="e30=", claim_base64=True)  # "{}"
@example(text=base64.b64encode(b"\xff\xfe{}").decode(), claim_base64=True)
def test_predict_base64_flag_is_never_trusted_blindly(cloud: Cloud, text: str, claim_base64: bool) -> None:
    path = f"/v1/models/{PREDICT_MODEL}/predict"
    event = proxy_event("POST", path, "/v1/models/{name}/predict", {"name": PREDICT_MODEL}, b"{}", "application/json")
    event["body"], event["isBase64Encoded"] = text, claim_base64
    response = cloud.call(cloud.predict, event)
    assert response["statusCode"] in PREDICT_STATUSES - {200}, response
    _assert_clean_error(response)


@FAST
@given(
    name=st.one_of(
        st.text(max_size=80),
        st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True),
        st.sampled_from(["CHURN", "churn ", "../churn", "churn%2F..", "a" * 64, "-x", "", "churn/predict"]),
    ),
    method=st.sampled_from(["POST", "GET"]),
)
def test_predict_any_model_name_is_a_400_or_404(cloud: Cloud, name: str, method: str) -> None:
    suffix = "predict" if method == "POST" else "signature"
    path = f"/v1/models/{name}/{suffix}"
    body = json.dumps({"instances": _valid_rows(1)}).encode() if method == "POST" else None
    event = proxy_event(method, path, f"/v1/models/{{name}}/{suffix}", {"name": name}, body, "application/json")
    response = cloud.call(cloud.predict, event)
    if name == PREDICT_MODEL:
        assert response["statusCode"] == 200
        return
    assert response["statusCode"] in (400, 404), response
    _assert_clean_error(response)


# ----------------------------------------------------------------------------------- 2. registry API

registry_names = st.one_of(
    st.sampled_from([REGISTRY_MODEL, REGISTRY_MODEL, "unknown-model", "UPPER", "a" * 70, ""]),
    st.text(max_size=20),
)
registry_versions = st.one_of(
    st.sampled_from(["1", "2", "3", "0", "-1", "1.5", "1e3", "999999999999", str(10**40), "x", "", " 1"]),
    st.text(max_size=12),
)
registry_aliases = st.one_of(
    st.sampled_from(["champion", "challenger", "Champion", "9lives", "x" * 40]), st.text(max_size=12)
)
reasons = st.one_of(st.sampled_from(["ok", "because", "x" * 501, ""]), st.text(max_size=30), st.integers(), st.none())
version_values = st.one_of(st.sampled_from([1, 2, 3, 0, -1, 1.5, "2", True, None, 10**40, HUGE_INT]), scalars)
rollouts = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "mode": st.sampled_from(["canary", "shadow", "blue", 1]),
            "weight": st.one_of(st.floats(), st.integers(), st.text(max_size=4)),
        }
    ),
    json_values,
)
tags = st.one_of(
    st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=5),
    st.dictionaries(st.text(max_size=5), scalars, max_size=5),
    st.just({"k": "v" * 500_000}),  # bigger than a DynamoDB item
    st.just({f"k{i}": str(i) for i in range(60)}),
    json_values,
)


@st.composite
def registry_requests(draw: st.DrawFn) -> tuple[str, str, str, dict[str, str], Any, dict[str, list[str]]]:
    """(method, path, resource, path parameters, body, query) for one of the registry's routes."""
    name = draw(registry_names)
    route = draw(st.sampled_from(["alias", "rollback", "approve", "archive", "tags", "delete_alias", "get"]))
    version = draw(registry_versions)
    query: dict[str, list[str]] = {}
    body: Any = None
    if route == "alias":
        alias = draw(registry_aliases)
        body = {"version": draw(version_values), "reason": draw(reasons)}
        if draw(st.booleans()):
            body["rollout"] = draw(rollouts)
        method, path, resource = "PUT", f"/v1/models/{name}/aliases/{alias}", "/v1/models/{name}/aliases/{alias}"
        params = {"name": name, "alias": alias}
    elif route == "delete_alias":
        alias = draw(registry_aliases)
        query = {"reason": [draw(st.text(max_size=10))]} if draw(st.booleans()) else {}
        method, path, resource = "DELETE", f"/v1/models/{name}/aliases/{alias}", "/v1/models/{name}/aliases/{alias}"
        params = {"name": name, "alias": alias}
    elif route == "rollback":
        body = {"reason": draw(reasons), "alias": draw(registry_aliases)}
        method, path, resource = "POST", f"/v1/models/{name}/rollback", "/v1/models/{name}/rollback"
        params = {"name": name}
    elif route in ("approve", "archive"):
        body = {"reason": draw(reasons)}
        method, path = "POST", f"/v1/models/{name}/versions/{version}/{route}"
        resource = f"/v1/models/{{name}}/versions/{{version}}/{route}"
        params = {"name": name, "version": version}
    elif route == "tags":
        body = {"tags": draw(tags)}
        method, path = "PUT", f"/v1/models/{name}/versions/{version}/tags"
        resource = "/v1/models/{name}/versions/{version}/tags"
        params = {"name": name, "version": version}
    else:
        suffix = draw(st.sampled_from(["", "/versions", "/audit", "/drift", "/performance", f"/versions/{version}"]))
        token = draw(
            st.one_of(
                st.text(max_size=20),
                json_values.map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode()),
            )
        )
        query = {
            k: [v]
            for k, v in (
                ("limit", draw(st.sampled_from(["1", "0", "101", "-5", "x", "1e2", str(10**30)]))),
                ("next_token", token),
                ("status", draw(st.text(max_size=10))),
                ("tag", draw(st.text(max_size=10))),
            )
            if draw(st.booleans())
        }
        path = f"/v1/models/{name}{suffix}" if name or suffix else "/v1/models"
        method, resource, params = "GET", path, {"name": name}
    if body is not None and draw(st.integers(0, 5)) == 0:  # sometimes a body of the wrong shape entirely
        body = draw(json_values)
    return method, path, resource, params, body, query


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=registry_requests(), raw=st.sampled_from(["json", "json", "json", "bytes", "nan"]), data=st.data())
@example(
    request=("GET", "/v1/models", "/v1/models", {}, None, {"next_token": [base64.urlsafe_b64encode(b"1").decode()]}),
    raw="json",
    data=None,
)
@example(
    request=(
        "GET",
        "/v1/models",
        "/v1/models",
        {},
        None,
        {"next_token": [base64.urlsafe_b64encode(b'{"pk": 1}').decode()]},
    ),
    raw="json",
    data=None,
)
def test_registry_api_rejects_cleanly_and_keeps_the_registry(
    cloud: Cloud,
    request: tuple[str, str, str, dict[str, str], Any, dict[str, list[str]]],
    raw: str,
    data: Any,
) -> None:
    method, path, resource, params, body, query = request
    if body is None:
        payload = None
    elif raw == "bytes" and data is not None:
        payload = data.draw(st.binary(max_size=100))
    elif raw == "nan":
        payload = json.dumps(body).replace("1", "NaN", 1).encode()
    else:
        payload = json.dumps(body).encode()
    event = proxy_event(method, path, resource, params, payload, "application/json", query)
    before = cloud.registry_state()
    response = cloud.call(cloud.registry_api, event)
    status = response["statusCode"]
    assert status < 500, (status, response.get("body", "")[:500])
    if status >= 300:
        _assert_clean_error(response)
        assert cloud.registry_state() == before, f"a rejected {method} {path} changed the registry"


ADVERSARIAL_REGISTRY_BODIES = [
    b"[" * 20_000 + b"]" * 20_000,
    b'{"version": ' + b"9" * 5_000 + b', "reason": "because"}',
    b'{"version": NaN, "reason": "because"}',
    b'{"version": 1e999, "reason": "because"}',
    rb'{"version": 2, "reason": "\ud800\udc00\ud800"}',  # JSON escapes, not Python's
    '{"version": 1, "reason": "caf\u00e9"}'.encode("latin-1"),
    b"\xff\xfe{}",
    b"",
]


@pytest.mark.parametrize("body", ADVERSARIAL_REGISTRY_BODIES, ids=range(len(ADVERSARIAL_REGISTRY_BODIES)))
@pytest.mark.parametrize("claim_base64", [False, True])
def test_registry_api_adversarial_bodies(cloud: Cloud, body: bytes, claim_base64: bool) -> None:
    path = f"/v1/models/{REGISTRY_MODEL}/aliases/challenger"
    params = {"name": REGISTRY_MODEL, "alias": "challenger"}
    event = proxy_event("PUT", path, "/v1/models/{name}/aliases/{alias}", params, body, "application/json")
    if claim_base64:  # flagged base64 while it is not
        event["body"], event["isBase64Encoded"] = body.decode("latin-1"), True
    before = cloud.registry_state()
    response = cloud.call(cloud.registry_api, event)
    assert 400 <= response["statusCode"] < 500, response
    _assert_clean_error(response)
    assert cloud.registry_state() == before


# ------------------------------------------------------------------------------- 3. ingestion core

CONTRACT = parse_contract(
    {
        "dataset": "hostile",
        "version": 1,
        "label": "city",
        "columns": [
            {"name": "id", "type": "int", "unique": True},
            {"name": "amount", "type": "float", "min": 0, "max": 1e6},
            {"name": "city", "type": "category", "allowed_values": ["Lyon", "Oslo"]},
            {"name": "member", "type": "bool", "nullable": True},
            {"name": "note", "type": "string", "nullable": True},
            {"name": "seen", "type": "datetime", "nullable": True},
        ],
    }
)
HEADER = "id,amount,city,member,note,seen"
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)", '=HYPERLINK("http://x")', "\t=1", "\r=1"]
cells = st.one_of(
    st.sampled_from(FORMULAS),
    st.sampled_from(["NaN", "nan", "Inf", "-Infinity", "inf", "1e999", "", "NULL", "true", "0", "-1", "Oslo", "Lyon"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(repr),
    st.text(max_size=15),
)


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["table", "table", "ragged", "bytes", "header_only", "latin1", "utf16", "empty"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   \n\t", b"\xef\xbb\xbf"]))
    if kind == "header_only":
        return (HEADER + draw(st.sampled_from(["", "\n", "\r\n"]))).encode()
    width = draw(st.sampled_from([6, 6, 6, 5, 7]) if kind == "ragged" else st.just(6))
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), min_size=1, max_size=8))
    header = draw(
        st.sampled_from([HEADER, HEADER, "id;amount;city", "id,id,city", "id,amount,city,member,note,seen,extra"])
    )
    text = header + "\n" + "\n".join(",".join(_csv_cell(c) for c in row) for row in rows) + "\n"
    if kind == "latin1":
        return (text + "1,2,Zürich,true,é,\n").encode("latin-1", errors="replace")
    if kind == "utf16":
        return text.encode("utf-16")
    return text.encode("utf-8", errors="surrogatepass")


def _check_summary_lines(report: ValidationReport) -> None:
    """No line of the summary starts with a character a spreadsheet would run as a formula."""
    for line in report.summary().splitlines():
        assert line.lstrip()[:1] not in ("=", "+", "-", "@"), line


def _ingest(data: bytes, filename: str = "upload.csv") -> None:
    """What the ingest function does (process_upload), and what check_file does: a report or a FileProblem."""
    try:
        frame = read_table(data, filename=filename, contract=CONTRACT)
    except FileProblem as problem:
        assert problem.code and problem.message
        assert "\n" not in problem.message, problem.message
    else:
        report = validate(frame, CONTRACT, file_name=filename)
        json.loads(report.to_json())
        _check_summary_lines(report)
    report, _ = check_file(data, filename=filename, contract=CONTRACT)
    json.loads(report.to_json())
    _check_summary_lines(report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=csv_files(),
    filename=st.sampled_from(["upload.csv", "upload.CSV", "upload.parquet", "upload.csv.gz", "upload.txt"]),
)
def test_any_file_gives_a_report_or_a_file_problem(data: bytes, filename: str) -> None:
    _ingest(data, filename)


ADVERSARIAL_FILES = [
    (HEADER + "\n1,2,Oslo,true," + "x" * 1_000_000 + ",\n").encode(),  # a 1 MB cell
    (HEADER + "\n" + "\n".join(f"{i},{f},Oslo,true,{f},2026-01-01" for i, f in enumerate(FORMULAS)) + "\n").encode(),
    (HEADER + "\n1,NaN,Oslo,true,,\n2,Inf,Lyon,false,,\n3,-Infinity,Lyon,,,\n").encode(),
    (HEADER + "\n1,1.5,Oslo,yes,a,2026-01-01\nx,abc,3,maybe,b,yesterday\n").encode(),  # mixed types
    (HEADER + "\n1,2,Oslo\n2,3,Lyon,true,a,b,c\n").encode(),  # ragged
    (HEADER + "\n").encode(),
    (HEADER + "\n=1+1,=A1,=cmd|' /C calc'!A0,@x,+1,-1\n").encode(),
    ("id,amount,city,member,note,seen\n1,2,Zürich,true,é,\n").encode("latin-1"),
    ("id,amount,city,member,note,seen\n1,2,Oslo,true,a,\n").encode("utf-16"),
    b"=cmd|' /C calc'!A0\n1\n",  # a formula as the header
    b"\x00\x01\x02\x03" * 100,
    b"PAR1garbagePAR1",
    b"\x1f\x8b\x08\x00garbage",
    ('"' + "a" * 2_000_000).encode(),  # an unterminated quote
]


@pytest.mark.parametrize("data", ADVERSARIAL_FILES, ids=range(len(ADVERSARIAL_FILES)))
def test_adversarial_files(data: bytes) -> None:
    _ingest(data)


@FAST
@given(
    stem=st.text(max_size=30) | st.sampled_from(["x\n=cmd|' /C calc'!A0\n", "a\r+1+1", "b\u2028@SUM(1)"]),
    data=st.sampled_from([b"", f"{HEADER}\n1,2,Oslo,true,a,\n".encode(), b"id\n1\n"]),
)
def test_file_names_never_start_a_summary_line(stem: str, data: bytes) -> None:
    _ingest(data, f"{stem}.csv")


def test_formula_cells_are_quoted_in_the_summary() -> None:
    rows = "\n".join(f"{i},{_csv_cell(f)},{_csv_cell(f)},true,a,2026-01-01" for i, f in enumerate(FORMULAS))
    report, _ = check_file(f"{HEADER}\n{rows}\n".encode(), filename="f.csv", contract=CONTRACT)
    assert not report.accepted
    summary = report.summary()
    assert "'=cmd|\\' /C calc\\'!A0'" in summary or "\"=cmd|' /C calc'!A0\"" in summary, summary
    _check_summary_lines(report)


# --------------------------------------------------------------------------- 4. contracts and configs

yaml_keys = st.one_of(
    st.sampled_from(
        ["dataset", "version", "columns", "label", "name", "type", "min", "max", "problem_type", "candidates", "metric"]
    ),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars | st.sampled_from(["float", "int", "category", "binary", "random_forest"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(yaml_keys, children, max_size=5),
    max_leaves=30,
)


def _near_contract(draw: st.DrawFn) -> Any:
    columns = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=6) | st.integers(), "type": st.sampled_from(["int", "float", "weird", 3])},
                optional={
                    "min": documents,
                    "max": documents,
                    "allowed_values": documents,
                    "regex": st.sampled_from(["(", "[a-z]+", "a{99999999999}", "x"]),
                    "unique": documents,
                    "nullable": documents,
                    "format": documents,
                },
            ),
            max_size=4,
        )
        | documents
    )
    return {"dataset": draw(documents | st.just("ds")), "version": draw(documents | st.just(1)), "columns": columns}


def _near_config(draw: st.DrawFn) -> Any:
    return {
        "dataset": draw(documents | st.just("ds")),
        "problem_type": draw(st.sampled_from(["binary", "multiclass", "regression", "x", 1])),
        "label": draw(documents | st.just("y")),
        **draw(st.dictionaries(yaml_keys, documents, max_size=3)),
    }


@st.composite
def texts(draw: st.DrawFn, near: Any) -> str:
    kind = draw(st.sampled_from(["yaml", "json", "near_yaml", "near_json", "text"]))  # NASTY_DOCUMENTS: below
    if kind == "text":
        return draw(st.text(max_size=200))
    value = near(draw) if kind.startswith("near") else draw(documents)
    if kind.endswith("json"):
        return json.dumps(value)
    return yaml.safe_dump(value, allow_unicode=draw(st.booleans()))


NASTY_DOCUMENTS = [
    "? [a, b]\n: 1\n",  # a list as a mapping key
    "? {a: 1}\n: 2\n",
    "dataset: a\ndataset: b\n",  # a duplicate key
    '{"dataset": "a", "dataset": "b"}',
    '{"a": ' + "1" * 5000 + "}",  # past Python's integer digit limit
    "a: " + "1" * 5000 + "\n",
    "[" * 1500 + "]" * 1500,  # nesting past the recursion limit
    "a: " + "[" * 1500 + "]" * 1500 + "\n",
    "{" + '"a":{' * 3000 + "}" * 3001,
    # a billion-laughs of moderate size: 10^5 references
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    "dataset: x\nversion: 1e999\ncolumns: []\n",
    "dataset: x\nversion: .nan\ncolumns: [{name: a, type: float, min: .inf}]\n",
    "dataset: x\nversion: 99999999999999999999999999999\ncolumns: [{name: a, type: int, min: 1e308, max: -1e308}]\n",
    "!!python/object/apply:os.system ['echo hacked']",
    "--- a\n--- b\n",
    "\t- x",
    "",
    "~",
    "\ufeffdataset: x",
    '{"dataset": NaN}',
]


def _contract_problems_are_named(error: ContractError) -> None:
    """Each problem is `path: message`, the path a field (`columns.0.min`) or `(contract)` for the document."""
    assert error.problems
    for problem in error.problems:
        path, colon, message = problem.partition(": ")
        assert path.strip() and colon and message.strip(), problem


def _config_problems_are_named(error: ConfigError) -> None:
    """Each problem names its field, or says the document is not a (readable) mapping."""
    assert error.problems
    for path, message in error.problems:
        assert path or "mapping" in message or "YAML/JSON" in message, (path, message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts(_near_contract))
def test_any_contract_document_is_a_contract_or_a_contract_error(text: str) -> None:
    try:
        contract = load_contract(text, source="contracts/x.yaml")
    except ContractError as error:
        _contract_problems_are_named(error)
    else:
        assert isinstance(contract, DataContract)
    try:
        contract = load_contract(text.encode("utf-16"), source="contracts/x.yaml")
    except ContractError as error:
        _contract_problems_are_named(error)


@FAST
@given(data=documents | st.builds(dict))
def test_any_parsed_contract_data_is_a_contract_or_a_contract_error(data: Any) -> None:
    with contextlib.suppress(ContractError):
        parse_contract(data, source="x")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts(_near_config))
def test_any_training_config_is_a_config_or_a_config_error(text: str) -> None:
    try:
        config = load_training_config(text, source="configs/x.yaml")
    except ConfigError as error:
        _config_problems_are_named(error)
    else:
        assert isinstance(config, TrainingConfig)


@pytest.mark.parametrize("text", NASTY_DOCUMENTS, ids=range(len(NASTY_DOCUMENTS)))
def test_nasty_documents(text: str) -> None:
    try:
        load_contract(text, source="x")
    except ContractError as error:
        _contract_problems_are_named(error)
    try:
        load_training_config(text)
    except ConfigError as error:
        _config_problems_are_named(error)


@pytest.mark.parametrize(
    "tags",
    [{"": "x"}, {"ok": "v" * 257}, {"k" * 129: "v"}, {"bad key\n": "v"}, {f"k{i}": "v" for i in range(51)}],
    ids=["empty-key", "long-value", "long-key", "control-in-key", "too-many"],
)
def test_tags_past_aws_tag_limits_are_refused_and_change_nothing(cloud: Cloud, tags: dict[str, str]) -> None:
    """An empty key once answered 200 and broke every later read of the version; a 400 KB value
    answered 502 (DynamoDB's item limit). AWS's own tag limits (128/256 characters) bound both."""
    path = f"/v1/models/{REGISTRY_MODEL}/versions/1/tags"
    params = {"name": REGISTRY_MODEL, "version": "1"}
    body = json.dumps({"tags": tags}).encode()
    event = proxy_event("PUT", path, "/v1/models/{name}/versions/{version}/tags", params, body, "application/json")
    before = cloud.registry_state()
    response = cloud.call(cloud.registry_api, event)
    assert 400 <= response["statusCode"] < 500, response
    _assert_clean_error(response)
    assert "tags" in response["body"]
    assert cloud.registry_state() == before
