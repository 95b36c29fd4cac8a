"""Performance checks on the registry table: one summary row per check of a model (the full report
stays in S3), listed newest first for the API, the CLI and the report's chart over time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.registry.keys import PERFORMANCE_RESULTS, model_pk, performance_sk

PERFORMANCE_KIND = "performance_result"


@dataclass
class PerformanceChecks:
    table: Any  # a boto3 DynamoDB Table resource

    def put_performance_result(self, name: str, checked_at: str, summary: Mapping[str, Any]) -> bool:
        """One summary row per check (`summary`: PerformanceSummary.attributes(), numbers as
        Decimal); a rerun of the same check (same model and time) is a no-op and returns False."""
        item = {
            **summary,
            "pk": model_pk(name),
            "sk": performance_sk(checked_at),
            "kind": PERFORMANCE_KIND,
            "model": name,
            "checked_at": checked_at,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def performance_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with(PERFORMANCE_RESULTS),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(i) for i in response.get("Items", [])]
