"""The records ingestion keeps on the registry table: each accepted dataset version (`DatasetVersion`,
what training and the CLI list and choose from), and how each upload ended, so a redelivered S3
event is a no-op. Both are written once, conditionally: retries and races never overwrite.
Keys: mlops.registry.keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.registry.keys import (
    GSI1,
    KEY_ATTRIBUTES,
    dataset_pk,
    dataset_version_order,
    dataset_version_sk,
    dataset_versions_partition,
    upload_sk,
)
from mlops.registry.numbers import from_dynamo, to_dynamo

DATASET_VERSION_KIND = "dataset_version"


@dataclass(frozen=True, kw_only=True)
class DatasetVersion:
    """One accepted dataset version: its content hash, when it was accepted, and where its manifest is."""

    dataset: str
    version: str  # the content hash of its rows
    created_at: str  # when it was accepted (ISO 8601): the order training combines versions in
    manifest_key: str  # curated bucket: the manifest naming its data and columns (a version exists once it does)
    rows: int | None = None
    contract_version: int | None = None  # also in the manifest; here so listing needs not read it
    source_key: str | None = None  # the raw upload it came from
    source_version: str | None = None  # that upload's S3 version ("unversioned" without versioning)
    extra: Mapping[str, Any] = field(default_factory=dict)  # attributes not named above, as stored

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DatasetVersion:
        """The version in a stored item; KeyError names a missing `dataset`, `version`, `created_at` or
        `manifest_key`."""
        plain: dict[str, Any] = from_dynamo(dict(item))
        named = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in plain.items() if k in named and v is not None}
        return cls(
            **{
                **known,
                "dataset": str(plain["dataset"]),
                "version": str(plain["version"]),
                "created_at": str(plain["created_at"]),
                "manifest_key": str(plain["manifest_key"]),
            },
            extra={k: v for k, v in plain.items() if k not in named and k not in (*KEY_ATTRIBUTES, "kind")},
        )

    def to_item(self) -> dict[str, Any]:
        """The stored item, keys included; an attribute left None is not written."""
        named = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {
            "pk": dataset_pk(self.dataset),
            "sk": dataset_version_sk(self.version),
            "kind": DATASET_VERSION_KIND,
            "gsi1pk": dataset_versions_partition(self.dataset),
            "gsi1sk": dataset_version_order(self.created_at, self.version),
            **to_dynamo({k: v for k, v in named.items() if v is not None}),
            **to_dynamo(dict(self.extra)),
        }


@dataclass
class DatasetRecords:
    """Dataset versions and processed uploads on the registry table."""

    table: Any  # a boto3 DynamoDB Table resource

    # -- dataset versions ------------------------------------------------------------------------
    def put_dataset_version(self, record: DatasetVersion) -> bool:
        """Record a dataset version once; False when it already existed (same content uploaded again)."""
        try:
            self.table.put_item(Item=record.to_item(), ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get_dataset_version(self, dataset: str, version: str) -> DatasetVersion | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": dataset_version_sk(version)}).get("Item")
        return DatasetVersion.from_item(item) if item else None

    def dataset_versions(self, dataset: str, *, limit: int = 50) -> list[DatasetVersion]:
        """Newest first."""
        response = self.table.query(
            IndexName=GSI1,
            KeyConditionExpression=Key("gsi1pk").eq(dataset_versions_partition(dataset)),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [DatasetVersion.from_item(item) for item in response.get("Items", [])]

    def all_dataset_versions(self, dataset: str) -> list[DatasetVersion]:
        """Every accepted version, oldest first (the order training combines them in), page by page."""
        versions: list[DatasetVersion] = []
        start: dict[str, Any] = {}
        while True:
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(dataset_versions_partition(dataset)),
                ScanIndexForward=True,
                **start,
            )
            versions += [DatasetVersion.from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return versions
            start = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def latest_dataset_version(self, dataset: str) -> DatasetVersion | None:
        versions = self.dataset_versions(dataset, limit=1)
        return versions[0] if versions else None

    # -- processed uploads ----------------------------------------------------------------------
    def processed_upload(self, dataset: str, key: str, s3_version: str | None) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": upload_sk(key, s3_version)}).get("Item")
        return dict(item) if item else None

    def record_upload(self, dataset: str, key: str, s3_version: str | None, outcome: dict[str, Any]) -> bool:
        """Record how an upload ended; False if another delivery of the same event recorded it first."""
        item = {"pk": dataset_pk(dataset), "sk": upload_sk(key, s3_version), "kind": "upload", **outcome}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
