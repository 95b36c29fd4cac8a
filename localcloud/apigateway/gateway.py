"""`LocalApiGateway`: one request through API Gateway's pipeline, in-process or over HTTP.

The pipeline, in AWS's order: payload limit, the API and stage, the resource+method route, the method's
authorization (IAM signature shape, Lambda or Cognito authorizer), its API key and usage plan, stage
and plan throttles and quota, request validation, then the MOCK or AWS_PROXY integration (run under
the integration timeout, behind the function's resource policy), and one access-log line.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import parse_qsl

from moto.apigateway.models import RestAPI, Stage, apigateway_backends
from moto.core import DEFAULT_ACCOUNT_ID

from localcloud.apigateway.access_log import AccessLog
from localcloud.apigateway.authorizers import authorize, check_sigv4, method_arn
from localcloud.apigateway.gateway_responses import (
    GatewayError,
    configuration_error,
    forbidden,
    missing_authentication_token,
    render_failure,
    request_too_large,
)
from localcloud.apigateway.http_server import BackgroundServer
from localcloud.apigateway.iam_invoke import check_invoke
from localcloud.apigateway.integrations import (
    INTEGRATION_WORKERS,
    LambdaInvoker,
    MotoLambdaInvoker,
    build_proxy_event,
    invoke_proxy,
    lambda_function_arn,
    mock_response,
    proxy_response,
)
from localcloud.apigateway.request import MAX_PAYLOAD_BYTES, GatewayRequest, GatewayResponse
from localcloud.apigateway.routing import RouteMatch, match_route, truthy
from localcloud.apigateway.usage_plans import KeyGrant, UsageTracker, find_key_grant
from localcloud.apigateway.validation import validate_request

LOG = logging.getLogger(__name__)

DEFAULT_INTEGRATION_TIMEOUT_S = 29.0
_USER_REQUEST = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")


class PortInUseError(OSError):
    """The gateway's port is taken; raised by `start()` with the host and port in the message."""


class _Target:
    __slots__ = ("api_id", "path", "stage")

    def __init__(self, api_id: str | None, stage: str, path: str) -> None:
        self.api_id = api_id
        self.stage = stage
        self.path = path


class _Call:
    """One admitted request on its way through the pipeline (what the proxy event is built from)."""

    def __init__(
        self,
        *,
        request: GatewayRequest,
        target: _Target,
        api: RestAPI,
        stage: Stage,
        match: RouteMatch,
        query: dict[str, list[str]],
        identity: dict[str, Any],
        stage_variables: dict[str, str],
        request_id: str,
        now: float,
    ) -> None:
        self.request = request
        self.target = target
        self.api = api
        self.stage = stage
        self.match = match
        self.query = query
        self.identity = identity
        self.stage_variables = stage_variables
        self.request_id = request_id
        self.now = now
        self.authorizer: dict[str, Any] | None = None
        self._forwarding: list[tuple[str, str]] | None = None

    def forwarding_headers(self, port: int) -> list[tuple[str, str]]:
        if self._forwarding is None:  # one trace id per request, shared by authorizer and integration
            self._forwarding = _forwarding_headers(self.request, port)
        return self._forwarding


