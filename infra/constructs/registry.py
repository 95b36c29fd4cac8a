"""The model registry: one DynamoDB table for models, versions, aliases, datasets, runs and audit."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.nag import acknowledge, logical_id
from infra.settings import PlatformSettings

# Secondary index used for "list by kind" access patterns (e.g. all models, versions by status).
GSI1 = "gsi1"
# DynamoDB uses the table's customer-managed key on behalf of the caller, so a role that reads items
# needs these on the key, and one that writes items the write set too (as CDK's grantReadData and
# grantWriteData give; the generic Table.grant gives none).
KEY_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")
_WRITE_ITEM_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


class Registry(Construct):
    """On-demand, point-in-time-recoverable single table encrypted with the platform's key; access
    patterns are documented in the README."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            deletion_protection=settings.retain_data_on_delete,
            removal_policy=RemovalPolicy.RETAIN if settings.retain_data_on_delete else RemovalPolicy.DESTROY,
        )
        self._index_reason = (
            "Queries go through the table's secondary indexes, whose ARNs are the table ARN + /index/<name>; "
            "access is limited to this one table."
        )
        self.table.add_global_secondary_index(
            index_name=GSI1,
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
        )

    def grant_items(self, grantee: iam.IGrantable, *actions: str) -> None:
        """Exact item-level actions on this table and its indexes, and the key use they need, through DynamoDB only."""
        self.table.grant(grantee, *actions)
        key_actions = KEY_READ_ACTIONS + (KEY_WRITE_ACTIONS if _WRITE_ITEM_ACTIONS & set(actions) else ())
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(key_actions),
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
        role = grantee.grant_principal
        if isinstance(role, iam.Role):
            rule = f"AwsSolutions-IAM5[Resource::<{logical_id(self.table)}.Arn>/index/*]"
            acknowledge(role, rule, self._index_reason)
