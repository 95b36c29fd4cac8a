"""Training runs on the registry table: one record per run, written when it starts and updated as
it ends, listed per dataset newest first. A run names the version it registered, which is what makes
a retried registration return that version instead of registering a second one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.registry.keys import GSI1, META_SK, run_pk, runs_partition


@dataclass
class TrainingRuns:
    table: Any  # a boto3 DynamoDB Table resource

    def start_run(self, run_id: str, attributes: dict[str, Any]) -> bool:
        """Record a run once; False when it was already recorded (a retried first step)."""
        item = {
            "pk": run_pk(run_id),
            "sk": META_SK,
            "kind": "training_run",
            "run_id": run_id,
            "status": "running",
            "gsi1pk": runs_partition(attributes["dataset"]),
            "gsi1sk": f"{attributes['started_at']}#{run_id}",
            **attributes,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update_run(self, run_id: str, changes: dict[str, Any]) -> None:
        names = {f"#k{i}": key for i, key in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        self.table.update_item(
            Key={"pk": run_pk(run_id), "sk": META_SK},
            UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(changes))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": run_pk(run_id), "sk": META_SK}).get("Item")
        return dict(item) if item else None

    def runs_for_dataset(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, up to `limit`, over as many pages as a query needs (a page stops at 1 MB,
        and a run with a searched grid holds every trial)."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while len(items) < limit:
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(runs_partition(dataset)),
                ScanIndexForward=False,
                Limit=limit - len(items),
                **start,
            )
            items += [dict(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            start = {"ExclusiveStartKey": response["LastEvaluatedKey"]}
        return items
