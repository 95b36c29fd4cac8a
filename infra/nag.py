"""Template scanner suppressions, cdk-nag's and checkov's: every suppressed finding carries the reason it
is acceptable."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress one AwsSolutions finding (e.g. `AwsSolutions-IAM5[Resource::*]`) with a written reason."""
    _require_reason(rule_id, reason)
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule_id}", reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Suppress one checkov finding (e.g. `CKV_AWS_117`) on a resource with a written reason.

    checkov reads suppressions from the resource's own template metadata (`Metadata.checkov.skip`), so
    they travel with the resource; `construct` is the resource or an L2 construct wrapping one.
    """
    _require_reason(check_id, reason)
    resource = _resource_of(construct, f"skipping {check_id}")
    metadata: dict[str, Any] = dict(resource.get_metadata("checkov") or {})
    skips = [skip for skip in metadata.get("skip", []) if skip["id"] != check_id]
    metadata["skip"] = [*skips, {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)


def _require_reason(rule_id: str, reason: str) -> None:
    if len(reason.strip()) < 20:
        raise ValueError(f"suppressing {rule_id} needs a real reason, got {reason!r}")


# Shared by every Lambda function the stack defines (PlatformFunction and CDK's notifications handler).
CONCURRENCY_REASON = (
    "No reserved concurrency on purpose: reserving it fails the deploy in an account whose unreserved "
    "concurrency would drop below 100 (new accounts often have 10 in all). Load is bounded upstream "
    "instead: usage-plan throttling on the API, MaxConcurrency on the training Map, a lease per drift check."
)
NO_VPC_REASON = (
    "The function calls only AWS service APIs (S3, DynamoDB, SNS, Step Functions, CloudWatch) over TLS with "
    "its own least-privilege role and reaches no private network resource; a VPC would need NAT gateways or "
    "interface endpoints, billed by the hour per zone, against the platform's near-zero idle cost."
)
XRAY_REASON = (
    "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource-level permissions; AWS documents "
    "Resource '*' for them."
)


# CDK's singleton that writes S3 bucket notification configurations at deploy time (a fixed id in aws-cdk-lib).
CDK_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def acknowledge_cdk_notifications_handler(scope: IConstruct) -> None:
    """Acknowledge the findings on CDK's own notifications handler; call after `add_event_notification`.

    Any construct that subscribes a function to a bucket's events calls this; acknowledging twice is harmless.
    """
    handler = Stack.of(scope).node.try_find_child(CDK_NOTIFICATIONS_HANDLER_ID)
    if handler is None:
        return
    acknowledge(
        handler,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "CDK's own deploy-time handler that writes the bucket notification configuration; it runs only during "
        "deployments and CDK does not expose its role.",
    )
    acknowledge(
        handler,
        "AwsSolutions-IAM5[Resource::*]",
        "CDK's deploy-time notifications handler needs s3:PutBucketNotification; CDK grants it on '*'.",
    )
    # CDK builds this function and exposes none of its properties; it runs only while a deployment writes
    # the raw bucket's notification configuration.
    skip_checkov(
        handler,
        "CKV_AWS_116",
        "CDK's deploy-time notifications handler: CloudFormation invokes it once per deployment and fails "
        "that deployment when it does not answer, so a failed event is a failed stack operation to retry, "
        "not a message to replay from a dead-letter queue.",
    )
    skip_checkov(handler, "CKV_AWS_115", CONCURRENCY_REASON)
    skip_checkov(handler, "CKV_AWS_117", NO_VPC_REASON)


def logical_id(construct: IConstruct) -> str:
    """The logical id of a construct's resource, as cdk-nag names it in a finding's rule id."""
    return str(Stack.of(construct).get_logical_id(_resource_of(construct, "a logical id")))


def _resource_of(construct: IConstruct, purpose: str) -> CfnResource:
    """The resource itself, or the one an L2 construct wraps (its default child)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{purpose}: {construct.node.path} is not a CloudFormation resource")
    return resource
