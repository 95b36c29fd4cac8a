"""The records ingestion keeps on the registry table: each accepted dataset version (`DatasetVersion`,
what training and the CLI list and choose from), and how each upload ended, so a redelivered S3
event is a no-op. Both are written once, conditionally: retries and races never overwrite.
Each multi-file upload folder (`UploadFolder`) is updated as its files and its commit marker land,
each write conditional on what it must not undo (a commit, a newer file).
Keys: mlops.registry.keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.registry.keys import (
    GSI1,
    KEY_ATTRIBUTES,
    OPEN_UPLOAD_FOLDERS,
    dataset_pk,
    dataset_version_order,
    dataset_version_sk,
    dataset_versions_partition,
    open_folder_order,
    upload_folder_sk,
    upload_sk,
)
from mlops.registry.numbers import from_dynamo, to_dynamo

DATASET_VERSION_KIND = "dataset_version"
UPLOAD_FOLDER_KIND = "upload_folder"


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


@dataclass(frozen=True, kw_only=True)
class UploadFolder:
    """A multi-file upload folder as ingestion has seen it. Times are ISO 8601 in UTC with microseconds,
    so that DynamoDB's string order is their order."""

    dataset: str
    folder: str  # raw/<dataset>/<upload>, no trailing slash
    first_at: str  # when its first file was seen
    newest_at: str  # when its newest file was seen
    committed_at: str | None = None  # its commit marker's LastModified, once the marker is written
    reported_at: str | None = None  # `newest_at` when it was last reported without its marker

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> UploadFolder:
        def text(name: str) -> str | None:
            return str(item[name]) if item.get(name) is not None else None

        return cls(
            dataset=str(item["dataset"]),
            folder=str(item["folder"]),
            first_at=str(item["first_at"]),
            newest_at=str(item.get("newest_at") or item["first_at"]),
            committed_at=text("committed_at"),
            reported_at=text("reported_at"),
        )


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

    # -- multi-file upload folders --------------------------------------------------------------
    # Every attribute through a name placeholder (`#kind`): DynamoDB reserves hundreds of words
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html).
    def note_folder_file(self, dataset: str, folder: str, at: str) -> UploadFolder:
        """A file of `folder` seen at `at`: the folder is open (listed for the scheduled check, from its
        newest file) unless its marker was written. The record as it stands afterwards; a commit or a
        newer file already recorded is left as it is (events arrive in any order, some twice)."""
        key = {"pk": dataset_pk(dataset), "sk": upload_folder_sk(folder)}
        update = f"{_FOLDER_NAMED}, #newest = :at, #gsi1pk = :open, #gsi1sk = :order"
        condition = "attribute_not_exists(#committed) AND (attribute_not_exists(#newest) OR #newest <= :at)"
        try:
            response = self.table.update_item(
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update, condition),
                ExpressionAttributeValues={
                    **_folder_values(dataset, folder, at),
                    ":open": OPEN_UPLOAD_FOLDERS,
                    ":order": open_folder_order(at, folder),
                },
                ReturnValues="ALL_NEW",
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return UploadFolder.from_item(self.table.get_item(Key=key, ConsistentRead=True)["Item"])
        return UploadFolder.from_item(response["Attributes"])

    def commit_folder(self, dataset: str, folder: str, committed_at: str) -> UploadFolder:
        """The folder's commit marker, written at `committed_at`: no longer open; a file written after
        it is not part of the upload."""
        update = f"{_FOLDER_NAMED}, #committed = :at REMOVE #gsi1pk, #gsi1sk"
        response = self.table.update_item(
            Key={"pk": dataset_pk(dataset), "sk": upload_folder_sk(folder)},
            UpdateExpression=update,
            ExpressionAttributeNames=_names(update),
            ExpressionAttributeValues=_folder_values(dataset, folder, committed_at),
            ReturnValues="ALL_NEW",
        )
        return UploadFolder.from_item(response["Attributes"])

    def overdue_folders(self, newest_before: str) -> list[UploadFolder]:
        """Open folders whose newest file was seen before `newest_before`, oldest first, page by page:
        one range of the sparse index, however many uploads were committed before."""
        found: list[UploadFolder] = []
        start: dict[str, Any] = {}
        while True:
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(OPEN_UPLOAD_FOLDERS) & Key("gsi1sk").lt(newest_before),
                **start,
            )
            found += [UploadFolder.from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            start = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def close_folder(self, folder: UploadFolder, *, reported: bool) -> bool:
        """Take the folder off the open list (recording that it was reported), unless a newer file or its
        marker arrived since it was read: False then, and it stays as they left it."""
        update = ("SET #reported = :newest " if reported else "") + "REMOVE #gsi1pk, #gsi1sk"
        condition = "#newest = :newest AND attribute_not_exists(#committed)"
        try:
            self.table.update_item(
                Key={"pk": dataset_pk(folder.dataset), "sk": upload_folder_sk(folder.folder)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update, condition),
                ExpressionAttributeValues={":newest": folder.newest_at},
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


_FOLDER_NAMES = {
    "#kind": "kind",
    "#dataset": "dataset",
    "#folder": "folder",
    "#first": "first_at",
    "#newest": "newest_at",
    "#committed": "committed_at",
    "#reported": "reported_at",
    "#gsi1pk": "gsi1pk",
    "#gsi1sk": "gsi1sk",
}
# What every write of an upload folder sets: it may be the folder's first.
_FOLDER_NAMED = "SET #kind = :kind, #dataset = :dataset, #folder = :folder, #first = if_not_exists(#first, :at)"


def _names(*expressions: str) -> dict[str, str]:
    """The placeholders the expressions use (DynamoDB refuses one given and not used)."""
    used = {name for expression in expressions for name in re.findall(r"#\w+", expression)}
    return {name: attribute for name, attribute in _FOLDER_NAMES.items() if name in used}


def _folder_values(dataset: str, folder: str, at: str) -> dict[str, str]:
    return {":kind": UPLOAD_FOLDER_KIND, ":dataset": dataset, ":folder": folder, ":at": at}
