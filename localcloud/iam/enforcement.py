"""Every request to moto decided as IAM decides it, and refused with AWS's error and wording.

moto's own authorizer matches DynamoDB, SNS, Step Functions and Lambda requests against resource `*`,
ignores conditions and turns a statement whose condition fails into a Deny. Here moto's two
authorization entry points (JSON/query services and S3) are replaced: the caller is known by its
access key, the checks come from `localcloud.iam.checks`, and each is decided by
`localcloud.iam.policies` against the caller's identity policies.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

from moto import settings as moto_settings
from moto.core import authorization
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam import access_control as moto_access_control

from localcloud.iam.checks import Check, normal_checks, s3_checks
from localcloud.iam.ledger import ledger
from localcloud.iam.policies import Decision, Request, evaluate
from localcloud.s3.presigned_urls import PresignedUrlRefusedError, signer_headers

log = logging.getLogger(__name__)

_JSON_SERVICES = {"dynamodb", "states", "lambda", "kms", "events", "logs", "sqs", "xray", "ecs"}
_originals: dict[str, Any] = {}


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


def identity_documents(access_key: Any) -> list[Any]:
    """The identity policies of the principal behind one of moto's access keys (a user's or a role session's)."""
    documents = []
    for policy in access_key.collect_policies():
        if isinstance(policy, str):
            documents.append(policy)
        elif isinstance(policy, dict) and "policy_document" in policy:
            documents.append(policy["policy_document"])
        elif isinstance(policy, dict):  # a role's inline `Policies` from CloudFormation: moto keeps the document
            documents.append(json.dumps(policy))
        else:  # a managed Policy: its default version
            version = next(v for v in policy.versions if v.is_default)
            documents.append(version.document)
    return documents


def _authorize(
    response: Any,
    request_class: type,
    checks: list[Check],
    refuse: Callable[[str], Exception],
    headers: Any = None,
) -> None:
    """Decide `checks` for the request's caller (known from `headers`, default the request's own)."""
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
        headers=response.headers if headers is None else headers,
        action=response._get_action() if request_class is moto_access_control.IAMRequest else response.data["Action"],
    )
    # The caller is known by its access key; the signature is not recomputed: moto's recomputation
    # differs from botocore's for some query strings (API Gateway's GetUsagePlans), and locally it
    # would prove only that the caller holds a secret every process here can read.
    principal = iam_request._access_key.arn
    documents = identity_documents(iam_request._access_key)
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
        return _originals["normal"](self, resource)  # type: ignore[no-any-return]
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
    from moto.s3.exceptions import S3AccessDeniedError, S3ClientError

    checks = s3_checks(self, bucket_name, key_name)

    def refuse(message: str) -> Exception:  # S3 answers AccessDenied without naming the action
        denied: Exception = S3AccessDeniedError()
        return denied

    if authorization.ActionAuthenticatorMixin.request_count < moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
        _authorize(self, moto_access_control.S3IAMRequest, checks, refuse)  # counts the request, decides nothing
        return
    try:  # a presigned URL names its signer in the query (localcloud.s3.presigned_urls)
        headers = signer_headers(self.headers, self.querystring or {})
    except PresignedUrlRefusedError as refused:
        log.warning("AccessDenied: %s", refused)
        raise S3ClientError("AccessDenied", str(refused)) from None  # S3's own words ("Request has expired")
    _authorize(self, moto_access_control.S3IAMRequest, checks, refuse, headers)


def install() -> None:
    """Turn enforcement on (server-wide: moto's switch is a process setting)."""
    _originals["no_auth_count"] = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    authorization.ActionAuthenticatorMixin.request_count = 0
    mixin = authorization.ActionAuthenticatorMixin
    _originals["normal"] = mixin._authenticate_and_authorize_normal_action
    _originals["s3"] = mixin._authenticate_and_authorize_s3_action
    mixin._authenticate_and_authorize_normal_action = _authenticate_and_authorize_normal_action  # type: ignore[method-assign]
    mixin._authenticate_and_authorize_s3_action = _authenticate_and_authorize_s3_action  # type: ignore[method-assign]


def uninstall() -> None:
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = _originals["no_auth_count"]
    mixin = authorization.ActionAuthenticatorMixin
    mixin._authenticate_and_authorize_normal_action = _originals["normal"]  # type: ignore[method-assign]
    mixin._authenticate_and_authorize_s3_action = _originals["s3"]  # type: ignore[method-assign]
    _originals.clear()
