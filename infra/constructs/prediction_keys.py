"""The keys predictions were made with (issue #19): a label may name its prediction by the request's
`x-request-key` or the row's id field, and this table says which request id that was. Its items
expire with the label horizon (DynamoDB TTL), so it holds at most a horizon of traffic."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constructs.tables import grant_table_items, platform_table
from infra.settings import PlatformSettings
from mlops.serving.prediction_keys import EXPIRY_ATTRIBUTE


class PredictionKeysTable(Construct):
    """On-demand and encrypted with the platform's key; point-in-time recovery on, as for every table
    whose loss loses data (here: labels sent by key for predictions already made)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = platform_table(self, "Table", settings=settings, key=key, time_to_live=EXPIRY_ATTRIBUTE)

    def grant_record(self, grantee: iam.IGrantable) -> None:
        """Write keys (the predict function, as capture batches land)."""
        grant_table_items(self.table, self.key, grantee, "dynamodb:BatchWriteItem")

    def grant_resolve(self, grantee: iam.IGrantable) -> None:
        """Look keys up (whoever takes labels: the predict API's feedback route, the feedback function)."""
        grant_table_items(self.table, self.key, grantee, "dynamodb:Query")
