"""An AWS_IAM method's second check: the signer's identity policies must allow `execute-api:Invoke`
on the method's ARN, or API Gateway answers 403 naming the user, the action and the resource.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html

The signer is the access key the request's signature names (its session token too, for a role's
key), decided by `localcloud.iam` as every other request here. A key the local IAM does not know
(made-up test keys) is let through as before this check existed: the signature itself is never
verified here, so refusing unknown keys would prove nothing more.
"""

from __future__ import annotations

from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

from localcloud.apigateway.gateway_responses import ACCESS_DENIED, GatewayError
from localcloud.iam.enforcement import identity_documents
from localcloud.iam.policies import Decision, Request, evaluate


def check_invoke(account_id: str, access_key_id: str, session_token: str | None, method_arn: str) -> None:
    """Raise API Gateway's 403 unless the signer may invoke `method_arn`."""
    headers = {"X-Amz-Security-Token": session_token} if session_token else {}
    try:
        key = create_access_key(account_id=account_id, partition="aws", access_key_id=access_key_id, headers=headers)
        principal = str(key.arn)
    except CreateAccessKeyFailure:  # a key the local IAM never issued
        return
    request = Request("execute-api:Invoke", method_arn, {"aws:PrincipalArn": principal}, principal_arn=principal)
    if evaluate(identity_documents(key), request) is not Decision.ALLOW:
        raise GatewayError(
            ACCESS_DENIED,
            403,
            f"User: {principal} is not authorized to perform: execute-api:Invoke on resource: {method_arn}",
            "AccessDeniedException",
            message_key="Message",
        )