class LocalApiGateway:
    """Serve moto's REST APIs over HTTP on loopback, as API Gateway would serve them.

    Usable as a context manager; `start()` binds (port 0 picks a free one) and serves from a
    background thread, `stop()` closes the listener and any kept-alive connections. `handle()`
    runs one request in-process with no socket at all.
    """

    def __init__(
        self,
        rest_api_id: str | None = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region_name: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: IO[str] | str | os.PathLike[str] | None = None,
        lambda_invoker: LambdaInvoker | None = None,
        binary_media_types: Sequence[str] = (),
        integration_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest_api_id = rest_api_id
        self.account_id = account_id
        self.region_name = region_name
        self.host = host
        self._requested_port = port
        self._access_log = AccessLog(access_log, wall_clock)
        self.lambda_invoker: LambdaInvoker = lambda_invoker or MotoLambdaInvoker()
        self.extra_binary_media_types = tuple(binary_media_types)
        self.integration_timeout = integration_timeout
        self._wall_clock = wall_clock
        self.usage = UsageTracker(clock=clock, wall_clock=wall_clock)
        self._server: BackgroundServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; a busy port raises `PortInUseError` naming it."""
        if self._server is not None:
            return self
        try:
            server = BackgroundServer(self, (self.host, self._requested_port), "apigateway")
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE
                raise PortInUseError(
                    error.errno,
                    f"local API Gateway cannot listen on {self.host}:{self._requested_port}: "
                    f"port {self._requested_port} is already in use",
                ) from error
            raise
        self._access_log.open()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving; idempotent. Open keep-alive connections are shut down too."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._access_log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, once started."""
        return f"http://{self.host}:{self.port}"

    def url(self, stage: str, rest_api_id: str | None = None) -> str:
        """The invoke URL of a stage (no trailing slash), like API Gateway's stage URL."""
        api_id = rest_api_id or self.rest_api_id
        if api_id is None:
            raise ValueError("no rest_api_id given and the gateway has no default API")
        if api_id == self.rest_api_id:
            return f"{self.base_url}/{stage}"
        return f"{self.base_url}/restapis/{api_id}/{stage}/_user_request_"

    def reset_usage(self) -> None:
        """Forget throttle buckets and quota counts (a new quota period for every key)."""
        self.usage.reset()

    # -- request pipeline -----------------------------------------------------------------------

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        """Run one request through routing, authorization, limits, validation and integration."""
        started = time.perf_counter()
        now = self._wall_clock()
        request_id = str(uuid.uuid4())
        log: dict[str, Any] = {
            "requestId": request_id,
            "ip": request.source_ip,
            "method": request.method,
            "protocol": request.protocol,
        }
        api: RestAPI | None = None
        stage: Stage | None = None
        try:
            if len(request.body) > MAX_PAYLOAD_BYTES:
                api = self._api_of(request)
                raise request_too_large()
            target = self._resolve_target(request)
            log.update(apiId=target.api_id, stage=target.stage, path=target.path)
            api, stage = self._api_and_stage(target)
            response = self._serve(request, target, api, stage, request_id=request_id, now=now, log=log)
        except GatewayError as failure:
            log["errorType"] = failure.error_type
            log["error"] = failure.log_detail
            response = render_failure(failure, request_id, dict(api.gateway_responses) if api else None)
        except Exception as error:  # a bug here must still answer like a gateway, not hang up
            LOG.exception("local API Gateway failed on %s %s", request.method, request.raw_path)
            log["error"] = repr(error)
            response = render_failure(configuration_error(repr(error)), request_id)
        self._finish(response, request_id)
        log["status"] = response.status
        log["responseLength"] = len(response.body)
        log["latencyMs"] = round((time.perf_counter() - started) * 1000.0, 3)
        log["requestTime"] = _request_time(now)
        self._access_log.write(log, stage, api)
        return response

    def refuse_too_large(self, request: GatewayRequest) -> GatewayResponse:
        """The 413 for a body over the payload limit that is not read (its Content-Length said so),
        in the API's REQUEST_TOO_LARGE gateway response when it has one."""
        request_id = str(uuid.uuid4())
        api = self._api_of(request)
        response = render_failure(request_too_large(), request_id, dict(api.gateway_responses) if api else None)
        self._finish(response, request_id)
        return response

    def _api_of(self, request: GatewayRequest) -> RestAPI | None:
        """The API a request names, or None: only to render a refusal that precedes routing."""
        try:
            return self._api_and_stage(self._resolve_target(request))[0]
        except GatewayError:
            return None

    def _resolve_target(self, request: GatewayRequest) -> _Target:
        path = request.raw_path or "/"
        found = _USER_REQUEST.match(path)
        if found:
            return _Target(found.group("api"), found.group("stage"), found.group("path") or "/")
        host = (request.header("Host") or "").split(":", 1)[0]
        api_id = self.rest_api_id
        if ".execute-api." in host:
            api_id = host.split(".", 1)[0]
        stage, _, rest = path.lstrip("/").partition("/")
        if not stage:
            raise forbidden("no stage in the path")
        return _Target(api_id, stage, "/" + rest)

    def _api_and_stage(self, target: _Target) -> tuple[RestAPI, Stage]:
        backend = apigateway_backends[self.account_id][self.region_name]
        api = backend.apis.get(target.api_id or "")
        if api is None:
            raise forbidden(f"no REST API {target.api_id!r} in {self.account_id}/{self.region_name}")
        stage = api.stages.get(target.stage)
        if stage is None:
            raise forbidden(f"API {api.id} has no stage {target.stage!r}")
        return api, stage

    def _serve(
        self,
        request: GatewayRequest,
        target: _Target,
        api: RestAPI,
        stage: Stage,
        *,
        request_id: str,
        now: float,
        log: dict[str, Any],
    ) -> GatewayResponse:
        match = match_route(api, target.path, request.method)
        if match is None:
            raise missing_authentication_token()
        call = _Call(
            request=request,
            target=target,
            api=api,
            stage=stage,
            match=match,
            query=_parse_query(request.query),
            identity=_base_identity(request),
            stage_variables={str(k): str(v) for k, v in (stage.variables or {}).items()},
            request_id=request_id,
            now=now,
        )
        method = match.method
        log["resourcePath"] = match.resource_path

        api_key_value = request.header("x-api-key")
        authorization = (method.authorization_type or "NONE").upper()
        if authorization == "AWS_IAM":
            access_key = check_sigv4(request)["accessKey"]
            arn = method_arn(
                api.id, target.stage, request.method, target.path, region=self.region_name, account=self.account_id
            )
            check_invoke(self.account_id, access_key, request.header("X-Amz-Security-Token"), arn)
            call.identity.update(accessKey=access_key, caller=access_key, user=access_key, accountId=self.account_id)
            log["caller"] = access_key
        elif authorization in ("CUSTOM", "COGNITO_USER_POOLS"):
            outcome = authorize(
                api=api,
                method=method,
                request=request,
                query=call.query,
                stage_variables=call.stage_variables,
                arn=method_arn(
                    api.id, target.stage, request.method, target.path, region=self.region_name, account=self.account_id
                ),
                invoker=self.lambda_invoker,
                request_event=lambda: self._proxy_event(call, for_authorizer=True),
            )
            call.authorizer = outcome.context
            if (api.api_key_source or "HEADER").upper() == "AUTHORIZER":
                api_key_value = outcome.usage_identifier_key

        grant: KeyGrant | None = None
        if truthy(method.api_key_required):
            backend = apigateway_backends[self.account_id][self.region_name]
            grant = find_key_grant(backend, api.id, target.stage, api_key_value)
            call.identity.update(apiKey=grant.key_value, apiKeyId=grant.key_id)
            log["apiKeyId"] = grant.key_id

        self.usage.check_stage_throttle(
            api.id, target.stage, stage.method_settings or {}, match.resource_path, request.method
        )
        if grant is not None:
            self.usage.check_key(grant, match.resource_path, request.method)

        validate_request(api, method, request, call.query, match.path_parameters)

        integration = method.method_integration
        if integration is None:
            raise configuration_error(f"{request.method} {match.resource_path} has no integration")
        kind = (integration.integration_type or "").upper()
        if kind == "MOCK":
            return mock_response(integration, request)
        if kind != "AWS_PROXY":
            raise configuration_error(f"integration type {kind} is not served by the local gateway")
        if integration.http_method and integration.http_method.upper() != "POST":
            raise configuration_error("Lambda proxy integrations must use the POST integration method")
        function_arn = lambda_function_arn(integration.uri, call.stage_variables)
        self._check_invoke_permission(function_arn, api.id, target.stage, request.method, target.path)
        event = self._proxy_event(call)
        timeout = self._integration_timeout(integration.timeout_in_millis)
        started = time.perf_counter()
        payload, errored = INTEGRATION_WORKERS.run(
            lambda: invoke_proxy(self.lambda_invoker, function_arn, event), timeout
        )
        log["integrationLatencyMs"] = round((time.perf_counter() - started) * 1000.0, 3)
        return proxy_response(payload, errored, request.header("Accept"), self._binary_media_types(api))

    def _check_invoke_permission(self, function_arn: str, api_id: str, stage: str, verb: str, path: str) -> None:
        """API Gateway invokes a function only where the function's resource policy (an
        AWS::Lambda::Permission) allows apigateway.amazonaws.com from this method's ARN; otherwise AWS
        answers 500 and logs "Execution failed due to configuration error: Invalid permissions on
        Lambda function"."""
        from moto.awslambda.utils import get_backend

        from localcloud.iam import lambda_invoke_denial

        try:
            function = get_backend(self.account_id, self.region_name).get_function(function_arn)
        except Exception as error:  # moto raises its own types for unknown functions
            raise configuration_error(f"invoking {function_arn} failed: {error!r}") from error
        source = method_arn(api_id, stage, verb, path, region=self.region_name, account=self.account_id)
        denial = lambda_invoke_denial(
            function, service="apigateway.amazonaws.com", source_arn=source, source_account=self.account_id
        )
        if denial:
            raise configuration_error(f"Invalid permissions on Lambda function: {denial}")

    def _proxy_event(self, call: _Call, for_authorizer: bool = False) -> dict[str, Any]:
        """The Lambda proxy event; a REQUEST authorizer gets the same minus the body."""
        request = call.request
        event = build_proxy_event(
            request=request,
            path=call.target.path,
            resource_path=call.match.resource_path,
            resource_id=call.match.resource.id,
            path_parameters=call.match.path_parameters,
            query=call.query,
            stage=call.target.stage,
            stage_variables=call.stage_variables,
            api_id=call.api.id,
            account_id=self.account_id,
            request_id=call.request_id,
            request_time_epoch_ms=int(call.now * 1000),
            request_time=_request_time(call.now),
            identity=call.identity,
            domain_name=request.header("Host") or f"{call.api.id}.execute-api.{self.region_name}.amazonaws.com",
            binary_media_types=self._binary_media_types(call.api),
            extra_headers=call.forwarding_headers(self._server_port()),
            operation_name=call.match.method.operation_name,
            authorizer=call.authorizer,
        )
        if for_authorizer:
            event.pop("body", None)
            event.pop("isBase64Encoded", None)
        return event

    def _binary_media_types(self, api: RestAPI) -> list[str]:
        stored = [t.replace("~1", "/") for t in (api.binaryMediaTypes or []) if t]
        return [*stored, *self.extra_binary_media_types]

    def _integration_timeout(self, timeout_in_millis: Any) -> float:
        if self.integration_timeout is not None:
            return self.integration_timeout
        try:
            return int(timeout_in_millis) / 1000.0 if timeout_in_millis else DEFAULT_INTEGRATION_TIMEOUT_S
        except (TypeError, ValueError):
            return DEFAULT_INTEGRATION_TIMEOUT_S

    def _server_port(self) -> int:
        return self.port if self._server is not None else 443

    def _finish(self, response: GatewayResponse, request_id: str) -> None:
        names = {name.lower() for name, _ in response.headers}
        if "x-amzn-requestid" not in names:
            response.headers.append(("x-amzn-RequestId", request_id))
        response.headers.append(("x-amz-apigw-id", secrets.token_urlsafe(11)[:15] + "="))
        if "x-amzn-errortype" not in names:
            response.headers.append(("X-Amzn-Trace-Id", _trace_id()))


def _parse_query(query: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parsed.setdefault(name, []).append(value)
    return parsed


def _base_identity(request: GatewayRequest) -> dict[str, Any]:
    return {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": request.header("User-Agent"),
        "user": None,
        "apiKey": None,
        "apiKeyId": None,
    }


def _forwarding_headers(request: GatewayRequest, port: int) -> list[tuple[str, str]]:
    """The X-Forwarded-* and trace headers API Gateway adds to what the integration sees."""
    forwarded_for = request.header("X-Forwarded-For")
    chain = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    return [
        ("X-Amzn-Trace-Id", _trace_id()),
        ("X-Forwarded-For", chain),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", "http"),
    ]


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _request_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
