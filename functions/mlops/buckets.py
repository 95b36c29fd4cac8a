"""Data access for the platform's buckets: one class per bucket purpose, created once per container."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops.names import DEFINITION_SUFFIXES

# Contracts and training configs, in the order the functions look for them (`<folder>/<dataset><suffix>`).


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    version_id: str | None
    etag: str | None
    size: int


@dataclass
class RawBucket:
    """Uploads from the data team, never modified by the platform; its one writer is the feedback
    loop, which adds labelled traffic as a new upload (`raw/<dataset>/feedback-…`), never replaces one."""

    s3: Any
    name: str

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type)

    def read(self, key: str, version_id: str | None = None) -> StoredObject:
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        response = self.s3.get_object(**kwargs)
        body = response["Body"].read()
        return StoredObject(body, response.get("VersionId"), response.get("ETag", "").strip('"') or None, len(body))

    def read_range(self, key: str, version_id: str | None, start: int, stop: int) -> bytes:
        """Bytes `start` to `stop` (excluded) of one object version: a slice of a big upload."""
        if stop <= start:
            return b""
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key, "Range": f"bytes={start}-{stop - 1}"}
        if version_id:
            kwargs["VersionId"] = version_id
        return self.s3.get_object(**kwargs)["Body"].read()  # type: ignore[no-any-return]

    def head(self, key: str) -> tuple[int, str | None]:
        """(size, S3 version) of the object's current version."""
        response = self.s3.head_object(Bucket=self.name, Key=key)
        return int(response["ContentLength"]), response.get("VersionId")

    def last_modified(self, key: str, version_id: str | None = None) -> datetime:
        """When one object version was written (S3's LastModified)."""
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        return self.s3.head_object(**kwargs)["LastModified"]  # type: ignore[no-any-return]

    def listing(self, prefix: str) -> list[tuple[str, int, datetime]]:
        """(key, size, last modified) of every object under `prefix` (all pages)."""
        found: list[tuple[str, int, datetime]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            found += [(str(o["Key"]), int(o["Size"]), o["LastModified"]) for o in page.get("Contents", [])]
        return found


@dataclass
class ArtifactsBucket:
    """Contracts, training configs, reports and models."""

    s3: Any
    name: str

    def contract_text(self, dataset: str) -> tuple[str, bytes] | None:
        """The dataset's contract (`contracts/<dataset>.yaml|.yml|.json`), with its key, or None."""
        return self.get_first([f"contracts/{dataset}{suffix}" for suffix in DEFINITION_SUFFIXES])

    def config_text(self, dataset: str) -> tuple[str, bytes] | None:
        """The dataset's training config (`configs/<dataset>.yaml|.yml|.json`), with its key, or None."""
        return self.get_first([f"configs/{dataset}{suffix}" for suffix in DEFINITION_SUFFIXES])

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()  # type: ignore[no-any-return]

    def presigned_get(self, key: str, seconds: int) -> str:
        """A URL that GETs `key` with no credentials of its own, for `seconds` or until the signer's
        session ends (mlops.registry.downloads)."""
        params = {"Bucket": self.name, "Key": key}
        return str(self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (all pages)."""
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            found += [str(o["Key"]) for o in page.get("Contents", [])]
        return found

    def folders(self, prefix: str) -> list[str]:
        """The folders directly under `prefix` (`<prefix><name>/`, all pages), without listing their keys."""
        found: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix, Delimiter="/")
        for page in pages:
            found += [str(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
        return found

    def get_first(self, keys: list[str]) -> tuple[str, bytes] | None:
        """The first of `keys` that exists (e.g. a config as .yaml, .yml or .json), with its key."""
        for key in keys:
            try:
                return key, self.get(key)
            except self.s3.exceptions.NoSuchKey:
                continue
        return None


@dataclass
class CuratedBucket:
    """Dataset versions. Objects are written once under a content-addressed prefix and never changed."""

    s3: Any
    name: str

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.name, Key=key)
        except self.s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type)

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()  # type: ignore[no-any-return]

    def copy_from(self, source_bucket: str, source_key: str, key: str) -> None:
        """A server-side copy (no bytes through the function): a checked part, once its version is accepted."""
        self.s3.copy_object(Bucket=self.name, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key})


@dataclass
class QuarantineBucket:
    """Rejected uploads, copied byte for byte (the raw object stays where it was), with their reports."""

    s3: Any
    name: str

    def keep(self, source_bucket: str, source_key: str, source_version: str | None, key: str) -> None:
        source: dict[str, str] = {"Bucket": source_bucket, "Key": source_key}
        if source_version:
            source["VersionId"] = source_version
        self.s3.copy_object(Bucket=self.name, Key=key, CopySource=source)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type)
