"""Lambda function URLs in the local cloud, on the probe stack's AWS_IAM URL, as a client meets them:
the 2.0 event the function receives, its answer mapped back, and Lambda's refusals.

AWS behaviour emulated, and where it is documented:
- request and response payloads: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
  ("Request and response payloads": version 2.0, routeKey $default, lower-case headers, repeated
  query values joined by commas, cookies apart; a statusCode object as given, any other JSON as a 200
  application/json whose body is the answer);
- AWS_IAM auth: the request must be SigV4-signed and the caller needs lambda:InvokeFunctionUrl and
  lambda:InvokeFunction (both, since October 2025: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html);
  a refused request is a 403 `{"Message":"Forbidden. For troubleshooting ..."}` with x-amzn-ErrorType
  AccessDeniedException (the exchange quoted in awsdocs/aws-lambda-developer-guide#494);
- an unknown access key: 403 "The security token included in the request is invalid."
  (jamesmbourne/aws4-axios#1553);
- Lambda's 6 MB synchronous payload (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.cloud import LocalCloud
from localcloud.cloudformation.lambda_types import LambdaUrl
from localcloud.deploy import DeployedStack
from localcloud.iam import OPERATOR_USER, role_credentials
from localcloud.lambda_.function_urls import FORBIDDEN_MESSAGE, LocalFunctionUrl

OPERATOR = Credentials("testing", "testing")
ACCOUNT = "123456789012"


@pytest.fixture
def served(probe_cloud: tuple[LocalCloud, DeployedStack]) -> Iterator[tuple[LocalFunctionUrl, DeployedStack]]:
    cloud, stack = probe_cloud
    yield cloud.serve_function_url(stack.outputs["FunctionUrl"]), stack


def _send(
    url: str,
    method: str = "POST",
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    credentials: Credentials | None = OPERATOR,
    region: str = "us-east-1",
) -> requests.Response:
    """A request to the URL, SigV4-signed for service `lambda` unless `credentials` is None."""
    sent = dict(headers or {})
    if credentials is not None:
        request = AWSRequest(method=method, url=url, data=body, headers=sent)
        SigV4Auth(credentials, "lambda", region).add_auth(request)
        sent = dict(request.headers.items())
    return requests.request(method, url, data=body, headers=sent, timeout=30)


def _event(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json()["event"])


def test_a_signed_request_reaches_the_function_as_a_version_2_event(served: tuple[LocalFunctionUrl, Any]) -> None:
    url, _ = served
    response = _send(
        url.url + "v1/models/churn/predict?a=1&a=2&b=x",
        body=b'{"instances": []}',
        headers={"Content-Type": "application/json", "X-Request-Key": "clinic-7", "Cookie": "c1=v1; c2=v2"},
    )
    event = _event(response)
    assert (event["version"], event["routeKey"]) == ("2.0", "$default")
    assert (event["rawPath"], event["rawQueryString"]) == ("/v1/models/churn/predict", "a=1&a=2&b=x")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-request-key"] == "clinic-7" and "X-Request-Key" not in event["headers"]
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"instances": []}', False)
    context = event["requestContext"]
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/v1/models/churn/predict"
    assert context["accountId"] == ACCOUNT and context["apiId"] == context["domainPrefix"]
    assert context["domainName"].endswith(".lambda-url.us-east-1.on.aws")
    iam = context["authorizer"]["iam"]
    assert iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/{OPERATOR_USER}" and iam["accessKey"] == "testing"
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")
    # The answer as the function shaped it: status, headers, cookies as set-cookie.
    assert response.headers["x-probe"] == "yes"
    assert response.headers["set-cookie"] == "flavour=oat; Max-Age=60"
    assert response.headers["x-amzn-RequestId"] == context["requestId"]


def test_a_binary_body_arrives_base64_encoded(served: tuple[LocalFunctionUrl, Any]) -> None:
    url, _ = served
    event = _event(_send(url.url + "upload", body=b"\x00\xff\x10", headers={"Content-Type": "image/png"}))
    assert (event["body"], event["isBase64Encoded"]) == ("AP8Q", True)


@pytest.mark.parametrize(
    ("path", "body"),
    [("string", b'"Hello, world!"'), ("object", b'{"message": "Hello, world!"}')],
    ids=["a-string", "an-object-without-statusCode"],
)
def test_an_answer_without_a_status_code_is_a_200_json_body(
    served: tuple[LocalFunctionUrl, Any], path: str, body: bytes
) -> None:
    response = _send(served[0].url + path, "GET")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert response.content == body


def test_a_function_error_is_a_502(served: tuple[LocalFunctionUrl, Any]) -> None:
    assert _send(served[0].url + "fail", "GET").status_code == 502


def test_an_unsigned_request_is_forbidden(served: tuple[LocalFunctionUrl, Any]) -> None:
    response = _send(served[0].url + "v1/health", "GET", credentials=None)
    assert response.status_code == 403
    assert response.json() == {"Message": FORBIDDEN_MESSAGE}
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_a_wrong_secret_or_an_unknown_key_is_refused(served: tuple[LocalFunctionUrl, Any]) -> None:
    url = served[0].url + "echo"
    wrong = _send(url, credentials=Credentials("testing", "not-the-secret"), body=b"{}")
    assert wrong.status_code == 403 and "signature we calculated does not match" in wrong.json()["message"]
    unknown = _send(url, credentials=Credentials("AKIANOBODY", "secret"), body=b"{}")
    assert unknown.status_code == 403
    assert unknown.json() == {"message": "The security token included in the request is invalid."}
    # A body changed after signing no longer matches its signature.
    request = AWSRequest(method="POST", url=url, data=b'{"rows": 1}', headers={})
    SigV4Auth(OPERATOR, "lambda", "us-east-1").add_auth(request)
    tampered = requests.post(url, data=b'{"rows": 2}', headers=dict(request.headers.items()), timeout=30)
    assert tampered.status_code == 403


def test_a_signature_for_another_region_or_out_of_its_five_minutes_is_refused(
    served: tuple[LocalFunctionUrl, Any],
) -> None:
    """SigV4: the credential scope names the function's region, and a request must reach AWS within
    five minutes of its X-Amz-Date (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html:
    "the request must reach AWS within five minutes of the time stamp in the request")."""
    url = served[0].url + "echo"
    elsewhere = _send(url, body=b"{}", region="eu-west-1")
    assert elsewhere.status_code == 403
    assert elsewhere.json() == {"message": "Credential should be scoped to a valid region, not 'eu-west-1'. "}
    for hours, words in ((-3, "Signature expired"), (3, "Signature not yet current")):
        request = AWSRequest(method="POST", url=url, data=b"{}", headers={})
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=hours), tick=False):
            SigV4Auth(OPERATOR, "lambda", "us-east-1").add_auth(request)
        answer = requests.post(url, data=b"{}", headers=dict(request.headers.items()), timeout=30)
        assert answer.status_code == 403, hours
        assert answer.json()["message"].startswith(f"{words}: {request.headers['X-Amz-Date']} is "), answer.text
    assert _send(url, body=b"{}").status_code == 201  # signed now, in us-east-1


def _role(name: str, actions: list[str], resource: str) -> Credentials:
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=json.dumps(document))
    return role_credentials(ACCOUNT, arn, name)


def test_a_caller_needs_both_invoke_actions_on_the_function(served: tuple[LocalFunctionUrl, Any]) -> None:
    url, stack = served
    function = stack.outputs["UrlFunctionArn"]
    cases = {
        "nothing": _role("nothing", ["s3:GetObject"], "*"),
        "url only": _role("url-only", ["lambda:InvokeFunctionUrl"], function),
        "another function": _role("elsewhere", ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"], function + "x"),
        "both": _role("both", ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"], function),
    }
    answers = {case: _send(url.url + "echo", credentials=creds, body=b"{}") for case, creds in cases.items()}
    assert {case: r.status_code for case, r in answers.items()} == {
        "nothing": 403,
        "url only": 403,
        "another function": 403,
        "both": 201,
    }
    assert answers["nothing"].json() == {"Message": FORBIDDEN_MESSAGE}
    caller = _event(answers["both"])["requestContext"]["authorizer"]["iam"]
    assert caller["userArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/both/both"


def test_a_body_over_six_megabytes_is_413(served: tuple[LocalFunctionUrl, Any]) -> None:
    response = _send(served[0].url + "echo", body=b"x" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "text/plain"})
    assert response.status_code == 413
    assert response.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"


def test_the_deployed_url_is_recorded_as_cloudformation_gives_it(probe_cloud: tuple[LocalCloud, DeployedStack]) -> None:
    """`FunctionUrl` ends in `/`, and `aws lambda get-function-url-config` finds the URL."""
    _, stack = probe_cloud
    url = stack.outputs["FunctionUrl"]
    assert url.startswith("https://") and url.endswith(".lambda-url.us-east-1.on.aws/")
    config = boto3.client("lambda").get_function_url_config(FunctionName=stack.outputs["UrlFunctionArn"])
    assert (config["FunctionUrl"].rstrip("/") + "/", config["AuthType"]) == (url, "AWS_IAM")


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        ({"AuthType": "IAM"}, "AuthType 'IAM'"),
        ({"AuthType": "AWS_IAM", "InvokeMode": "STREAMING"}, "InvokeMode 'STREAMING'"),
        ({"AuthType": "AWS_IAM", "Qualifier": "3"}, "not a version"),
    ],
    ids=["auth-type", "invoke-mode", "version-qualifier"],
)
def test_cloudformation_refuses_a_malformed_function_url(props: dict[str, Any], problem: str) -> None:
    """CreateFunctionUrlConfig's values (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunctionUrlConfig.html):
    AuthType AWS_IAM or NONE, InvokeMode BUFFERED or RESPONSE_STREAM, a Qualifier naming an alias."""
    target = {"TargetFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:probe"}
    with pytest.raises(ValueError, match=problem):
        LambdaUrl.create("Url", {**target, **props}, "us-east-1")


def test_a_none_url_answers_only_once_the_resource_policy_lets_everyone_in(
    served: tuple[LocalFunctionUrl, Any],
) -> None:
    """AuthType NONE: no signature is needed, but the function's resource policy must grant both actions
    to `*` (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html, "Using the NONE auth type")."""
    url, stack = served
    public = LocalFunctionUrl(replace(url.target, auth_type="NONE")).start()
    try:
        assert _send(public.url + "echo", credentials=None, body=b"{}").json() == {"Message": FORBIDDEN_MESSAGE}
        lam = boto3.client("lambda")
        for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
            lam.add_permission(
                FunctionName=stack.outputs["UrlFunctionArn"],
                StatementId=action.split(":")[1],
                Action=action,
                Principal="*",
            )
        event = _event(_send(public.url + "echo", credentials=None, body=b"{}"))
        assert event["requestContext"]["authorizer"] is None
    finally:
        public.stop()
