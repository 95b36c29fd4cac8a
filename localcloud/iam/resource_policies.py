"""Service principals checked where AWS checks them, against resource-based policies.

`service_denial` answers whether a resource-based policy (a function's, a topic's, a queue's, a key's)
lets a service (S3, EventBridge, CloudWatch, API Gateway) act for a source; the services the local
cloud runs ask it before they deliver, and drop or fail the delivery as AWS does when it says no.
"""

from __future__ import annotations

from typing import Any

from localcloud.iam.policies import Decision, Request, evaluate


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
