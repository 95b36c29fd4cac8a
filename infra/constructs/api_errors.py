"""API Gateway's own answers (gateway responses) in the platform's error shape.

A request API Gateway refuses before a function runs (no key, no signature, no route, a body the
validator rejects, throttling, a payload over 10 MB, a function that failed) gets AWS's default body,
`{"message": "..."}`, unless the API customises that response type. Every type is customised here to
the shape the functions answer with, `{"error": {"code", "message"}, "request_id"}`, so a client
reads one shape whoever refused its request. Status codes stay AWS's defaults but one: a request
without the credential a route needs (MISSING_AUTHENTICATION_TOKEN, which AWS answers 403) is 401
with `WWW-Authenticate: AWS4-HMAC-SHA256`, as RFC 9110 (section 15.5.2) defines a request that lacks
credentials; a wrong credential stays 403. API Gateway uses the same type for a path and method no
route serves, so those are 401 too, and the message names both causes.

The types are AWS's full list ("Gateway response types for API Gateway", API Gateway developer
guide); `$context.error.messageString` is AWS's message as a quoted JSON string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import aws_apigateway as apigw

AWS_MESSAGE = "$context.error.messageString"


@dataclass(frozen=True)
class GatewayError:
    """One response type: the `code` clients match on, and a message (AWS's when None)."""

    response_type: str
    code: str
    message: str | None = None
    status: int | None = None  # None: AWS's default for the type
    headers: tuple[tuple[str, str], ...] = ()


BATCH_SCORING_HINT = (
    "score a large file with batch scoring instead: upload it (CSV, gzip CSV or JSON Lines) to the raw "
    "bucket under batch/<model>/; the predictions land in batch/<model>/<file name without extension>.predictions/"
)

GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    GatewayError("ACCESS_DENIED", "access_denied"),
    GatewayError("API_CONFIGURATION_ERROR", "api_configuration_error"),
    GatewayError("AUTHORIZER_CONFIGURATION_ERROR", "authorizer_configuration_error"),
    GatewayError("AUTHORIZER_FAILURE", "authorizer_failure"),
    GatewayError(
        "BAD_REQUEST_BODY",
        "invalid_body",
        # One message per API, not per route: it names what each POST route takes.
        "the body must be a JSON object: predict takes instances (a list of rows, each an object) or columns "
        "and data; feedback takes labels (a list of {request_id, row, label})",
    ),
    GatewayError("BAD_REQUEST_PARAMETERS", "invalid_parameters"),
    GatewayError("DEFAULT_4XX", "request_refused"),
    GatewayError("DEFAULT_5XX", "gateway_error"),
    GatewayError("EXPIRED_TOKEN", "expired_token"),
    GatewayError("INTEGRATION_FAILURE", "integration_failure"),
    GatewayError("INTEGRATION_TIMEOUT", "timeout", "the request timed out; retry with backoff"),
    GatewayError(
        "INVALID_API_KEY",
        "invalid_api_key",
        "Forbidden: send a valid prediction key in the x-api-key header (registry routes take SigV4 instead)",
    ),
    GatewayError("INVALID_SIGNATURE", "invalid_signature"),
    GatewayError(
        "MISSING_AUTHENTICATION_TOKEN",
        "missing_authentication_token",
        "Missing Authentication Token: no route answers this method and path, or the route is a registry "
        "route and the request is not signed with SigV4 (service execute-api)",
        status=401,
        headers=(("WWW-Authenticate", "AWS4-HMAC-SHA256"),),
    ),
    GatewayError("QUOTA_EXCEEDED", "quota_exceeded", "the prediction key's daily quota is used up; retry tomorrow"),
    GatewayError(
        "REQUEST_TOO_LARGE",
        "request_too_large",
        f"the request is over API Gateway's 10 MB payload limit; {BATCH_SCORING_HINT}",
    ),
    GatewayError("RESOURCE_NOT_FOUND", "not_found"),
    GatewayError("THROTTLED", "throttled", "Too Many Requests: over the prediction key's rate; retry with backoff"),
    GatewayError("UNAUTHORIZED", "unauthorized"),
    GatewayError("UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type"),
    GatewayError("WAF_FILTERED", "waf_filtered"),
)


def error_template(error: GatewayError) -> str:
    """The application/json mapping template of one response type."""
    message = AWS_MESSAGE if error.message is None else json.dumps(error.message)
    return f'{{"error": {{"code": "{error.code}", "message": {message}}}, "request_id": "$context.requestId"}}'


def add_gateway_responses(api: apigw.RestApi) -> None:
    for error in GATEWAY_ERRORS:
        api.add_gateway_response(
            f"Gateway{error.response_type.title().replace('_', '')}",
            type=apigw.ResponseType.of(error.response_type),
            status_code=str(error.status) if error.status else None,
            response_headers={name: f"'{value}'" for name, value in error.headers} or None,
            templates={"application/json": error_template(error)},
        )
