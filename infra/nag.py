"""cdk-nag acknowledgments: every suppressed finding carries the reason it is acceptable."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress one AwsSolutions finding (e.g. `AwsSolutions-IAM5[Resource::*]`) with a written reason."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule_id}", reason=reason))


XRAY_REASON = (
    "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource-level permissions; AWS documents "
    "Resource '*' for them."
)


def grant_objects(grantee: iam.IGrantable, bucket: s3.IBucket, actions: list[str], key_pattern: str) -> None:
    """Exact S3 object actions on one key prefix: narrower than the L2 grants' `s3:GetObject*`-style sets."""
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects(key_pattern)])
    role = grantee.grant_principal
    if isinstance(role, iam.Role):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(bucket)}.Arn>/{key_pattern}]",
            f"Object access is limited to the '{key_pattern}' prefix of this bucket, which is where this "
            "function's data lives; object ARNs cannot be named individually in advance.",
        )


def grant_listing(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str | None = None) -> None:
    """ListBucket, limited to keys under `prefix` when one is given (the `s3:prefix` condition)."""
    if prefix is None:
        iam.Grant.add_to_principal(grantee=grantee, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn])
        return
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        )
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


def _logical_id(bucket: s3.IBucket) -> str:
    return str(Stack.of(bucket).get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
