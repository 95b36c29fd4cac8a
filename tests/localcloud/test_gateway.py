"""The local API Gateway against a REST API built with real boto3 calls into moto.

Lambda runs through moto's Lambda backend with `LambdaFunction._invoke_lambda` replaced by a fake
that calls a Python function registered here, so these tests do not depend on the local runtime.
Requests are real HTTP over loopback: moto's `responses` mock passes plain `http://127.0.0.1`
URLs through (moto registers `add_passthru("http")` and only intercepts AWS hostnames), so
`requests` works under `mock_aws`; `http.client` is used where a header must repeat.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from localcloud.apigateway import LocalApiGateway, PortInUseError

REGION = "us-east-1"
ACCOUNT = "123456789012"
Handler = Callable[[dict[str, Any]], Any]


class FakeClock:
    """Monotonic clock for token buckets: advances a lot per call unless frozen by a test."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.step = 100.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass
class Api:
    api_id: str
    strict_api_id: str
    key_value: str
    disabled_key_value: str
    orphan_key_value: str
    quota_key_value: str
    key_id: str
    events: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Handler]:
    """Function name -> Python handler; moto's invoke runs it instead of a container."""
    registry: dict[str, Handler] = {}

    def fake_invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, (str, bytes)) else (event or {})
        try:
            return json.dumps(registry[self.function_name](payload)), False, ""
        except Exception as error:  # a handler error is what the test wants to observe
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}), True, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", fake_invoke)
    return registry


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def _function(name: str) -> str:
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="lambda-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION)
    arn: str = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": _zip()}
    )["FunctionArn"]
    # API Gateway may invoke it from any of this account's APIs (as `aws lambda add-permission` would).
    lam.add_permission(
        FunctionName=name,
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{boto3.client('sts').get_caller_identity()['Account']}:*",
    )
    return arn


def _uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


