"""IAM in the local cloud: every call a function makes is checked against its own role, as on AWS.

What AWS does and moto does not, supplied here (measured gaps in ../shared/DESIGN.md):
- Each Lambda invocation signs its calls with credentials of the function's execution role (assumed
  through moto's STS, session name = function name). The credentials live in a thread-local, never
  in the shared `os.environ`: a client created inside an invocation is bound to that role, and any
  request signed on an invocation's thread uses it. The harness, the CLI and CloudFormation sign
  with the operator's keys (`testing` / `testing`), an administrator as the deployer is on AWS.
- Step Functions signs the tasks it runs (Lambda invokes, SNS publishes) with the state machine's role.
- moto matches DynamoDB, SNS, Step Functions and Lambda requests against resource `*`; here each is
  matched against its ARN (table, index, topic, state machine, execution, function). A
  TransactWriteItems is authorized item by item (PutItem, UpdateItem, DeleteItem,
  ConditionCheckItem), as DynamoDB does; a CopyObject also needs read on its source; conditions
  (`s3:prefix`, `aws:SourceArn`, ...) are evaluated, and a statement whose condition fails does not
  apply (moto made it a Deny).
- Service principals are checked where AWS checks them: `service_denial` answers whether a
  resource-based policy (a function's, a topic's, a queue's, a key's) lets a service act for a source.

Enforcement is always on once a local cloud runs; there is no switch for tests to turn it off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore import session as botocore_session
from botocore import signers
from botocore.credentials import Credentials
from moto import settings as moto_settings
from moto.core import authorization
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam import access_control as moto_access_control

from localcloud.iam_policies import Decision, Request, evaluate

log = logging.getLogger(__name__)

OPERATOR_USER = "localcloud-operator"
# The keys the harness, the README's AWS CLI lines and moto's own test environment sign with.
OPERATOR_KEYS = {"testing": "testing", "FOOBARKEY": "FOOBARSECRET"}
_ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
# IAM's action prefix where it differs from the SigV4 signing name.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
_JSON_SERVICES = {"dynamodb", "states", "lambda", "kms", "events", "logs", "sqs", "xray"}


@dataclass(frozen=True)
class Check:
    """One authorization AWS makes for a request: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass
class _Ledger:
    """What was checked, per principal: the figures the README and closing notes quote."""

    allowed: Counter[tuple[str, str]] = field(default_factory=Counter)
    denied: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, principal: str, action: str, ok: bool) -> None:
        with self.lock:
            (self.allowed if ok else self.denied)[(principal, action)] += 1


ledger = _Ledger()
_thread = threading.local()
_installed: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------------
# Credentials per invocation, never through os.environ
# ---------------------------------------------------------------------------------------------
def current_credentials() -> Credentials | None:
    return getattr(_thread, "credentials", None)


@contextlib.contextmanager
def acting_as(credentials: Credentials | None) -> Iterator[None]:
    """Requests signed on this thread inside the block use `credentials` (None: the client's own)."""
    previous = current_credentials()
    _thread.credentials = credentials
    try:
        yield
    finally:
        _thread.credentials = previous


_role_sessions: dict[tuple[str, str, str], Credentials] = {}
_role_lock = threading.Lock()


