"""What happens after a request is admitted: the AWS_PROXY (Lambda) or MOCK integration.

moto records integrations but an AWS_PROXY one never calls Lambda; here the request becomes the
REST API (payload format 1.0) proxy event, the function is invoked through moto's Lambda backend
(so whatever runs handlers there, such as the local runtime, runs them here), and its result
becomes the HTTP response with API Gateway's rules: a function error or a malformed result is a
502 "Internal server error".
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from moto.apigateway.models import Integration, IntegrationResponse

from localcloud.apigateway.gateway_responses import (
    DEFAULT_4XX,
    INTEGRATION_TIMEOUT,
    GatewayError,
    configuration_error,
    internal_server_error,
)
from localcloud.apigateway.request import (
    MAX_LAMBDA_EVENT_BYTES,
    GatewayRequest,
    GatewayResponse,
    matches_media_types,
    media_type,
)

LOG = logging.getLogger(__name__)

# (function ARN, event JSON) -> (payload, the function raised).
LambdaInvoker = Callable[[str, bytes], tuple[bytes, bool]]

_LAMBDA_URI = re.compile(r":lambda:path/\d{4}-\d{2}-\d{2}/functions/(?P<function>.+?)/invocations/?$")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.\-]+)\}")
_PROXY_RESULT_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
# Headers API Gateway will not pass through from a proxy result under their own name.
_REMAPPED_RESPONSE_HEADERS = {"content-length", "connection", "transfer-encoding", "date", "server"}
_DROPPED_EVENT_HEADERS = {"content-length", "connection"}


class MotoLambdaInvoker:
    """Invoke a function through moto's Lambda backend, the same path boto3 `invoke` takes."""

    def __call__(self, function_arn: str, event: bytes) -> tuple[bytes, bool]:
        from moto.awslambda.utils import get_backend

        parts = function_arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            raise configuration_error(f"not a Lambda function ARN: {function_arn}")
        region, account = parts[3], parts[4]
        response_headers: dict[str, str] = {}
        try:
            payload = get_backend(account, region).invoke(
                function_arn, None, event.decode("utf-8"), {}, response_headers
            )
        except Exception as error:  # moto raises its own exception types for unknown functions
            raise configuration_error(f"invoking {function_arn} failed: {error!r}") from error
        if payload is None:
            payload = b""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return payload, "x-amz-function-error" in {k.lower() for k in response_headers}


def render_stage_variables(text: str, stage_variables: dict[str, str]) -> str:
    """`${stageVariables.name}` substitution, as API Gateway does in integration URIs."""
    return _STAGE_VARIABLE.sub(lambda m: stage_variables.get(m.group(1), ""), text)


def lambda_function_arn(uri: str, stage_variables: dict[str, str]) -> str:
    """The function ARN inside an `arn:aws:apigateway:…:lambda:path/…/invocations` URI."""
    match = _LAMBDA_URI.search(render_stage_variables(uri or "", stage_variables))
    if not match:
        raise configuration_error(f"AWS_PROXY integration URI names no Lambda function: {uri!r}")
    return match.group("function")


# ---------------------------------------------------------------------------------------------
# AWS_PROXY (Lambda) integration
# ---------------------------------------------------------------------------------------------


