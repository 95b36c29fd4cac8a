"""The platform's DynamoDB tables are made and granted one way: on demand, point-in-time recoverable,
encrypted with the platform's key, and reachable only through exact item actions plus the key use
DynamoDB makes on the caller's behalf."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.settings import PlatformSettings

# DynamoDB uses the table's customer-managed key on behalf of the caller, so a role that reads items
# needs these on the key, and one that writes items the write set too (as CDK's grantReadData and
# grantWriteData give; the generic Table.grant gives none).
KEY_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")
_WRITE_ITEM_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def platform_table(
    scope: Construct, construct_id: str, *, settings: PlatformSettings, key: kms.IKey, time_to_live: str | None = None
) -> dynamodb.Table:
    """A `pk`/`sk` string table; retained (and protected from deletion) when the settings keep data."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=time_to_live,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        deletion_protection=settings.retain_data_on_delete,
        removal_policy=RemovalPolicy.RETAIN if settings.retain_data_on_delete else RemovalPolicy.DESTROY,
    )


def grant_table_items(table: dynamodb.Table, key: kms.IKey, grantee: iam.IGrantable, *actions: str) -> None:
    """Exact item-level actions on `table` (and its indexes), and the key use they need, through DynamoDB only."""
    table.grant(grantee, *actions)
    key_actions = KEY_READ_ACTIONS + (KEY_WRITE_ACTIONS if _WRITE_ITEM_ACTIONS & set(actions) else ())
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(key_actions),
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(table).region}.amazonaws.com"}},
        )
    )
