"""The bucket batch scoring reads its inputs from and writes its outputs to: S3 in the Lambda (the
raw bucket, under `batch/`), a dict in tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mlops.serving.batch.reading import Readable

# Without s3:ListBucket, S3 answers a read of a missing key with 403 rather than 404.
_ABSENT_CODES = ("NoSuchKey", "404", "NotFound", "AccessDenied", "403")


@dataclass
class OpenedObject:
    body: Readable
    version_id: str | None
    etag: str | None
    size: int
    close: Callable[[], None] = lambda: None


class BatchStore(Protocol):
    """The bucket holding inputs and outputs (S3 in the Lambda, a dict in tests)."""

    def open(self, key: str) -> OpenedObject: ...

    def get_json(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...


def _log_delete_failure(key: str, error: Exception) -> None:
    logging.getLogger(__name__).warning("could not delete a stale batch output %s: %s", key, error)


class S3BatchStore:
    """The raw bucket as batch scoring uses it: stream an input, read and write the outputs.

    `on_delete_failure` hears a stale output that could not be deleted (the function logs it)."""

    def __init__(
        self, s3: Any, bucket: str, on_delete_failure: Callable[[str, Exception], None] = _log_delete_failure
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.on_delete_failure = on_delete_failure

    def open(self, key: str) -> OpenedObject:
        """The current version, streamed: reading by VersionId would need s3:GetObjectVersion, and the
        version returned is compared with the event's instead (a replaced file is scored by its own event)."""
        response = self.s3.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        return OpenedObject(
            body=body,
            version_id=response.get("VersionId"),
            etag=str(response.get("ETag", "")).strip('"') or None,
            size=int(response.get("ContentLength", 0)),
            close=body.close,
        )

    def get_json(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in _ABSENT_CODES:
                return None
            raise
        try:
            document = json.loads(body)
        except ValueError:
            return None  # not ours, or damaged: treated as absent, and replaced
        return document if isinstance(document, dict) else None

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def delete(self, key: str) -> None:
        """Best effort: a stale marker or part left behind is named in the logs, never fails the file."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as error:
            self.on_delete_failure(key, error)


class RangedObjects(Protocol):
    """A bucket read by byte ranges and written whole: a big input scored in parts (the raw bucket),
    and the run's work folder (the artifacts bucket)."""

    def stream(self, key: str, version_id: str | None, start: int, stop: int) -> Readable:
        """Bytes `start` to `stop` (excluded) of one object version, streamed."""
        ...

    def get(self, key: str) -> bytes | None:
        """The whole object, None when it is absent."""
        ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...


class S3Objects:
    """One bucket through ranged GETs (by VersionId when one is given: a run reads the version its
    event named, even if the file is replaced mid-run) and whole PUTs."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def stream(self, key: str, version_id: str | None, start: int, stop: int) -> Readable:
        if stop <= start:
            return io.BytesIO(b"")  # S3 refuses an empty range
        pinned = {"VersionId": version_id} if version_id else {}
        response = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{stop - 1}", **pinned)
        body: Readable = response["Body"]
        return body

    def get(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self.s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in _ABSENT_CODES:
                return None
            raise

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