@pytest.fixture
def api(aws: None, handlers: dict[str, Handler]) -> Api:
    """A REST API with the shapes under test, built the way the AWS CLI would build it."""
    gw = boto3.client("apigateway", region_name=REGION)
    events: list[dict[str, Any]] = []

    def echo(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "X-Single": "one"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"resource": event["resource"], "path": event["path"]}),
        }

    def boom(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("handler blew up")

    def malformed(event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": {"not": "a string"}}

    def binary(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(b"\x89PNG\x00\xff").decode(),
            "isBase64Encoded": True,
        }

    def slow(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.0)
        return {"statusCode": 200, "body": "late"}

    def authz(event: dict[str, Any]) -> dict[str, Any]:
        token = event["authorizationToken"]
        if token == "bad":
            raise RuntimeError("Unauthorized")  # what a Lambda authorizer raises to refuse
        effect = {"allow": "Allow", "deny": "Deny"}.get(token, "Allow")
        resource = event["methodArn"] if token != "elsewhere" else event["methodArn"] + "/other"
        return {
            "principalId": "user-1",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
            },
            "context": {"tier": "gold", "admin": False, "quota": 3},
        }

    arns: dict[str, str] = {}
    for name, function in {
        "echo": echo,
        "boom": boom,
        "malformed": malformed,
        "binary": binary,
        "slow": slow,
        "authz": authz,
    }.items():
        handlers[name] = function
        arns[name] = _function(name)

    api_id = gw.create_rest_api(name="serving")["id"]
    gw.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {
                "op": "replace",
                "path": "/binaryMediaTypes/application~1octet-stream",
                "value": "application/octet-stream",
            }
        ],
    )
    root = next(r["id"] for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")

    def resource(parent: str, part: str) -> str:
        return str(gw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"])

    def method(resource_id: str, verb: str, function: str, **extra: Any) -> None:
        gw.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=verb,
            authorizationType=extra.pop("auth", "NONE"),
            **extra,
        )
        gw.put_integration(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=verb,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=_uri(arns[function]),
        )

    items = resource(root, "items")
    item = resource(items, "{id}")
    proxy = resource(root, "{proxy+}")
    secure = resource(root, "secure")
    metered = resource(root, "metered")
    for part, function_name in {"boom": "boom", "malformed": "malformed", "bin": "binary", "slow": "slow"}.items():
        method(resource(root, part), "POST" if part == "bin" else "GET", function_name)

    gw.create_model(
        restApiId=api_id,
        name="NewItem",
        contentType="application/json",
        schema=json.dumps(
            {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "size": {"type": "integer", "minimum": 1}},
            }
        ),
    )
    validator = gw.create_request_validator(
        restApiId=api_id, name="all", validateRequestBody=True, validateRequestParameters=True
    )["id"]

    method(items, "GET", "echo", apiKeyRequired=True)
    method(
        items,
        "POST",
        "echo",
        requestValidatorId=validator,
        requestModels={"application/json": "NewItem"},
        requestParameters={"method.request.header.x-request-source": True, "method.request.querystring.dry": False},
    )
    method(item, "GET", "echo")
    method(proxy, "ANY", "echo")
    method(secure, "GET", "echo", auth="AWS_IAM")
    method(metered, "GET", "echo", apiKeyRequired=True)
    authorizer = gw.create_authorizer(
        restApiId=api_id,
        name="token",
        type="TOKEN",
        authorizerUri=_uri(arns["authz"]),
        identitySource="method.request.header.Authorization",
    )["id"]
    method(resource(root, "private"), "GET", "echo", auth="CUSTOM", authorizerId=authorizer)

    # CORS preflight as CDK writes it: MOCK, status from the request template, static headers.
    gw.put_method(restApiId=api_id, resourceId=items, httpMethod="OPTIONS", authorizationType="NONE")
    gw.put_integration(
        restApiId=api_id,
        resourceId=items,
        httpMethod="OPTIONS",
        type="MOCK",
        requestTemplates={"application/json": "{ statusCode: 200 }"},
    )
    gw.put_integration_response(
        restApiId=api_id,
        resourceId=items,
        httpMethod="OPTIONS",
        statusCode="204",
        selectionPattern="",
        responseParameters={
            "method.response.header.Access-Control-Allow-Origin": "'*'",
            "method.response.header.Access-Control-Allow-Methods": "'GET,POST,OPTIONS'",
        },
    )

    gw.create_deployment(restApiId=api_id, stageName="test", variables={"model": "champion"})

    def key(name: str, enabled: bool = True) -> dict[str, Any]:
        return dict(gw.create_api_key(name=name, enabled=enabled, value=f"{name}-value-0123456789abcdef"))

    good, disabled, orphan, quota = key("good"), key("disabled", enabled=False), key("orphan"), key("quota")
    throttled_plan = gw.create_usage_plan(
        name="throttled", apiStages=[{"apiId": api_id, "stage": "test"}], throttle={"rateLimit": 1.0, "burstLimit": 3}
    )["id"]
    quota_plan = gw.create_usage_plan(
        name="quota", apiStages=[{"apiId": api_id, "stage": "test"}], quota={"limit": 3, "period": "DAY"}
    )["id"]
    for plan, member in ((throttled_plan, good), (throttled_plan, disabled), (quota_plan, quota)):
        gw.create_usage_plan_key(usagePlanId=plan, keyId=member["id"], keyType="API_KEY")

    strict_id = gw.create_rest_api(name="strict")["id"]
    strict_root = next(r["id"] for r in gw.get_resources(restApiId=strict_id)["items"] if r["path"] == "/")
    things = gw.create_resource(restApiId=strict_id, parentId=strict_root, pathPart="things")["id"]
    gw.put_method(restApiId=strict_id, resourceId=things, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(
        restApiId=strict_id,
        resourceId=things,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=_uri(arns["echo"]),
    )
    gw.create_deployment(restApiId=strict_id, stageName="v1")

    return Api(
        api_id=api_id,
        strict_api_id=strict_id,
        key_value=good["value"],
        disabled_key_value=disabled["value"],
        orphan_key_value=orphan["value"],
        quota_key_value=quota["value"],
        key_id=good["id"],
        events=events,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def access_log() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def gateway(api: Api, clock: FakeClock, access_log: io.StringIO) -> Iterator[LocalApiGateway]:
    with LocalApiGateway(api.api_id, access_log=access_log, clock=clock) as running:
        yield running


def _error(response: requests.Response) -> tuple[int, str, str | None]:
    return response.status_code, response.json()["message"], response.headers.get("x-amzn-ErrorType")


def test_routing_path_parameters_greedy_proxy_and_precedence(gateway: LocalApiGateway, api: Api) -> None:
    base = gateway.url("test")
    assert base == f"{gateway.base_url}/test"

    by_id = requests.get(f"{base}/items/42")
    assert by_id.status_code == 200
    assert by_id.json() == {"resource": "/items/{id}", "path": "/items/42"}
    assert api.events[-1]["pathParameters"] == {"id": "42"}
    assert api.events[-1]["requestContext"]["resourcePath"] == "/items/{id}"
    assert api.events[-1]["requestContext"]["path"] == "/test/items/42"
    assert api.events[-1]["stageVariables"] == {"model": "champion"}

    encoded = requests.get(f"{base}/items/a%20b")  # REST APIs pass paths still percent-encoded
    assert encoded.json()["path"] == "/items/a%20b"
    assert api.events[-1]["pathParameters"] == {"id": "a%20b"}

    greedy = requests.get(f"{base}/a/b/c")
    assert greedy.json() == {"resource": "/{proxy+}", "path": "/a/b/c"}
    assert api.events[-1]["pathParameters"] == {"proxy": "a/b/c"}

    # /items/{id} declares only GET: DELETE falls through to the greedy ANY, as on AWS.
    assert requests.delete(f"{base}/items/42").json()["resource"] == "/{proxy+}"

    # `/` has no method and {proxy+} needs a segment: nothing matches.
    assert _error(requests.get(f"{base}/")) == (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )

    strict = gateway.url("v1", api.strict_api_id)
    assert strict.endswith(f"/restapis/{api.strict_api_id}/v1/_user_request_")
    assert requests.get(f"{strict}/things").json() == {"resource": "/things", "path": "/things"}
    assert _error(requests.post(f"{strict}/things")) == (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )
    assert _error(requests.get(f"{strict}/nothing/here")) == (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )
    assert _error(requests.get(f"{gateway.base_url}/nostage/items/1")) == (403, "Forbidden", "ForbiddenException")
    by_host = requests.get(
        f"{gateway.base_url}/v1/things", headers={"Host": f"{api.strict_api_id}.execute-api.localhost"}
    )
    assert by_host.json() == {"resource": "/things", "path": "/things"}


def test_api_key_required(gateway: LocalApiGateway, api: Api) -> None:
    url = f"{gateway.url('test')}/items"
    forbidden = (403, "Forbidden", "ForbiddenException")
    assert _error(requests.get(url)) == forbidden
    assert _error(requests.get(url, headers={"x-api-key": "not-a-key-at-all-000000"})) == forbidden
    assert _error(requests.get(url, headers={"x-api-key": api.disabled_key_value})) == forbidden
    assert _error(requests.get(url, headers={"x-api-key": api.orphan_key_value})) == forbidden

    ok = requests.get(url, headers={"X-API-Key": api.key_value})
    assert ok.status_code == 200, ok.text
    identity = api.events[-1]["requestContext"]["identity"]
    assert identity["apiKeyId"] == api.key_id
    assert identity["apiKey"] == api.key_value
    assert identity["sourceIp"] == "127.0.0.1"


def test_throttle_burst_then_refill(gateway: LocalApiGateway, api: Api, clock: FakeClock) -> None:
    url = f"{gateway.url('test')}/items"
    headers = {"x-api-key": api.key_value}
    clock.step = 0.0  # frozen: the bucket (burstLimit 3, rateLimit 1/s) does not refill
    statuses = [requests.get(url, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert _error(requests.get(url, headers=headers)) == (429, "Too Many Requests", "TooManyRequestsException")
    clock.now += 1.0  # one second refills one token
    assert requests.get(url, headers=headers).status_code == 200
    assert requests.get(url, headers=headers).status_code == 429


def test_quota_limit_exceeded(gateway: LocalApiGateway, api: Api) -> None:
    url = f"{gateway.url('test')}/metered"
    headers = {"x-api-key": api.quota_key_value}
    assert [requests.get(url, headers=headers).status_code for _ in range(3)] == [200, 200, 200]
    assert _error(requests.get(url, headers=headers)) == (429, "Limit Exceeded", "LimitExceededException")
    gateway.reset_usage()
    assert requests.get(url, headers=headers).status_code == 200


def test_request_validation(gateway: LocalApiGateway) -> None:
    url = f"{gateway.url('test')}/items"
    source = {"x-request-source": "test"}
    missing = requests.post(url, json={"name": "a"})
    assert _error(missing) == (400, "Missing required request parameters: [x-request-source]", "BadRequestException")
    for bad in ({"size": 3}, {"name": 7}, {"name": "a", "size": 0}):
        assert _error(requests.post(url, json=bad, headers=source)) == (
            400,
            "Invalid request body",
            "BadRequestException",
        )
    not_json = requests.post(url, data=b"{nope", headers={**source, "Content-Type": "application/json"})
    assert _error(not_json) == (400, "Invalid request body", "BadRequestException")
    assert requests.post(url, json={"name": "a", "size": 2}, headers=source).status_code == 200


def test_bodies_python_cannot_parse_are_validated_not_500(gateway: LocalApiGateway) -> None:
    """A body nested past Python's recursion limit, or holding an integer past its 4,300-digit limit,
    is JSON all the same. API Gateway's validator refuses a body it cannot match to the model with 400
    BAD_REQUEST_BODY ("If the validation fails, API Gateway fails the request, returns a 400 error
    response to the caller": API Gateway developer guide, "Request validation for REST APIs"), never
    a 5xx; RFC 8259 section 9 lets a parser limit nesting. A long integer is a valid number: the
    validator checks it against the model like any other."""
    url = f"{gateway.url('test')}/items"
    source = {"x-request-source": "test", "Content-Type": "application/json"}
    deep = b'{"name": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _error(requests.post(url, data=deep, headers=source)) == (400, "Invalid request body", "BadRequestException")
    digits = "9" * 4301
    long_size = requests.post(url, data=f'{{"name": "a", "size": {digits}}}'.encode(), headers=source)
    assert long_size.status_code == 200, long_size.text
    assert _error(requests.post(url, data=f'{{"name": {digits}}}'.encode(), headers=source))[0] == 400


def test_lambda_error_and_malformed_result_are_502(gateway: LocalApiGateway) -> None:
    for path in ("/boom", "/malformed"):
        response = requests.get(f"{gateway.url('test')}{path}")
        assert _error(response) == (502, "Internal server error", "InternalServerErrorException")
        assert response.headers["x-amzn-RequestId"]


def test_integration_timeout_is_504(gateway: LocalApiGateway) -> None:
    gateway.integration_timeout = 0.3  # the handler sleeps 1 s; AWS's own limit is 29 s
    response = requests.get(f"{gateway.url('test')}/slow")
    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}


def test_headers_and_query_strings_round_trip(gateway: LocalApiGateway, api: Api) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    connection.putrequest("GET", "/test/items/7?tag=a&tag=b&q=hello%20world&empty=")
    connection.putheader("X-Multi", "first")
    connection.putheader("X-Multi", "second")
    connection.putheader("User-Agent", "probe/1.0")
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()

    assert response.status == 200
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["X-Single"] == "one"
    assert response.headers["x-amzn-RequestId"]

    event = api.events[-1]
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-Multi"] == "second"
    assert event["multiValueHeaders"]["X-Multi"] == ["first", "second"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["queryStringParameters"] == {"tag": "b", "q": "hello world", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "q": ["hello world"], "empty": [""]}
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["identity"]["userAgent"] == "probe/1.0"
    assert context["accountId"] == ACCOUNT and context["apiId"] == api.api_id and context["stage"] == "test"
    assert context["protocol"] == "HTTP/1.1"
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert context["requestId"] == response.headers["x-amzn-RequestId"]

    no_query = requests.get(f"{gateway.url('test')}/items/7")
    assert no_query.status_code == 200
    assert api.events[-1]["queryStringParameters"] is None
    assert api.events[-1]["multiValueQueryStringParameters"] is None


def test_binary_bodies_are_base64(gateway: LocalApiGateway, api: Api) -> None:
    payload = bytes(range(256))
    url = f"{gateway.url('test')}/bin"
    raw = requests.post(
        url, data=payload, headers={"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}
    )
    assert raw.status_code == 200
    assert raw.content == b"\x89PNG\x00\xff"  # decoded: Accept is a binary media type
    assert api.events[-1]["isBase64Encoded"] is True
    assert base64.b64decode(api.events[-1]["body"]) == payload

    text = requests.post(url, data=b'{"a": 1}', headers={"Content-Type": "application/json"})
    assert api.events[-1] == {**api.events[-1], "body": '{"a": 1}', "isBase64Encoded": False}
    # As on AWS: without a binary Accept type the base64 text is returned as is.
    assert text.content == base64.b64encode(b"\x89PNG\x00\xff")


def test_iam_method_needs_a_signature(gateway: LocalApiGateway, api: Api) -> None:
    url = f"{gateway.url('test')}/secure"
    assert _error(requests.get(url)) == (403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    incomplete = requests.get(
        url, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/execute-api/aws4_request"}
    )
    assert incomplete.status_code == 403
    assert incomplete.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"

    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDLOCALTEST", "secret"), "execute-api", REGION).add_auth(signed)
    ok = requests.get(url, headers=dict(signed.headers.items()))
    assert ok.status_code == 200, ok.text
    assert api.events[-1]["requestContext"]["identity"]["accessKey"] == "AKIDLOCALTEST"


def test_a_json_access_format_is_written_as_aws_writes_its_variables(
    gateway: LocalApiGateway, api: Api, access_log: io.StringIO
) -> None:
    """The stage's own JSON format in its log group, one valid JSON object a request: the signer as
    `$context.identity.caller` (AWS writes the principal's id; here the access key), `$context.path`
    with the stage in front, latency in whole ms, "-" for what a request lacks (no key on an IAM route)
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html)."""
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="api-access")
    line = {
        "id": "$context.requestId",
        "caller": "$context.identity.caller",
        "key": "$context.identity.apiKeyId",
        "path": "$context.path",
        "status": "$context.status",
        "ms": "$context.responseLatency",
    }
    _log_access_to_group(api, json.dumps(line))
    url = f"{gateway.url('test')}/secure"
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDLOCALTEST", "secret"), "execute-api", REGION).add_auth(signed)
    ok = requests.get(url, headers=dict(signed.headers.items()))
    assert ok.status_code == 200, ok.text

    stream = logs.describe_log_streams(logGroupName="api-access")["logStreams"][0]["logStreamName"]
    [event] = logs.get_log_events(logGroupName="api-access", logStreamName=stream)["events"]
    written = json.loads(event["message"])
    assert {k: v for k, v in written.items() if k != "ms"} == {
        "id": ok.headers["x-amzn-RequestId"],
        "caller": "AKIDLOCALTEST",
        "key": "-",
        "path": "/test/secure",
        "status": "200",
    }
    assert written["ms"].isdigit()


def test_mock_integration_for_cors_preflight(gateway: LocalApiGateway) -> None:
    response = requests.options(f"{gateway.url('test')}/items")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"


def test_payload_over_10_mb_is_413(gateway: LocalApiGateway) -> None:
    response = requests.post(f"{gateway.url('test')}/items/1", data=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.text == "HTTP content length exceeded 10485760 bytes."


def test_payload_over_10_mb_takes_the_apis_request_too_large_response(gateway: LocalApiGateway, api: Api) -> None:
    """A customised REQUEST_TOO_LARGE gateway response replaces AWS's plain-text 413 ("Gateway response
    types for API Gateway": REQUEST_TOO_LARGE, default status 413), whether the body was read or
    refused on its Content-Length alone."""
    boto3.client("apigateway", region_name=REGION).put_gateway_response(
        restApiId=api.api_id,
        responseType="REQUEST_TOO_LARGE",
        responseTemplates={
            "application/json": '{"error": {"code": "too_large", "message": $context.error.messageString}, '
            '"request_id": "$context.requestId"}'
        },
    )
    too_large = b"x" * (10 * 1024 * 1024 + 1)
    declared = requests.post(f"{gateway.url('test')}/items/1", data=too_large)
    chunked = requests.post(f"{gateway.url('test')}/items/1", data=iter([too_large]))
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json() == {
            "error": {"code": "too_large", "message": "HTTP content length exceeded 10485760 bytes."},
            "request_id": response.headers["x-amzn-RequestId"],
        }


def _log_access_to_group(api: Api, line_format: str) -> None:
    """The stage's access log to the `api-access` log group, in `line_format`."""
    boto3.client("apigateway", region_name=REGION).update_stage(
        restApiId=api.api_id,
        stageName="test",
        patchOperations=[
            {
                "op": "replace",
                "path": "/accessLogSettings/destinationArn",
                "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:api-access",
            },
            {"op": "replace", "path": "/accessLogSettings/format", "value": line_format},
        ],
    )


def test_access_log_lines_and_stage_destination(gateway: LocalApiGateway, api: Api, access_log: io.StringIO) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="api-access")
    _log_access_to_group(api, "$context.requestId $context.httpMethod $context.status")
    ok = requests.get(f"{gateway.url('test')}/items", headers={"x-api-key": api.key_value})
    denied = requests.get(f"{gateway.url('test')}/items")

    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    assert [line["status"] for line in lines] == [200, 403]
    first = lines[0]
    assert first["requestId"] == ok.headers["x-amzn-RequestId"]
    assert (first["ip"], first["method"], first["path"], first["resourcePath"]) == (
        "127.0.0.1",
        "GET",
        "/items",
        "/items",
    )
    assert first["apiKeyId"] == api.key_id and first["latencyMs"] >= 0
    assert lines[1]["errorType"] == "ForbiddenException" and "apiKeyId" not in lines[1]

    stream = logs.describe_log_streams(logGroupName="api-access")["logStreams"][0]["logStreamName"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName="api-access", logStreamName=stream)["events"]]
    assert messages == [f"{ok.headers['x-amzn-RequestId']} GET 200", f"{denied.headers['x-amzn-RequestId']} GET 403"]


def test_busy_port_is_a_clear_error_and_lifecycle(api: Api) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            LocalApiGateway(api.api_id, port=port).start()

    gateway = LocalApiGateway(api.api_id).start()
    url = f"{gateway.url('test')}/items/1"
    session = requests.Session()  # a kept-alive connection must not keep the server up
    assert session.get(url).status_code == 200
    gateway.stop()
    gateway.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_in_process_handle_without_a_socket(api: Api) -> None:
    from localcloud.apigateway import GatewayRequest

    gateway = LocalApiGateway(api.api_id)
    response = gateway.handle(GatewayRequest(method="GET", raw_path="/test/items/9", headers=[("Host", "local")]))
    assert response.status == 200
    assert json.loads(response.body) == {"resource": "/items/{id}", "path": "/items/9"}


def test_stage_throttling_and_custom_gateway_responses(gateway: LocalApiGateway, api: Api, clock: FakeClock) -> None:
    gw = boto3.client("apigateway", region_name=REGION)
    gw.update_stage(
        restApiId=api.api_id,
        stageName="test",
        patchOperations=[{"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"}],
    )
    gw.put_gateway_response(
        restApiId=api.api_id,
        responseType="DEFAULT_4XX",
        responseParameters={"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
        responseTemplates={"application/json": '{"error": $context.error.messageString, "id": "$context.requestId"}'},
    )
    gw.put_gateway_response(restApiId=api.api_id, responseType="MISSING_AUTHENTICATION_TOKEN", statusCode="404")
    url = f"{gateway.url('test')}/items/1"
    clock.step = 0.0
    assert [requests.get(url).status_code for _ in range(2)] == [200, 200]
    throttled = requests.get(url)
    assert throttled.status_code == 429
    assert throttled.json() == {"error": "Too Many Requests", "id": throttled.headers["x-amzn-RequestId"]}
    assert throttled.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(f"{gateway.url('test')}/").status_code == 404


def test_lambda_token_authorizer(gateway: LocalApiGateway, api: Api) -> None:
    url = f"{gateway.url('test')}/private"
    assert _error(requests.get(url)) == (401, "Unauthorized", "UnauthorizedException")
    assert _error(requests.get(url, headers={"Authorization": "bad"})) == (401, "Unauthorized", "UnauthorizedException")
    denied = requests.get(url, headers={"Authorization": "deny"})
    assert denied.status_code == 403
    assert denied.json() == {"Message": "User is not authorized to access this resource with an explicit deny"}
    assert denied.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert requests.get(url, headers={"Authorization": "elsewhere"}).status_code == 403

    ok = requests.get(url, headers={"Authorization": "allow"})
    assert ok.status_code == 200, ok.text
    authorizer = api.events[-1]["requestContext"]["authorizer"]
    assert {k: authorizer[k] for k in ("principalId", "tier", "admin", "quota")} == {
        "principalId": "user-1",
        "tier": "gold",
        "admin": "false",
        "quota": "3",
    }


def test_throughput_16_clients_for_2_seconds(api: Api, record_property: Callable[[str, Any], None]) -> None:
    """Measure, not assert a target: the floor only catches a broken or serialized server.

    Clients use `http.client` with one kept-alive connection each: under `mock_aws`, every
    `requests` call first walks moto's `responses` registry (~3 ms here), which would measure
    the client rather than the gateway.
    """
    with LocalApiGateway(api.api_id) as gateway:
        counts = [0] * 16
        failures = [0] * 16
        deadline = time.perf_counter() + 2.0

        def client(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
            try:
                while time.perf_counter() < deadline:
                    connection.request("GET", "/test/items/1")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        counts[index] += 1
                    else:
                        failures[index] += 1
            finally:
                connection.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        elapsed = time.perf_counter() - started
    rate = sum(counts) / elapsed
    record_property("requests_per_second", round(rate, 1))
    print(f"\nlocal API Gateway: {sum(counts)} requests in {elapsed:.2f} s with 16 clients = {rate:.0f} req/s")
    assert sum(failures) == 0
    assert rate > 50
