"""IAM grants narrower than CDK's L2 grants: exact actions on one key prefix of a bucket."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.nag import acknowledge, logical_id


def grant_objects(grantee: iam.IGrantable, bucket: s3.IBucket, actions: list[str], key_pattern: str) -> None:
    """Exact S3 object actions on one key prefix: narrower than the L2 grants' `s3:GetObject*`-style sets."""
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects(key_pattern)])
    role = grantee.grant_principal
    if isinstance(role, iam.Role):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{key_pattern}]",
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
