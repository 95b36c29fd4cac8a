"""Gateway responses: the answers API Gateway gives itself, never reaching the backend.

Kept apart from the server so routing, usage plans, authorizers and integrations raise the same
`GatewayError` without importing each other; `render_failure` turns one into AWS's default answer or
the API's customised one (PutGatewayResponse).
"""

from __future__ import annotations

import json
import re
from typing import Any

from localcloud.apigateway.request import MAX_PAYLOAD_BYTES, GatewayResponse

# Gateway response types (the names API Gateway uses in PutGatewayResponse) with AWS's default
# status code, message and x-amzn-ErrorType header value.
MISSING_AUTHENTICATION_TOKEN = "MISSING_AUTHENTICATION_TOKEN"
INVALID_API_KEY = "INVALID_API_KEY"
INVALID_SIGNATURE = "INVALID_SIGNATURE"
ACCESS_DENIED = "ACCESS_DENIED"
UNAUTHORIZED = "UNAUTHORIZED"
THROTTLED = "THROTTLED"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
BAD_REQUEST_BODY = "BAD_REQUEST_BODY"
BAD_REQUEST_PARAMETERS = "BAD_REQUEST_PARAMETERS"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
API_CONFIGURATION_ERROR = "API_CONFIGURATION_ERROR"
INTEGRATION_TIMEOUT = "INTEGRATION_TIMEOUT"
DEFAULT_4XX = "DEFAULT_4XX"
DEFAULT_5XX = "DEFAULT_5XX"


class GatewayError(Exception):
    """A request API Gateway itself answers (a 'gateway response'), never reaching the backend.

    `response_type` selects the PutGatewayResponse customisation that applies, as on AWS.
    """

    def __init__(
        self,
        response_type: str,
        status: int,
        message: str | None,
        error_type: str | None,
        *,
        log_detail: str = "",
        message_key: str = "message",
        plain_text: bool = False,
    ) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.status = status
        self.message = message
        self.error_type = error_type
        self.log_detail = log_detail or str(message)
        self.message_key = message_key  # AWS's authorizer denials say "Message", capitalised
        self.plain_text = plain_text  # AWS's default body is the bare message (an oversized payload)


def missing_authentication_token() -> GatewayError:
    """No resource+method matches, or an IAM method got no signature: AWS answers 403 for both."""
    return GatewayError(
        MISSING_AUTHENTICATION_TOKEN,
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )


def forbidden(detail: str = "") -> GatewayError:
    return GatewayError(INVALID_API_KEY, 403, "Forbidden", "ForbiddenException", log_detail=detail)


def too_many_requests(detail: str = "") -> GatewayError:
    return GatewayError(THROTTLED, 429, "Too Many Requests", "TooManyRequestsException", log_detail=detail)


def limit_exceeded(detail: str = "") -> GatewayError:
    return GatewayError(QUOTA_EXCEEDED, 429, "Limit Exceeded", "LimitExceededException", log_detail=detail)


def request_too_large() -> GatewayError:
    """A body over 10 MB: refused before routing, with the text AWS answers."""
    return GatewayError(
        REQUEST_TOO_LARGE,
        413,
        f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes.",
        "RequestTooLargeException",
        plain_text=True,
    )


def internal_server_error(detail: str, status: int = 502, response_type: str = DEFAULT_5XX) -> GatewayError:
    """Lambda errors and malformed proxy results are 502; configuration errors are 500."""
    return GatewayError(
        response_type, status, "Internal server error", "InternalServerErrorException", log_detail=detail
    )


def configuration_error(detail: str) -> GatewayError:
    return internal_server_error(detail, status=500, response_type=API_CONFIGURATION_ERROR)


_CONTEXT_VAR = re.compile(r"\$(?:context\.)?error\.(messageString|message|responseType)|\$context\.requestId")


def render_failure(
    failure: GatewayError,
    request_id: str,
    gateway_responses: dict[str, Any] | None = None,
) -> GatewayResponse:
    """Turn a failure into AWS's default gateway response, or the API's customised one.

    Customised responses (moto's `put_gateway_response`) are honoured for status code, static
    header values (`'literal'`) and the `application/json` template, in which only
    `$context.error.message`, `$context.error.messageString`, `$context.error.responseType` and
    `$context.requestId` are substituted: there is no VTL engine here.
    """
    status = failure.status
    body = json.dumps({failure.message_key: failure.message}).encode()
    headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
    custom = _custom_gateway_response(failure, gateway_responses or {})
    if failure.plain_text and not getattr(custom, "response_templates", None):
        body = str(failure.message).encode()
        headers = [("Content-Type", "text; charset=utf-8")]
    if custom is not None:
        if getattr(custom, "status_code", None):
            status = int(custom.status_code)
        for name, value in (getattr(custom, "response_parameters", None) or {}).items():
            prefix = "gatewayresponse.header."
            if name.startswith(prefix) and len(value) >= 2 and value[0] == value[-1] == "'":
                headers.append((name[len(prefix) :], value[1:-1]))
        templates = getattr(custom, "response_templates", None) or {}
        template = templates.get("application/json")
        if template:

            def substitute(match: re.Match[str]) -> str:
                if match.group(0) == "$context.requestId":
                    return request_id
                kind = match.group(1)
                if kind == "messageString":
                    return json.dumps(failure.message)
                if kind == "responseType":
                    return failure.response_type
                return str(failure.message)

            body = _CONTEXT_VAR.sub(substitute, template).encode()
    headers.append(("x-amzn-RequestId", request_id))
    if failure.error_type:
        headers.append(("x-amzn-ErrorType", failure.error_type))
    return GatewayResponse(status=status, headers=headers, body=body)


def _custom_gateway_response(failure: GatewayError, responses: dict[str, Any]) -> Any:
    if failure.response_type in responses:
        return responses[failure.response_type]
    fallback = DEFAULT_5XX if failure.status >= 500 else DEFAULT_4XX
    return responses.get(fallback)
