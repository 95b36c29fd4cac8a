"""The model registry: one DynamoDB table for models, versions, aliases, datasets, runs and audit."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from infra.settings import PlatformSettings

# Secondary index used for "list by kind" access patterns (e.g. all models, versions by status).
GSI1 = "gsi1"


class Registry(Construct):
    """On-demand, point-in-time-recoverable single table; access patterns are documented in the README."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
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
        """Exact item-level actions on this table and its indexes."""
        self.table.grant(grantee, *actions)
        role = grantee.grant_principal
        if isinstance(role, iam.Role):
            logical = Stack.of(self).get_logical_id(self.table.node.default_child)  # type: ignore[arg-type]
            acknowledge(role, f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/index/*]", self._index_reason)
