"""Method authorization: AWS_IAM signature presence, Lambda (TOKEN/REQUEST) and Cognito authorizers.

moto stores authorizers and each method's authorizationType/authorizerId but runs nothing. Here:
an AWS_IAM method needs a SigV4-shaped request; a CUSTOM method runs its Lambda authorizer through
the same invoker as integrations and evaluates the returned policy against the method ARN; a
COGNITO_USER_POOLS method needs a JWT whose claims are read *without* verifying its signature or
issuer (only `exp` and the method's authorization scopes are checked). Authorizer results are
not cached (authorizerResultTtlInSeconds is ignored).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from moto.apigateway.models import Authorizer, Method, RestAPI

from localcloud.apigateway.gateway_responses import (
    ACCESS_DENIED,
    INVALID_SIGNATURE,
    UNAUTHORIZED,
    GatewayError,
    configuration_error,
    missing_authentication_token,
)
from localcloud.apigateway.integrations import LambdaInvoker, lambda_function_arn
from localcloud.apigateway.request import GatewayRequest

AUTHORIZER_CONFIGURATION_ERROR = "AUTHORIZER_CONFIGURATION_ERROR"


@dataclass
class AuthorizerResult:
    """What an authorizer adds to the request: `requestContext.authorizer` and maybe an API key."""

    context: dict[str, Any] = field(default_factory=dict)
    usage_identifier_key: str | None = None


def check_sigv4(request: GatewayRequest) -> dict[str, str]:
    """Require what a SigV4-signed request carries; return the caller identity it names.

    This checks the *shape* only (algorithm, Credential, SignedHeaders, Signature and a date);
    the signature is not verified, so any credentials pass. Missing entirely -> 403 "Missing
    Authentication Token" (AWS); present but incomplete -> 403 IncompleteSignatureException.
    Query-string (presigned) signatures are accepted too.
    """
    query_params = dict(parse_qsl(request.query, keep_blank_values=True))
    if "X-Amz-Signature" in query_params and "X-Amz-Credential" in query_params:
        return {"accessKey": query_params["X-Amz-Credential"].split("/", 1)[0]}
    authorization = request.header("Authorization")
    if not authorization:
        raise missing_authentication_token()
    scheme, _, params_text = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    for item in params_text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            params[name.strip()] = value.strip()
    problems: list[str] = []
    if scheme != "AWS4-HMAC-SHA256":
        problems.append("Authorization header requires the 'AWS4-HMAC-SHA256' algorithm.")
    for required in ("Credential", "Signature", "SignedHeaders"):
        if not params.get(required):
            problems.append(f"Authorization header requires '{required}' parameter.")
    if not (request.header("X-Amz-Date") or request.header("Date")):
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        raise GatewayError(
            INVALID_SIGNATURE,
            403,
            " ".join(problems) + f" Authorization={authorization}",
            "IncompleteSignatureException",
        )
    return {"accessKey": params["Credential"].split("/", 1)[0]}


def unauthorized(detail: str = "") -> GatewayError:
    return GatewayError(UNAUTHORIZED, 401, "Unauthorized", "UnauthorizedException", log_detail=detail)


def _authorizer_failure(detail: str) -> GatewayError:
    # AWS answers an authorizer that fails or returns garbage with a null message.
    return GatewayError(
        AUTHORIZER_CONFIGURATION_ERROR, 500, None, "AuthorizerConfigurationException", log_detail=detail
    )


def method_arn(api_id: str, stage: str, http_method: str, path: str, *, region: str, account: str) -> str:
    """`arn:aws:execute-api:<region>:<account>:<api>/<stage>/<VERB>/<path>`, as authorizers get it."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{http_method}{path}"