def role_credentials(account_id: str, role_arn: str, session_name: str) -> Credentials:
    """Temporary credentials of `role_arn`, as Lambda and Step Functions obtain them (moto's STS)."""
    from moto.sts.models import sts_backends

    key = (account_id, role_arn, session_name)
    with _role_lock:
        cached = _role_sessions.get(key)
        if cached is not None:
            return cached
        assumed = sts_backends[account_id]["aws"].assume_role(
            region_name="us-east-1",
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        credentials = Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
        _role_sessions[key] = credentials
        return credentials


def _get_auth_instance(self: Any, *args: Any, request_credentials: Any = None, **kwargs: Any) -> Any:
    return _installed["get_auth_instance"](
        self, *args, request_credentials=request_credentials or current_credentials(), **kwargs
    )


def _create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    """A client created inside an invocation is bound to the invocation's role (so a thread the
    handler starts, like the capture writer, still signs as the function)."""
    credentials = current_credentials()
    if credentials is not None and kwargs.get("aws_access_key_id") is None:
        kwargs.update(
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
        )
    return _installed["create_client"](self, *args, **kwargs)


# ---------------------------------------------------------------------------------------------
# The operator: the deployer's administrator credentials
# ---------------------------------------------------------------------------------------------
def create_operator(account_id: str) -> None:
    """The IAM user whose keys the harness, the CLI and CloudFormation sign with (after each reset)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    if any(user.name == OPERATOR_USER for user in iam.list_users("/", None, None)):
        return
    iam.create_user(None, OPERATOR_USER, "/", [])
    iam.put_user_policy(OPERATOR_USER, "administrator", _ADMINISTRATOR)
    for key_id, secret in OPERATOR_KEYS.items():
        access_key = iam.create_access_key(OPERATOR_USER)
        access_key.access_key_id = key_id
        access_key.secret_access_key = secret


# ---------------------------------------------------------------------------------------------
# What AWS checks for one request
# ---------------------------------------------------------------------------------------------
def _params(response: Any) -> dict[str, Any]:
    params = getattr(response, "params", None)
    if isinstance(params, dict) and params:
        return params
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, (str, bytes)) and body:
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                return parsed
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in (response.querystring or {}).items()}


def _dynamodb_checks(action: str, params: dict[str, Any], region: str, account: str) -> list[Check]:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if action == "TransactWriteItems":
        item_actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            Check(f"dynamodb:{item_actions[kind]}", table(body["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
            if kind in item_actions
        ]
    if action == "TransactGetItems":
        return [Check("dynamodb:GetItem", table(i["Get"]["TableName"])) for i in params.get("TransactItems", [])]
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [Check(f"dynamodb:{action}", table(name)) for name in params.get("RequestItems", {})]
    if "TableName" in params:
        return [Check(f"dynamodb:{action}", table(params["TableName"], params.get("IndexName")))]
    return [Check(f"dynamodb:{action}", "*")]


def _lambda_checks(response: Any, action: str, region: str, account: str) -> list[Check]:
    uri = getattr(response, "uri_match", None) or {}
    name = urllib.parse.unquote(str(uri.get("FunctionName") or _params(response).get("FunctionName") or ""))
    iam_action = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}.get(action, action)
    if not name:
        return [Check(f"lambda:{iam_action}", "*")]
    qualifier = (response.querystring or {}).get("Qualifier", [None])[0]
    if name.startswith("arn:"):
        arn = name
    elif ":" in name:  # name:qualifier
        base, _, qualifier = name.partition(":")
        arn = f"arn:aws:lambda:{region}:{account}:function:{base}"
    else:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return [Check(f"lambda:{iam_action}", arn)]


def normal_checks(response: Any, service: str, action: str, moto_resource: str) -> list[Check]:
    """The authorizations AWS makes for one API request of a JSON or query service."""
    region, account = response.region, response.current_account
    prefix = _IAM_PREFIX.get(service, service)
    params = _params(response)
    if service == "dynamodb":
        return _dynamodb_checks(action, params, region, account)
    if service == "sns":
        arn = params.get("TopicArn") or params.get("TargetArn") or params.get("SubscriptionArn") or "*"
        return [Check(f"sns:{action}", str(arn))]
    if service == "states":
        arn = params.get("stateMachineArn") or params.get("executionArn") or "*"
        return [Check(f"states:{action}", str(arn))]
    if service == "lambda":
        return _lambda_checks(response, action, region, account)
    if service == "events" and action == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])} or {"default"}
        return [
            Check("events:PutEvents", b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}")
            for b in sorted(buses)
        ]
    return [Check(f"{prefix}:{action}", moto_resource)]


_S3_IAM_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets",
    "ListMultipartUploads": "ListBucketMultipartUploads",
}


def s3_checks(response: Any, bucket_name: str | None, key_name: str | None) -> list[Check]:
    """S3's authorizations: the action by its IAM name, `s3:prefix` on listings, and a copy's source."""
    api_action = str(response.data.get("Action") or "")
    action = _S3_IAM_ACTIONS.get(api_action, api_action)
    if bucket_name is None:
        resource = "*"
    elif key_name:
        resource = f"arn:aws:s3:::{bucket_name}/{key_name}"
    else:
        resource = f"arn:aws:s3:::{bucket_name}"
    context: dict[str, str | list[str]] = {}
    querystring = response.querystring or {}
    if action in ("ListBucket", "ListBucketVersions"):
        context["s3:prefix"] = str((querystring.get("prefix") or [""])[0])
    checks = [Check(f"s3:{action}", resource, context)]
    source = response.headers.get("x-amz-copy-source")
    if source and action == "PutObject":
        path, _, query = urllib.parse.unquote(source).lstrip("/").partition("?")
        read = "GetObjectVersion" if "versionId=" in query else "GetObject"
        checks.append(Check(f"s3:{read}", f"arn:aws:s3:::{path}"))
    return checks


# ---------------------------------------------------------------------------------------------
# Deciding, and refusing as AWS refuses
# ---------------------------------------------------------------------------------------------
class _JsonAccessDeniedError(JsonRESTError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__("AccessDeniedException", message)
        self.code = status


class _QueryAccessDeniedError(_RESTError):
    code = 403

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)


def denial_message(principal: str, check: Check, decision: Decision) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.DENY
        else f"because no identity-based policy allows the {check.action} action"
    )
    return f"User: {principal} is not authorized to perform: {check.action} on resource: {check.resource} {why}"


def _identity_documents(iam_request: Any) -> list[Any]:
    documents = []
    for policy in iam_request._access_key.collect_policies():
        if isinstance(policy, str):
            documents.append(policy)
        elif isinstance(policy, dict):
            documents.append(policy["policy_document"])
        else:  # a managed Policy: its default version
            version = next(v for v in policy.versions if v.is_default)
            documents.append(version.document)
    return documents


def _authorize(response: Any, request_class: type, checks: list[Check], refuse: Callable[[str], Exception]) -> None:
    if authorization.ActionAuthenticatorMixin.request_count < moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
        authorization.ActionAuthenticatorMixin.request_count += 1
        return
    path = response.raw_path
    query = urllib.parse.urlparse(response.uri).query
    if query:
        path += "?" + query
    iam_request = request_class(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action() if request_class is moto_access_control.IAMRequest else response.data["Action"],
    )
    # The caller is known by its access key; the signature is not recomputed: moto's recomputation
    # differs from botocore's for some query strings (API Gateway's GetUsagePlans), and locally it
    # would prove only that the caller holds a secret every process here can read.
    principal = iam_request._access_key.arn
    documents = _identity_documents(iam_request)
    context_base: dict[str, str | list[str]] = {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": response.current_account,
    }
    for check in checks:
        decision = evaluate(
            documents,
            Request(check.action, check.resource, {**context_base, **check.context}, principal_arn=principal),
        )
        ledger.record(_principal_name(principal), check.action, decision is Decision.ALLOW)
        if decision is not Decision.ALLOW:
            message = denial_message(principal, check, decision)
            log.warning("AccessDenied: %s", message)
            raise refuse(message)


def _principal_name(arn: str) -> str:
    """The function name for an assumed role (its session name), the user name for a user."""
    return arn.rsplit("/", 1)[-1]


def _signing_service(response: Any) -> str:
    header = response.headers.get("Authorization") or ""
    scope = header.partition("Credential=")[2].partition(",")[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def _authenticate_and_authorize_normal_action(self: Any, resource: str = "*") -> None:
    service = _signing_service(self)
    action = self._get_action()
    if service in ("sts", "iam") or not service:
        return _installed["normal"](self, resource)  # type: ignore[no-any-return]
    checks = normal_checks(self, service, action, resource)

    def refuse(message: str) -> Exception:
        if service == "sns":
            return _QueryAccessDeniedError("AuthorizationError", message)
        if service in _JSON_SERVICES:
            return _JsonAccessDeniedError(message, 403 if service == "lambda" else 400)
        return _QueryAccessDeniedError("AccessDenied", message)

    _authorize(self, moto_access_control.IAMRequest, checks, refuse)
    return None


def _authenticate_and_authorize_s3_action(
    self: Any, bucket_name: str | None = None, key_name: str | None = None
) -> None:
    from moto.s3.exceptions import S3AccessDeniedError

    checks = s3_checks(self, bucket_name, key_name)

    def refuse(message: str) -> Exception:  # S3 answers AccessDenied without naming the action
        denied: Exception = S3AccessDeniedError()
        return denied

    _authorize(self, moto_access_control.S3IAMRequest, checks, refuse)


# ---------------------------------------------------------------------------------------------
# Step Functions signs its tasks with the state machine's role
# ---------------------------------------------------------------------------------------------
def _execution_role() -> tuple[str, str] | None:
    """(account, role ARN) of the execution whose state is running on this thread."""
    frame = sys._getframe(1)
    while frame is not None:
        env = frame.f_locals.get("env")
        states = getattr(env, "states", None)
        if states is not None:
            execution = states.context_object.context_object_data.get("Execution", {})
            role = execution.get("RoleArn")
            if role:
                return str(role).split(":")[4], str(role)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    client = _installed["boto_client_for"](region, service, state_credentials)
    found = _execution_role()
    if found is None:
        return client
    account, role = found
    credentials = role_credentials(account, role, "states-execution")
    import boto3

    factory: Any = boto3.client  # the stubs type client() per service literal; this takes any name
    return factory(
        service,
        region_name=region,
        endpoint_url=client.meta.endpoint_url if not _in_process() else None,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        config=client.meta.config,
    )


def _in_process() -> bool:
    from moto.core.models import botocore_stubber

    return bool(botocore_stubber.enabled)


_BOTO_CLIENT_FOR_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


# ---------------------------------------------------------------------------------------------
# Service principals against resource-based policies
# ---------------------------------------------------------------------------------------------
def service_denial(
    policy: Any, *, service: str, action: str, resource: str, source_arn: str, source_account: str
) -> str | None:
    """None when `policy` lets `service` do `action` on `resource` for `source_arn`; else AWS's reason."""
    context = {
        "aws:SourceArn": source_arn,
        "aws:SourceAccount": source_account,
        "aws:SourceOwner": source_account,  # the older key SNS's default topic policy tests
        "aws:SecureTransport": "true",
    }
    decision = evaluate([policy], Request(action, resource, context, service_principal=service))
    if decision is Decision.ALLOW:
        return None
    why = (
        "with an explicit deny in a resource-based policy"
        if decision is Decision.DENY
        else (f"because no resource-based policy allows the {action} action")
    )
    return f"{service} is not authorized to perform: {action} on resource: {resource} {why}"


def lambda_invoke_denial(function: Any, *, service: str, source_arn: str, source_account: str) -> str | None:
    """Whether the function's resource policy (AWS::Lambda::Permission) lets `service` invoke it."""
    document = {"Statement": list(getattr(function.policy, "statements", []) or [])}
    return service_denial(
        document,
        service=service,
        action="lambda:InvokeFunction",
        resource=function.function_arn,
        source_arn=source_arn,
        source_account=source_account,
    )


def topic_publish_denial(topic_arn: str, *, service: str, source_arn: str) -> str | None:
    """Whether `service` may publish to the topic: its policy, and its key's policy when encrypted."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    _, _, _, region, account, _ = topic_arn.split(":", 5)
    topic = sns_backends[account][region].get_topic(topic_arn)
    denial = service_denial(
        topic.policy,
        service=service,
        action="sns:Publish",
        resource=topic_arn,
        source_arn=source_arn,
        source_account=account,
    )
    if denial:
        return denial
    key_id = (getattr(topic, "kms_master_key_id", None) or "").strip()
    if not key_id or key_id.startswith("alias/aws/"):
        return None
    key = kms_backends[account][region].describe_key(key_id)
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        denial = service_denial(
            key.policy, service=service, action=action, resource=key.arn, source_arn=source_arn, source_account=account
        )
        if denial:
            return denial
    return None


def queue_send_denial(queue_arn: str, *, service: str, source_arn: str) -> str | None:
    """Whether `service` (e.g. EventBridge for a rule's dead-letter queue) may send to the queue."""
    from moto.sqs.models import sqs_backends

    _, _, _, region, account, name = queue_arn.split(":", 5)
    queue = sqs_backends[account][region].get_queue(name)
    policy = getattr(queue, "policy", None)
    return service_denial(
        policy,
        service=service,
        action="sqs:SendMessage",
        resource=queue_arn,
        source_arn=source_arn,
        source_account=account,
    )


# ---------------------------------------------------------------------------------------------
# Install / uninstall
# ---------------------------------------------------------------------------------------------
def install(account_id: str) -> None:
    """Turn enforcement on (server-wide: moto's switch is a process setting) and create the operator."""
    create_operator(account_id)
    if _installed:
        return
    import importlib

    _installed["no_auth_count"] = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    authorization.ActionAuthenticatorMixin.request_count = 0
    mixin = authorization.ActionAuthenticatorMixin
    _installed["normal"] = mixin._authenticate_and_authorize_normal_action
    _installed["s3"] = mixin._authenticate_and_authorize_s3_action
    mixin._authenticate_and_authorize_normal_action = _authenticate_and_authorize_normal_action  # type: ignore[method-assign]
    mixin._authenticate_and_authorize_s3_action = _authenticate_and_authorize_s3_action  # type: ignore[method-assign]
    _installed["get_auth_instance"] = signers.RequestSigner.get_auth_instance
    signers.RequestSigner.get_auth_instance = _get_auth_instance  # type: ignore[method-assign]
    _installed["create_client"] = botocore_session.Session.create_client
    botocore_session.Session.create_client = _create_client  # type: ignore[method-assign]
    from moto.stepfunctions.parser.asl.utils import boto_client

    _installed["boto_client_for"] = boto_client.boto_client_for
    for name in _BOTO_CLIENT_FOR_USERS:
        module = importlib.import_module(name)
        module.boto_client_for = _boto_client_for  # type: ignore[attr-defined]


def write_ledger(path: str) -> None:
    """Add this process's checks to a JSON file: {principal: {action: [allowed, denied]}}."""
    import fcntl

    with ledger.lock:
        counts: dict[str, dict[str, list[int]]] = {}
        for (principal, action), n in ledger.allowed.items():
            counts.setdefault(principal, {}).setdefault(action, [0, 0])[0] += n
        for (principal, action), n in ledger.denied.items():
            counts.setdefault(principal, {}).setdefault(action, [0, 0])[1] += n
        ledger.allowed.clear()
        ledger.denied.clear()
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        merged: dict[str, dict[str, list[int]]] = json.loads(text) if text.strip() else {}
        for principal, actions in counts.items():
            for action, (allowed, denied) in actions.items():
                pair = merged.setdefault(principal, {}).setdefault(action, [0, 0])
                pair[0] += allowed
                pair[1] += denied
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(merged, indent=1, sort_keys=True))


def uninstall() -> None:
    if not _installed:
        return
    ledger_path = os.environ.get("LOCALCLOUD_IAM_LEDGER")
    if ledger_path:  # e.g. to count the calls a test run checked per function
        write_ledger(ledger_path)
    import importlib

    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = _installed["no_auth_count"]
    mixin = authorization.ActionAuthenticatorMixin
    mixin._authenticate_and_authorize_normal_action = _installed["normal"]  # type: ignore[method-assign]
    mixin._authenticate_and_authorize_s3_action = _installed["s3"]  # type: ignore[method-assign]
    signers.RequestSigner.get_auth_instance = _installed["get_auth_instance"]  # type: ignore[method-assign]
    botocore_session.Session.create_client = _installed["create_client"]  # type: ignore[method-assign]
    for name in _BOTO_CLIENT_FOR_USERS:
        module = importlib.import_module(name)
        module.boto_client_for = _installed["boto_client_for"]  # type: ignore[attr-defined]
    _installed.clear()
    with _role_lock:
        _role_sessions.clear()