def build_proxy_event(
    *,
    request: GatewayRequest,
    path: str,
    resource_path: str,
    resource_id: str,
    path_parameters: dict[str, str],
    query: dict[str, list[str]],
    stage: str,
    stage_variables: dict[str, str],
    api_id: str,
    account_id: str,
    request_id: str,
    request_time_epoch_ms: int,
    request_time: str,
    identity: dict[str, Any],
    domain_name: str,
    binary_media_types: Sequence[str],
    extra_headers: Sequence[tuple[str, str]] = (),
    operation_name: str | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The REST API Lambda proxy event (payload format 1.0), field for field.

    Single-value `headers`/`queryStringParameters` keep the last value, as AWS does; empty maps
    are null. `path` is the request path after the stage, not percent-decoded (so are path
    parameters); query values are decoded. The body is base64 with isBase64Encoded when its
    Content-Type is one of the API's binaryMediaTypes, and also (unlike AWS, which would mangle
    it) when it is not valid UTF-8.
    """
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    canonical: dict[str, str] = {}
    replaced = {name.lower() for name, _ in extra_headers}
    client_headers = [(n, v) for n, v in request.headers if n.lower() not in replaced]
    for name, value in [*client_headers, *extra_headers]:
        if name.lower() in _DROPPED_EVENT_HEADERS:
            continue
        key = canonical.setdefault(name.lower(), name)
        headers[key] = value
        multi_headers.setdefault(key, []).append(value)

    body: str | None = None
    is_base64 = False
    if request.body:
        if matches_media_types(request.header("Content-Type"), binary_media_types):
            body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
        else:
            try:
                body = request.body.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(request.body).decode("ascii"), True

    request_context: dict[str, Any] = {
        "resourceId": resource_id,
        "resourcePath": resource_path,
        "operationName": operation_name,
        "httpMethod": request.method,
        "extendedRequestId": request_id,
        "requestTime": request_time,
        "path": f"/{stage}{path}",
        "accountId": account_id,
        "protocol": request.protocol,
        "stage": stage,
        "domainPrefix": domain_name.split(".", 1)[0],
        "requestTimeEpoch": request_time_epoch_ms,
        "requestId": request_id,
        "identity": identity,
        "domainName": domain_name,
        "apiId": api_id,
    }
    if operation_name is None:
        del request_context["operationName"]
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": resource_path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": {k: list(v) for k, v in query.items()} or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(stage_variables) or None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def invoke_proxy(
    invoker: LambdaInvoker,
    function_arn: str,
    event: dict[str, Any],
) -> tuple[bytes, bool]:
    """Serialize and invoke; an event over Lambda's 6 MB limit is 413 as on AWS."""
    payload = json.dumps(event).encode("utf-8")
    if len(payload) > MAX_LAMBDA_EVENT_BYTES:
        raise GatewayError(DEFAULT_4XX, 413, "Request Too Long", "BadRequestException")
    return invoker(function_arn, payload)