def authorize(
    *,
    api: RestAPI,
    method: Method,
    request: GatewayRequest,
    query: dict[str, list[str]],
    stage_variables: dict[str, str],
    arn: str,
    invoker: LambdaInvoker,
    request_event: Callable[[], dict[str, Any]],
) -> AuthorizerResult:
    """Run the method's CUSTOM or COGNITO_USER_POOLS authorizer; raise 401/403/500 as AWS does."""
    authorizer: Authorizer | None = api.authorizers.get(method.authorizer_id or "")
    if authorizer is None:
        raise configuration_error(f"method names authorizer {method.authorizer_id!r}, which the API does not have")
    kind = (authorizer.type or "").upper()
    sources = _identity_sources(authorizer, request, query, stage_variables)
    if kind == "COGNITO_USER_POOLS":
        return _cognito(method, sources[0] if sources else None)
    if kind not in ("TOKEN", "REQUEST"):
        raise configuration_error(f"authorizer type {kind} is not supported locally")
    if any(value is None or value == "" for value in sources) or (not sources and kind == "TOKEN"):
        raise unauthorized("identity source missing")
    if kind == "TOKEN":
        token = str(sources[0])
        expression = authorizer.identity_validation_expression
        if expression and not re.fullmatch(expression, token):
            raise unauthorized("token fails the identity validation expression")
        event: dict[str, Any] = {"type": "TOKEN", "methodArn": arn, "authorizationToken": token}
    else:
        event = {"type": "REQUEST", "methodArn": arn, **request_event()}
    function_arn = lambda_function_arn(authorizer.authorizer_uri or "", stage_variables)
    started = time.perf_counter()
    payload, errored = invoker(function_arn, json.dumps(event).encode("utf-8"))
    latency_ms = int((time.perf_counter() - started) * 1000)
    return _evaluate(payload, errored, arn, latency_ms)


def _identity_sources(
    authorizer: Authorizer, request: GatewayRequest, query: dict[str, list[str]], stage_variables: dict[str, str]
) -> list[str | None]:
    text = authorizer.identity_source or ""
    if not text and (authorizer.type or "").upper() in ("TOKEN", "COGNITO_USER_POOLS"):
        text = "method.request.header.Authorization"
    values: list[str | None] = []
    for source in (part.strip() for part in text.split(",") if part.strip()):
        if source.startswith("method.request.header."):
            values.append(request.header(source.removeprefix("method.request.header.")))
        elif source.startswith("method.request.querystring."):
            found = query.get(source.removeprefix("method.request.querystring."))
            values.append(found[-1] if found else None)
        elif source.startswith("stageVariables."):
            values.append(stage_variables.get(source.removeprefix("stageVariables.")))
        else:
            values.append("context")  # $context sources are always present
    return values


def _evaluate(payload: bytes, errored: bool, arn: str, latency_ms: int) -> AuthorizerResult:
    try:
        result = json.loads(payload.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        result = None
    if errored:
        if isinstance(result, dict) and result.get("errorMessage") == "Unauthorized":
            raise unauthorized("authorizer said Unauthorized")
        raise _authorizer_failure(f"authorizer function error: {payload[:300]!r}")
    if (
        not isinstance(result, dict)
        or "principalId" not in result
        or not isinstance(result.get("policyDocument"), dict)
    ):
        raise _authorizer_failure(f"authorizer returned no principalId/policyDocument: {payload[:300]!r}")
    decision = _policy_decision(result["policyDocument"], arn)
    if decision == "Deny":
        raise GatewayError(
            ACCESS_DENIED,
            403,
            "User is not authorized to access this resource with an explicit deny",
            "AccessDeniedException",
            message_key="Message",
        )
    if decision != "Allow":
        raise GatewayError(
            ACCESS_DENIED,
            403,
            "User is not authorized to access this resource",
            "AccessDeniedException",
            message_key="Message",
        )
    context: dict[str, Any] = {"principalId": result["principalId"]}
    for key, value in (result.get("context") or {}).items():
        if isinstance(value, (dict, list)):
            raise _authorizer_failure(f"authorizer context value {key!r} is not a scalar")
        context[str(key)] = json.dumps(value) if isinstance(value, bool) else str(value)
    context["integrationLatency"] = latency_ms
    usage_key = result.get("usageIdentifierKey")
    return AuthorizerResult(context=context, usage_identifier_key=str(usage_key) if usage_key else None)


def _policy_decision(policy: dict[str, Any], arn: str) -> str | None:
    """IAM-style evaluation of an authorizer policy for one method ARN: Deny beats Allow."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, resource) for resource in resources):
            continue
        if str(statement.get("Effect")) == "Deny":
            return "Deny"
        if str(statement.get("Effect")) == "Allow":
            allowed = True
    return "Allow" if allowed else None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _cognito(method: Method, token: str | None) -> AuthorizerResult:
    """Claims of the caller's JWT, unverified: enough to exercise handlers that read them."""
    if not token:
        raise unauthorized("no token")
    token = token.removeprefix("Bearer ").strip()
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not a JWT")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise unauthorized(f"token is not a JWT: {error}") from error
    if not isinstance(claims, dict):
        raise unauthorized("token claims are not an object")
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and expires < time.time():
        raise unauthorized("token expired")
    scopes = method.authorization_scopes or []
    if scopes and not set(str(claims.get("scope", "")).split()) & set(scopes):
        raise unauthorized("token has none of the method's authorization scopes")
    return AuthorizerResult(
        context={"claims": {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}}
    )
