"""What scoring a file leaves beside its parts, and what the function reports about it.

`_SUCCESS.json` is written last, once every part is, and names the object version it scored, so a
redelivered event for the same version is a no-op; `_FAILED.json` says why a file was not scored,
or how far it got before the time limit. Both carry the same figures as the outcome the handler
logs and counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlops.serving.batch.keys import BatchKey
from mlops.serving.batch.store import BatchStore
from mlops.serving.models import ServedVersion


@dataclass(frozen=True)
class BatchUpload:
    """The object an S3 event names."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    def source(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id, "etag": self.etag}


Status = Literal["scored", "failed", "already_scored", "superseded", "stopped", "in_parts"]


@dataclass
class BatchOutcome:
    """What became of one file: what the handler logs, counts and returns."""

    key: str
    model: str
    status: Status
    summary: str
    version: int | None = None
    rows: int = 0
    rows_scored: int = 0
    rows_with_errors: int = 0
    parts: list[str] = field(default_factory=list)
    document_key: str | None = None

    def as_record(self) -> dict[str, Any]:
        record = {k: v for k, v in self.__dict__.items() if v is not None}
        record["parts"] = len(self.parts)
        return record


def scored_before(document: Mapping[str, Any] | None, upload: BatchUpload) -> bool:
    """Scored before: the same S3 version, or in an unversioned bucket the same ETag."""
    if not document or document.get("status") != "succeeded":
        return False
    source = document.get("source") or {}
    if upload.version_id is not None:
        return bool(source.get("version_id") == upload.version_id)
    return upload.etag is not None and source.get("version_id") is None and source.get("etag") == upload.etag


@dataclass
class FileRun:
    """Progress of one file, enough to say how far it got when it stops."""

    key: BatchKey
    upload: BatchUpload
    started: float
    clock: Callable[[], float]
    served: ServedVersion | None = None
    pinned_version: int | None = None  # scored in parts: the version every child loaded, by number
    rows: int = 0
    scored: int = 0
    errors: int = 0
    warnings: int = 0
    parts: list[str] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        return self.served.version if self.served else self.pinned_version

    def document(self, status: str, **extra: Any) -> dict[str, Any]:
        document: dict[str, Any] = {
            "status": status,
            "model": self.key.model,
            "version": self.version,
            "source": self.upload.source(),
            "rows": self.rows,
            "rows_scored": self.scored,
            "rows_with_errors": self.errors,
            "rows_with_warnings": self.warnings,
            "parts": self.parts,
            "seconds": round(self.clock() - self.started, 3),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        document.update(extra)
        return document


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()


def write_success(
    run: FileRun, store: BatchStore, previous: Mapping[str, Any] | None, *, how: str = "", **details: Any
) -> BatchOutcome:
    """Written last, once every part is: `_SUCCESS.json` says the parts are complete, and what made them.
    The outcome's summary ends with `how` the file was scored (", in parts")."""
    for stale in (previous or {}).get("parts", [])[len(run.parts) :]:
        store.delete(str(stale))  # a shorter file than last time: its extra parts would mislead
    store.put(run.key.success_key, _json_bytes(run.document("succeeded", **details)), "application/json")
    summary = (
        f"{run.rows} rows: {run.scored} scored, {run.errors} with errors, by {run.key.model} v{run.version} "
        f"into {len(run.parts)} part(s){how}"
    )
    return BatchOutcome(
        run.upload.key,
        run.key.model,
        "scored",
        summary,
        version=run.version,
        rows=run.rows,
        rows_scored=run.scored,
        rows_with_errors=run.errors,
        parts=run.parts,
        document_key=run.key.success_key,
    )


def clear_markers(store: BatchStore, key: BatchKey, previous: Mapping[str, Any] | None) -> None:
    """Before new parts are written, the markers of an earlier run go, so no reader sees a `_SUCCESS.json`
    beside parts of a different file version (checked first: a delete in a versioned bucket leaves a
    marker even for a key that never existed)."""
    if previous is not None:
        store.delete(key.success_key)
    if store.get_json(key.failed_key) is not None:
        store.delete(key.failed_key)


def stop_at_time_limit(run: FileRun, store: BatchStore, left_ms: int) -> BatchOutcome:
    done = f"rows 1-{run.rows}" if run.rows else "no rows"
    message = (
        f"stopped {left_ms / 1000:.0f} s before the function's time limit with {done} scored into "
        f"{len(run.parts)} part(s), in {run.clock() - run.started:.0f} s: split the file into files of at most "
        f"{max(run.rows, 1):,} rows and upload those"
    )
    outcome = write_failure(run, store, "time_limit", message)
    outcome.status = "stopped"
    return outcome


def write_failure(run: FileRun, store: BatchStore, code: str, message: str) -> BatchOutcome:
    document = run.document("failed", code=code, message=message)
    store.put(run.key.failed_key, _json_bytes(document), "application/json")
    return BatchOutcome(
        run.upload.key,
        run.key.model,
        "failed",
        f"{code}: {message}",
        version=run.version,
        rows=run.rows,
        rows_scored=run.scored,
        rows_with_errors=run.errors,
        parts=run.parts,
        document_key=run.key.failed_key,
    )
