"""The model registry: one DynamoDB table for models, versions, aliases, datasets, runs and audit."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constructs.tables import grant_table_items, platform_table
from infra.nag import acknowledge, logical_id
from infra.settings import PlatformSettings

# Secondary index used for "list by kind" access patterns (e.g. all models, versions by status).
GSI1 = "gsi1"


class Registry(Construct):
    """On-demand, point-in-time-recoverable single table encrypted with the platform's key; access
    patterns are documented in the README."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = platform_table(self, "Table", settings=settings, key=key)
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
        grant_table_items(self.table, self.key, grantee, *actions)
        role = grantee.grant_principal
        if isinstance(role, iam.Role):
            rule = f"AwsSolutions-IAM5[Resource::<{logical_id(self.table)}.Arn>/index/*]"
            acknowledge(role, rule, self._index_reason)
