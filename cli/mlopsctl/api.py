"""Calls to the platform's HTTPS API: SigV4-signed (service execute-api) for the IAM-authorized registry
routes, and predictions through the deployed front door: SigV4-signed (service lambda) to the predict
function URL, or with the prediction key on the REST API under `serving.front_door: rest`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from mlopsctl.target import Target


class ApiError(RuntimeError):
    """The API answered with an error; `status` and `code` come from its JSON error body, and `body`
    is that whole body (a 400 from predict lists every problem by row and field)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.body = body if body is not None else {"error": {"code": code, "message": message}}

    @property
    def problems(self) -> list[dict[str, Any]]:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        problems = error.get("problems") if isinstance(error, dict) else None
        return [p for p in problems if isinstance(p, dict)] if isinstance(problems, list) else []

    @property
    def problem_count(self) -> int:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        count = error.get("problem_count") if isinstance(error, dict) else None
        return int(count) if isinstance(count, int) else len(self.problems)


FUNCTION_URL_OUTPUT = "PredictFunctionUrl"
API_KEY_OUTPUT = "PredictionApiKeyId"


def prediction_key(target: Target) -> str:
    """The prediction API key's value (the stack outputs name its id, never the secret)."""
    key_id = target.output(API_KEY_OUTPUT)
    return str(target.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"])


def front_door_key(target: Target) -> str | None:
    """The prediction key when the stack's front door takes one (`rest`); None: requests are signed."""
    return prediction_key(target) if API_KEY_OUTPUT in target.outputs else None


def call_predict_route(
    target: Target,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request to a prediction route (`/v1/models/{name}/predict|signature|feedback`) through the
    deployed front door: the function URL, signed for service `lambda`, when the stack has one; else
    the REST API with the prediction key (`key`, or looked up)."""
    if FUNCTION_URL_OUTPUT in target.outputs:
        return call(target, method, path, body, query, headers=headers, base=target.output(FUNCTION_URL_OUTPUT))
    return call(target, method, path, body, query, api_key=key or prediction_key(target), headers=headers)


def call(
    target: Target,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    *,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    base: str | None = None,
) -> Any:
    """One request to `<ApiUrl>v1/...` (or `<base>v1/...`, a function URL, signed for service `lambda`),
    SigV4-signed unless it carries an API key (prediction routes under `rest`); raises ApiError with the
    API's own message."""
    service = "lambda" if base is not None else "execute-api"
    base = (base or target.output("ApiUrl")).rstrip("/")
    params = {k: v for k, v in (query or {}).items() if v is not None}
    # A list is a repeated parameter (`?metric=a&metric=b`), as API Gateway hands multi-value queries on.
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params, doseq=True)}" if params else "")
    data = json.dumps(body).encode() if body is not None else None
    sent = {"content-type": "application/json"} if data is not None else {}
    sent.update(headers or {})
    if api_key is not None:
        sent["x-api-key"] = api_key
    else:
        request = AWSRequest(method=method, url=url, data=data, headers=sent)
        SigV4Auth(target.credentials(), service, target.region or "us-east-1").add_auth(request)
        sent = dict(request.headers.items())
    prepared = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            detail = json.loads(payload)
        except json.JSONDecodeError:
            raise ApiError(error.code, "http_error", payload.decode(errors="replace")[:500]) from None
        err = detail.get("error") if isinstance(detail, dict) else None
        if isinstance(err, dict):
            raise ApiError(error.code, str(err.get("code")), str(err.get("message")), detail) from None
        # API Gateway says "message"; a function URL's own refusals say "Message".
        message = (detail.get("message") or detail.get("Message") or detail) if isinstance(detail, dict) else detail
        raise ApiError(error.code, "http_error", str(message), detail) from None
