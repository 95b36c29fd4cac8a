"""Multi-file uploads left without their commit marker: reported, not silently kept.

A multi-file upload (`raw/<dataset>/<upload>/<files>`) is validated once `<upload>/_COMMIT` is
written, last. A folder whose newest file is older than the timeout and that still has no marker is
reported once per newest file: a report at `reports/validation/<dataset>/<upload>/uncommitted.json`
in the artifacts bucket, a mail, and an upload record (so the next scheduled check stays quiet
until another file arrives).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mlops.datasets.ingestion import IngestionServices, _write_report
from mlops.names import COMMIT_MARKER, RAW_PREFIX, VALIDATION_REPORTS_PREFIX


@dataclass(frozen=True)
class UploadFolder:
    key: str  # raw/<dataset>/<upload>, no trailing slash
    files: int
    newest: datetime
    committed: bool

    @property
    def dataset(self) -> str:
        return self.key.split("/")[1]


def upload_folders(listing: list[tuple[str, int, datetime]]) -> list[UploadFolder]:
    """The multi-file upload folders in a listing of `raw/`, with their newest file and marker."""
    found: dict[str, tuple[int, datetime, bool]] = {}
    for key, _, modified in listing:
        parts = key.split("/")
        if len(parts) < 4 or not parts[-1]:
            continue
        folder = "/".join(parts[:3])
        files, newest, committed = found.get(folder, (0, modified, False))
        found[folder] = (files + 1, max(newest, modified), committed or (len(parts) == 4 and parts[3] == COMMIT_MARKER))
    return [UploadFolder(key, files, newest, committed) for key, (files, newest, committed) in sorted(found.items())]


def report_uncommitted(services: IngestionServices, timeout: timedelta) -> list[str]:
    """Report every folder past the timeout without its marker (once per newest file); their keys."""
    now = services.now()
    reported = []
    for folder in upload_folders(services.raw.listing(RAW_PREFIX)):
        if folder.committed or now - folder.newest < timeout:
            continue
        upload_id = f"uncommitted-{folder.newest.isoformat()}"
        if services.registry.processed_upload(folder.dataset, folder.key, upload_id) is not None:
            continue
        name = folder.key.rsplit("/", 1)[-1]
        message = (
            f"s3://{services.raw.name}/{folder.key}/ holds {folder.files} file(s), the newest written "
            f"{folder.newest.isoformat()}, but no {COMMIT_MARKER} marker after {timeout}: the upload was not "
            f"validated. Write {folder.key}/{COMMIT_MARKER} (empty) once every file is in, or delete the folder."
        )
        document = {
            "dataset": folder.dataset,
            "file": name,
            "accepted": False,
            "file_problem": {"code": "uncommitted_upload", "message": message},
            "results": [],
        }
        base = f"{VALIDATION_REPORTS_PREFIX}{folder.dataset}/{name}/uncommitted"
        report_key = _write_report(services, base, document, f"NOT VALIDATED {folder.key}/\n{message}\n")
        services.notify(
            f"Upload without its commit marker: {folder.dataset}/{name}"[:100], f"{message}\nReport: {report_key}"
        )
        services.registry.record_upload(
            folder.dataset,
            folder.key,
            upload_id,
            {"status": "uncommitted", "summary": message, "report_key": report_key, "processed_at": now.isoformat()},
        )
        reported.append(folder.key)
    return reported
