"""Calls to the platform's HTTPS API, signed with SigV4 for the IAM-authorized registry routes."""

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


def prediction_key(target: Target) -> str:
    """The prediction API key's value (the stack outputs name its id, never the secret)."""
    key_id = target.output("PredictionApiKeyId")
    return str(target.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"])


def call(
    target: Target,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    *,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request to `<ApiUrl>v1/...`, SigV4-signed unless it carries an API key (prediction
    routes); raises ApiError with the API's own message."""
    base = target.output("ApiUrl").rstrip("/")
    params = {k: v for k, v in (query or {}).items() if v is not None}
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    data = json.dumps(body).encode() if body is not None else None
    sent = {"content-type": "application/json"} if data is not None else {}
    sent.update(headers or {})
    if api_key is not None:
        sent["x-api-key"] = api_key
    else:
        request = AWSRequest(method=method, url=url, data=data, headers=sent)
        SigV4Auth(target.credentials(), "execute-api", target.region or "us-east-1").add_auth(request)
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
        message = detail.get("message", detail) if isinstance(detail, dict) else detail
        raise ApiError(error.code, "http_error", str(message), detail) from None
