"""Data access for the registry table (one DynamoDB table, single-table design).

Items written here, by access pattern:
- dataset version:   pk `DATASET#<dataset>`, sk `VERSION#<hash>`; listed newest first through
  gsi1 (`gsi1pk` `DATASET#<dataset>#VERSIONS`, `gsi1sk` `<created_at>#<hash>`).
- processed upload:  pk `DATASET#<dataset>`, sk `UPLOAD#<key>#<s3 version>`: makes a redelivered
  S3 event a no-op.
Every write that creates something is conditional, so retries and races never overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

GSI1 = "gsi1"


def dataset_pk(dataset: str) -> str:
    return f"DATASET#{dataset}"


@dataclass
class RegistryTable:
    table: Any  # a boto3 DynamoDB Table resource

    # -- dataset versions ------------------------------------------------------------------------
    def put_dataset_version(self, dataset: str, version: str, created_at: str, attributes: dict[str, Any]) -> bool:
        """Record a dataset version once; False when it already existed (same content uploaded again)."""
        item = {
            "pk": dataset_pk(dataset),
            "sk": f"VERSION#{version}",
            "kind": "dataset_version",
            "dataset": dataset,
            "version": version,
            "created_at": created_at,
            "gsi1pk": f"{dataset_pk(dataset)}#VERSIONS",
            "gsi1sk": f"{created_at}#{version}",
            **attributes,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get_dataset_version(self, dataset: str, version: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": f"VERSION#{version}"}).get("Item")
        return dict(item) if item else None

    def dataset_versions(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        response = self.table.query(
            IndexName=GSI1,
            KeyConditionExpression=Key("gsi1pk").eq(f"{dataset_pk(dataset)}#VERSIONS"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(item) for item in response.get("Items", [])]

    def latest_dataset_version(self, dataset: str) -> dict[str, Any] | None:
        versions = self.dataset_versions(dataset, limit=1)
        return versions[0] if versions else None

    # -- processed uploads ----------------------------------------------------------------------
    def processed_upload(self, dataset: str, key: str, s3_version: str | None) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": _upload_sk(key, s3_version)}).get("Item")
        return dict(item) if item else None

    def record_upload(self, dataset: str, key: str, s3_version: str | None, outcome: dict[str, Any]) -> bool:
        """Record how an upload ended; False if another delivery of the same event recorded it first."""
        item = {"pk": dataset_pk(dataset), "sk": _upload_sk(key, s3_version), "kind": "upload", **outcome}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _upload_sk(key: str, s3_version: str | None) -> str:
    return f"UPLOAD#{key}#{s3_version or 'null'}"
