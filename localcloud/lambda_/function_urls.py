"""Lambda function URLs: what moto stores (`create_function_url_config`) served over HTTP, as Lambda serves it.

What moto lacks: moto records a function URL's configuration and serves nothing ("Function URLs are not
yet mocked"); it takes no `Qualifier`. Here `LocalFunctionUrl` is the data plane of one URL: for
`AWS_IAM` it verifies the SigV4 signature (service `lambda`) with the caller's secret from moto's IAM
and STS, and decides `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` on the target against
the caller's identity policies and the function's resource policy (both actions, as for every URL
created since October 2025: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html); it refuses
an event over Lambda's 6 MB invocation payload, passes the function the payload format 2.0 event and
maps its answer back (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html).

Refusals, as AWS answers them: no signature, or a caller not allowed -> 403
`{"Message":"Forbidden. For troubleshooting ..."}` with `x-amzn-ErrorType: AccessDeniedException`
(awsdocs/aws-lambda-developer-guide#494 quotes the exchange); an unknown access key or session token
-> 403 "The security token included in the request is invalid." (jamesmbourne/aws4-axios#1553);
a signature that does not match -> 403 with SigV4's "The request signature we calculated does not
match ..." message. Not verified against AWS: the 413 body (Invoke's RequestEntityTooLargeException
message is used) and the 502 bodies for a function error or an oversized answer.

Each answered request publishes the URL metrics Lambda publishes in `AWS/Lambda` (`UrlRequestCount`,
`Url4xxCount`, `Url5xxCount`, `UrlRequestLatency`; https://docs.aws.amazon.com/lambda/latest/dg/
urls-monitoring.html), so alarms on them are evaluated locally as on AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

from localcloud.apigateway.http_server import BackgroundServer
from localcloud.apigateway.integrations import LambdaInvoker, MotoLambdaInvoker
from localcloud.apigateway.request import GatewayRequest, GatewayResponse, media_type
from localcloud.iam.policies import Decision, Request, evaluate
from localcloud.lambda_.logs_and_metrics import function_url_metrics
from localcloud.lambda_.runtime_state import runtime

# Lambda's synchronous invocation payload limits: 6 MB in, 6 MB (+100 bytes) out.
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
FORBIDDEN_MESSAGE = (
    "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
# Bodies of these media types reach the function as text; any other is base64 (isBase64Encoded true).
_TEXT_MEDIA = ("application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


class FunctionUrlError(Exception):
    """What the function URL answers itself, before or instead of the function."""

    def __init__(self, status: int, message: str, error_type: str, *, message_key: str = "Message") -> None:
        super().__init__(message)
        self.status, self.message, self.error_type, self.message_key = status, message, error_type, message_key

    def response(self, request_id: str) -> GatewayResponse:
        body = json.dumps({self.message_key: self.message}).encode()
        return GatewayResponse(
            self.status,
            [
                ("Content-Type", "application/json"),
                ("x-amzn-RequestId", request_id),
                ("x-amzn-ErrorType", self.error_type),
            ],
            body,
        )


def forbidden() -> FunctionUrlError:
    return FunctionUrlError(403, FORBIDDEN_MESSAGE, "AccessDeniedException")


@dataclass(frozen=True)
class FunctionUrlTarget:
    """One function URL: its id (the host's first label), the function it invokes and how it authenticates."""

    url_id: str
    url: str  # https://<url-id>.lambda-url.<region>.on.aws/
    function_arn: str  # qualified when the URL is on an alias
    auth_type: str
    account_id: str
    region: str


@dataclass(frozen=True)
class Caller:
    """The IAM principal a signed request came from (requestContext.authorizer.iam)."""

    access_key: str
    account_id: str
    caller_id: str
    user_arn: str
    user_id: str

    def event_fields(self) -> dict[str, Any]:
        return {
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "callerId": self.caller_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": self.user_arn,
            "userId": self.user_id,
        }


def function_url_targets(account_id: str, region: str) -> list[FunctionUrlTarget]:
    """Every function URL moto holds in an account and region (the qualifier the CloudFormation model noted)."""
    from moto.awslambda.utils import get_backend

    targets = []
    for function in get_backend(account_id, region).list_functions():
        config = getattr(function, "url_config", None)
        if config is None:
            continue
        url = str(config.url).rstrip("/") + "/"
        qualifier = config.config.get("Qualifier")
        arn = f"{function.function_arn}:{qualifier}" if qualifier else function.function_arn
        targets.append(
            FunctionUrlTarget(
                url_id=(urlsplit(url).hostname or "").split(".", 1)[0],
                url=url,
                function_arn=arn,
                auth_type=str(config.config.get("AuthType") or "AWS_IAM"),
                account_id=account_id,
                region=region,
            )
        )
    return targets


def _authorization_fields(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return {}
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


class _SignatureCheck(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client says it signed (botocore would pick its own)."""

    def __init__(self, credentials: Any, region: str, signed: dict[str, str]) -> None:
        super().__init__(credentials, "lambda", region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in self._signed.items():
            headers[name] = value
        return headers


SIGNATURE_TIME_WINDOW = timedelta(minutes=5)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def _check_signing_time(amz_date: str, now: datetime) -> None:
    """SigV4's 5-minute window, in AWS's words (`Signature expired: ... is now earlier than ...`)."""
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise FunctionUrlError(
            403, SIGNATURE_MISMATCH_MESSAGE, "InvalidSignatureException", message_key="message"
        ) from None
    stamp = now.strftime(_AMZ_DATE)
    if signed_at < now - SIGNATURE_TIME_WINDOW:
        earliest = (now - SIGNATURE_TIME_WINDOW).strftime(_AMZ_DATE)
        message = f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)"
    elif signed_at > now + SIGNATURE_TIME_WINDOW:
        latest = (now + SIGNATURE_TIME_WINDOW).strftime(_AMZ_DATE)
        message = f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + 5 min.)"
    else:
        return
    raise FunctionUrlError(403, message, "InvalidSignatureException", message_key="message")


def authenticate(
    request: GatewayRequest, account_id: str, region: str, now: datetime | None = None
) -> tuple[Caller, Any]:
    """The caller of a SigV4-signed request (header form), its signature checked with its secret, its
    credential scope with the function's region and its date with the clock (AWS refuses a request
    signed more than 5 minutes away from its own time). The clock is the machine's, not the local
    cloud's (which tests move): a client signs with the machine's clock."""
    fields = _authorization_fields(request.header("Authorization") or "")
    scope = fields.get("Credential", "").split("/")
    amz_date = request.header("X-Amz-Date") or ""
    if len(scope) != 5 or not fields.get("Signature") or not fields.get("SignedHeaders") or not amz_date:
        raise forbidden()
    access_key_id, date, scoped_region, service = scope[0], scope[1], scope[2], scope[3]
    if scoped_region != region:
        raise FunctionUrlError(
            403,
            f"Credential should be scoped to a valid region, not '{scoped_region}'. ",
            "InvalidSignatureException",
            message_key="message",
        )
    _check_signing_time(amz_date, now or datetime.now(UTC))
    try:
        key = create_access_key(
            account_id=account_id, partition="aws", access_key_id=access_key_id, headers=_token_headers(request)
        )
    except (CreateAccessKeyFailure, KeyError):
        raise FunctionUrlError(
            403, INVALID_TOKEN_MESSAGE, "UnrecognizedClientException", message_key="message"
        ) from None
    names = [name.strip().lower() for name in fields["SignedHeaders"].split(";") if name.strip()]
    signed = {name: ",".join(v for k, v in request.headers if k.lower() == name) for name in names}
    url = f"https://{request.header('Host') or ''}{request.raw_path}" + (f"?{request.query}" if request.query else "")
    to_sign = AWSRequest(method=request.method, url=url, data=request.body, headers=signed)
    to_sign.context["timestamp"] = amz_date
    check = _SignatureCheck(key.create_credentials(), scoped_region, signed)
    expected = check.signature(check.string_to_sign(to_sign, check.canonical_request(to_sign)), to_sign)
    if service != "lambda" or "host" not in signed or not amz_date.startswith(date) or expected != fields["Signature"]:
        raise FunctionUrlError(403, SIGNATURE_MISMATCH_MESSAGE, "InvalidSignatureException", message_key="message")
    arn = str(key.arn)
    return (
        Caller(
            access_key=access_key_id,
            account_id=arn.split(":")[4],
            caller_id=access_key_id,
            user_arn=arn,
            user_id=access_key_id,
        ),
        key,
    )


def _token_headers(request: GatewayRequest) -> dict[str, str]:
    token = request.header("X-Amz-Security-Token")
    return {"X-Amz-Security-Token": token} if token is not None else {}


def authorize(key: Any, caller: Caller | None, target: FunctionUrlTarget) -> None:
    """Both actions allowed on the target, and denied by no policy. AWS_IAM: by the caller's identity
    policies or the function's resource policy (same account: either grants). NONE: by the resource
    policy alone, which must let everyone in (`Principal: "*"`), as urls-auth.html says."""
    from localcloud.iam.enforcement import identity_documents

    identity = identity_documents(key) if key is not None else []
    resource_policy = _resource_policy(target)
    principal = caller.user_arn if caller is not None else "anonymous"
    context: dict[str, str | list[str]] = {
        "aws:SecureTransport": "true",
        "lambda:FunctionUrlAuthType": target.auth_type,
    }
    if caller is not None:
        context.update({"aws:PrincipalArn": caller.user_arn, "aws:PrincipalAccount": caller.account_id})
    for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
        request = Request(action, target.function_arn, context, principal_arn=principal)
        decisions = [evaluate([resource_policy], request)] + ([evaluate(identity, request)] if identity else [])
        if Decision.DENY in decisions or Decision.ALLOW not in decisions:
            raise forbidden()


def _resource_policy(target: FunctionUrlTarget) -> dict[str, Any]:
    from moto.awslambda.utils import get_backend

    name = target.function_arn.split(":")[6]
    function = get_backend(target.account_id, target.region).get_function(name)
    return {"Version": "2012-10-17", "Statement": list(getattr(function.policy, "statements", []) or [])}


def build_event(
    request: GatewayRequest, target: FunctionUrlTarget, caller: Caller | None, *, request_id: str, now: float
) -> dict[str, Any]:
    """The payload format 2.0 event Lambda passes for a function URL request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text = (
        media_type(headers.get("content-type")).startswith("text/")
        or media_type(headers.get("content-type")) in _TEXT_MEDIA
    )
    body: str | None = None
    encoded = False
    if request.body:
        try:
            body = request.body.decode("utf-8") if text else None
        except UnicodeDecodeError:
            body = None
        if body is None:
            body, encoded = base64.b64encode(request.body).decode("ascii"), True
    moment = datetime.fromtimestamp(now, UTC)
    domain = urlsplit(target.url).hostname or ""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path or "/",
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": caller.account_id if caller else "anonymous",
            "apiId": target.url_id,
            "authentication": None,
            "authorizer": {"iam": caller.event_fields()} if caller else None,
            "domainName": domain,
            "domainPrefix": target.url_id,
            "http": {
                "method": request.method,
                "path": request.raw_path or "/",
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    return event


def _function_failed() -> GatewayResponse:
    """A function error, an answer over 6 MB or one Lambda cannot read (the body is not verified)."""
    return GatewayResponse(502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}')


def map_response(payload: bytes, errored: bool) -> GatewayResponse:
    """The function's answer as the HTTP response: a `statusCode` object as given; any other JSON as a 200
    `application/json` whose body is the answer itself (urls-invocation.html, "Response payload format")."""
    if errored or len(payload) > MAX_RESPONSE_BYTES:
        return _function_failed()
    try:
        answer = json.loads(payload.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _function_failed()
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return GatewayResponse(200, [("content-type", "application/json")], payload)
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in answer.get("cookies") or []]
    raw = answer.get("body")
    body = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
    if answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _function_failed()
    else:
        data = body.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return GatewayResponse(int(answer["statusCode"]), headers, data)


class LocalFunctionUrl:
    """One function URL served on loopback (port 0: any free one); `handle()` runs a request with no socket."""

    def __init__(
        self,
        target: FunctionUrlTarget,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        invoker: LambdaInvoker | None = None,
    ) -> None:
        self.target = target
        self.host = host
        self._requested_port = port
        self.invoker: LambdaInvoker = invoker or MotoLambdaInvoker()
        self._server: BackgroundServer | None = None

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        started = time.monotonic()
        response = self._answer(request)
        self._publish_metrics(response.status, started)
        return response

    def _answer(self, request: GatewayRequest) -> GatewayResponse:
        request_id = str(uuid.uuid4())
        try:
            caller, key = None, None
            if self.target.auth_type == "AWS_IAM":
                caller, key = authenticate(request, self.target.account_id, self.target.region)
            authorize(key, caller, self.target)
            event = json.dumps(
                build_event(request, self.target, caller, request_id=request_id, now=time.time())
            ).encode()
            if len(event) > MAX_EVENT_BYTES:
                raise _too_large()
            payload, errored = self.invoker(self.target.function_arn, event)
        except FunctionUrlError as refusal:
            return refusal.response(request_id)
        response = map_response(payload, errored)
        response.headers.append(("x-amzn-RequestId", request_id))
        return response

    def refuse_too_large(self, request: GatewayRequest) -> GatewayResponse:
        started = time.monotonic()
        response = _too_large().response(str(uuid.uuid4()))
        self._publish_metrics(response.status, started)
        return response

    def _publish_metrics(self, status: int, started: float) -> None:
        """Lambda's URL metrics for one answered request, its own refusals included (they are 4xx
        answers a client sees)."""
        sink = runtime.metric_sink
        if sink is None:
            return
        latency_ms = (time.monotonic() - started) * 1000.0
        data = function_url_metrics(self.target.function_arn, status, latency_ms)
        sink(self.target.account_id, self.target.region, "AWS/Lambda", data)

    def start(self) -> Self:
        if self._server is None:
            self._server = BackgroundServer(self, (self.host, self._requested_port), "function-url")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>/`, once started (a function URL ends in `/`)."""
        if self._server is None:
            raise RuntimeError("the function URL is not served")
        return f"http://{self.host}:{self._server.port}/"


def _too_large() -> FunctionUrlError:
    return FunctionUrlError(
        413,
        f"Request must be smaller than {MAX_EVENT_BYTES} bytes for the InvokeFunction operation",
        "RequestEntityTooLargeException",
    )