def proxy_response(
    payload: bytes,
    errored: bool,
    accept: str | None,
    binary_media_types: Sequence[str],
) -> GatewayResponse:
    """Turn a Lambda proxy result into the HTTP response, or raise 502 as API Gateway does."""
    if errored:
        raise internal_server_error(f"Lambda function error: {payload[:500]!r}")
    try:
        result = json.loads(payload.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise internal_server_error(f"Malformed Lambda proxy response (not JSON): {payload[:200]!r}") from error
    if not isinstance(result, dict) or not set(result) <= _PROXY_RESULT_KEYS:
        raise internal_server_error(f"Malformed Lambda proxy response: {payload[:200]!r}")
    try:
        status = int(result.get("statusCode") or 200)
    except (TypeError, ValueError) as error:
        detail = f"Malformed Lambda proxy response: statusCode {result.get('statusCode')!r}"
        raise internal_server_error(detail) from error
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise internal_server_error("Malformed Lambda proxy response: body is not a string")
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in _header_items(result.get("headers")):
        merged[name.lower()] = (name, [value])
    for name, values in _multi_header_items(result.get("multiValueHeaders")):
        merged[name.lower()] = (name, values)
    headers: list[tuple[str, str]] = []
    for lowered, (name, values) in merged.items():
        out_name = f"x-amzn-Remapped-{name}" if lowered in _REMAPPED_RESPONSE_HEADERS else name
        headers.extend((out_name, value) for value in values)
    if "content-type" not in merged:
        headers.append(("Content-Type", "application/json"))
    raw = (body or "").encode("utf-8")
    if result.get("isBase64Encoded") is True and body:
        # AWS converts to binary only when the client's (first) Accept type is a binary media type.
        first_accept = (accept or "").split(",", 1)[0]
        if matches_media_types(first_accept, binary_media_types):
            try:
                raw = base64.b64decode(body, validate=False)
            except ValueError as error:
                raise configuration_error("Unable to base64-decode the proxy body") from error
    return GatewayResponse(status=status, headers=headers, body=raw)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise internal_server_error(f"Malformed Lambda proxy response: header value {value!r}")


def _header_items(raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise internal_server_error("Malformed Lambda proxy response: headers is not an object")
    return [(str(name), _scalar(value)) for name, value in raw.items() if value is not None]


def _multi_header_items(raw: Any) -> list[tuple[str, list[str]]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise internal_server_error("Malformed Lambda proxy response: multiValueHeaders is not an object")
    items: list[tuple[str, list[str]]] = []
    for name, values in raw.items():
        if values is None:
            continue
        seq = values if isinstance(values, list) else [values]
        items.append((str(name), [_scalar(v) for v in seq if v is not None]))
    return items


# ---------------------------------------------------------------------------------------------
# Integration timeout: a hung handler becomes a 504
# ---------------------------------------------------------------------------------------------


class IntegrationWorkers:
    """Daemon worker threads that run integrations, so a hung handler becomes a 504 as on AWS.

    Reused rather than spawned per request (a spawn cost ~70 us here, a hand-off ~20 us); daemon
    so a handler that never returns cannot keep the interpreter alive, unlike
    `concurrent.futures`' workers, which are joined at exit.
    """

    def __init__(self, max_idle: int = 64) -> None:
        self._idle: list[queue.SimpleQueue[_Task]] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def run(self, call: Callable[[], tuple[bytes, bool]], timeout: float) -> tuple[bytes, bool]:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), name="apigateway-integration", daemon=True).start()
        task = _Task(call)
        inbox.put(task)
        if not task.done.wait(timeout):
            detail = f"integration ran over {timeout:.1f} s"
            raise GatewayError(INTEGRATION_TIMEOUT, 504, "Endpoint request timed out", None, log_detail=detail)
        if task.error is not None:
            raise task.error
        assert task.result is not None
        return task.result

    def _work(self, inbox: queue.SimpleQueue[_Task]) -> None:
        while True:
            task = inbox.get()
            try:
                task.result = task.call()
            except BaseException as error:  # handed to the request thread, re-raised there
                task.error = error
            task.done.set()
            with self._lock:
                if len(self._idle) >= self._max_idle:
                    return
                self._idle.append(inbox)


class _Task:
    __slots__ = ("call", "done", "error", "result")

    def __init__(self, call: Callable[[], tuple[bytes, bool]]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: tuple[bytes, bool] | None = None
        self.error: BaseException | None = None


INTEGRATION_WORKERS = IntegrationWorkers()


# ---------------------------------------------------------------------------------------------
# MOCK integration (CORS preflight and the like)
# ---------------------------------------------------------------------------------------------

_STATUS_IN_TEMPLATE = re.compile(r"""["']?statusCode["']?\s*:\s*["']?(\d{3})""")


def mock_response(integration: Integration, request: GatewayRequest) -> GatewayResponse:
    """A MOCK integration: status from the request template, then the matching integration response.

    Only the `statusCode` of the request template is read (CDK writes `{ statusCode: 200 }`,
    which is not JSON); no template means 200. Response headers take static `'values'` from
    responseParameters; the response template is returned as is, with no VTL evaluation. No
    matching integration response is a 500, as on AWS.
    """
    templates: dict[str, Any] = integration.request_templates or {}
    kind = media_type(request.header("Content-Type")) or "application/json"
    template = (
        templates.get(kind) or templates.get("application/json") or next((t for t in templates.values() if t), None)
    )
    status = 200
    if template:
        found = _STATUS_IN_TEMPLATE.search(str(template))
        if not found:
            raise configuration_error("MOCK request template has no statusCode")
        status = int(found.group(1))
    chosen = _select_integration_response(integration.integration_responses or {}, str(status))
    if chosen is None:
        raise configuration_error(
            f"No match for output mapping and no default output mapping configured (status {status})"
        )
    headers: list[tuple[str, str]] = []
    for name, value in (chosen.response_parameters or {}).items():
        prefix = "method.response.header."
        if name.startswith(prefix) and isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'":
            headers.append((name[len(prefix) :], value[1:-1]))
    response_templates: dict[str, Any] = chosen.response_templates or {}
    body_template = response_templates.get("application/json") or next(
        (t for t in response_templates.values() if t), None
    )
    headers.append(("Content-Type", "application/json"))
    return GatewayResponse(status=int(chosen.status_code), headers=headers, body=str(body_template or "").encode())


def _select_integration_response(responses: dict[str, IntegrationResponse], status: str) -> IntegrationResponse | None:
    default: IntegrationResponse | None = None
    for response in responses.values():
        pattern = response.selection_pattern
        if not pattern:
            default = default or response
        elif re.fullmatch(pattern, status):
            return response
    return default
