"""Multi-file uploads: one left without its commit marker is reported after a timeout, and a file
written after the marker is refused; neither is silently kept (issue #20).

A multi-file upload (`raw/<dataset>/<upload>/<files>`) is validated once `<upload>/_COMMIT` is
written, last; its files are the ones written up to the marker (`written_after`).

Why the check's cost does not grow with history: the ingest function already sees every
object-created event, so it keeps one record per upload folder on the registry table
(`records.UploadFolder`). A file opens the folder: it is listed in a sparse index by its newest file's
time. Its marker, or a report, takes it off. The scheduled check queries that index for the open
folders whose newest file is older than the timeout (one range of the index) and lists only those
folders: its reads grow with the uploads waiting now, never with the uploads kept before (listing all
of `raw/` every quarter of an hour did). A reported folder leaves the index, so it is reported once
per newest file, not at every check; a file written to it later opens it again.

What the team receives for an upload past the timeout: a report at
`reports/validation/<dataset>/<upload>/uncommitted.json` and a mail on the alerts topic (the path
rejections take) naming the dataset, the folder, its files and bytes, how long ago the newest was
written, and what to do (write the marker, or delete the folder).

A file written after its folder's marker is refused: the upload was committed (validated, or being
validated) without it. It is kept where it is, neither read nor deleted, and what the upload stored is
untouched; a report at `reports/validation/<dataset>/<upload>/after-commit/<file>/<S3 version>.json`
and a mail say so, once per file version (its upload record makes a redelivered event a no-op).

S3 delivers events at least once, in any order, sometimes a minute or more late
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html), so "after the marker"
is decided by S3's own times (LastModified, to the second, as listings give it), never by the order
the events arrive in; the validation's plan reads the folder by the same rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mlops.datasets.records import UploadFolder
from mlops.datasets.upload_outcome import IngestionServices, Upload, write_report
from mlops.names import COMMIT_MARKER, VALIDATION_REPORTS_PREFIX

FolderFileStatus = Literal["waiting", "in_commit", "after_commit", "already_processed", "gone"]
LISTED_FILES = 20  # files a mail names; the report lists them all


@dataclass(frozen=True)
class FolderFileOutcome:
    """What became of one file of a multi-file upload when its event arrived."""

    dataset: str
    key: str
    status: FolderFileStatus
    summary: str
    report_key: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class FolderObject:
    """One object of an upload folder as S3 lists it."""

    key: str
    size: int
    written_at: str


@dataclass(frozen=True)
class UncommittedUploadReport:
    """`uncommitted.json`: the folder as it was when the timeout passed, and what to do."""

    dataset: str
    upload: str
    folder: str  # s3://<raw bucket>/raw/<dataset>/<upload>/
    files: list[FolderObject]
    bytes: int
    first_written_at: str
    newest_written_at: str
    age_minutes: int  # since the newest file was written
    timeout_minutes: int
    reported_at: str
    accepted: bool = False
    file_problem: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileAfterCommitReport:
    """A file written after its upload's commit marker: not part of the upload, kept, not read."""

    dataset: str
    upload: str
    file: str
    source: dict[str, str | None]
    written_at: str
    committed_at: str
    accepted: bool = False
    file_problem: dict[str, str] = field(default_factory=dict)


def folder_of(key: str) -> str:
    """`raw/<dataset>/<upload>` of a key inside an upload folder."""
    return "/".join(key.split("/")[:3])


def written_after(written: datetime, marker: datetime) -> bool:
    """Whether an object was written after the commit marker, to the second (listings give whole
    seconds): a file written in the marker's own second counts as the upload's."""
    return written.replace(microsecond=0) > marker.replace(microsecond=0)


def _stamp(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds: one width, so DynamoDB's string order is the time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _shown(key: str) -> str:
    """A key as a mail line shows it: quoted when it is not printable (a newline, then `=cmd…`)."""
    return key if key.isprintable() else repr(key)


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def note_commit(upload: Upload, services: IngestionServices) -> UploadFolder:
    """The marker landed: the folder is no longer waiting, and files written after it are refused."""
    written = services.raw.last_modified(upload.key, upload.version_id)
    return services.registry.commit_folder(upload.dataset, folder_of(upload.key), _stamp(written))


def note_folder_file(upload: Upload, services: IngestionServices) -> FolderFileOutcome:
    """A file of a multi-file upload landed: it waits for the marker, belongs to the commit already
    made (its event came after the marker's), or was written after the marker and is refused."""
    dataset, folder = upload.dataset, folder_of(upload.key)
    record = services.registry.note_folder_file(dataset, folder, _stamp(services.now()))
    if record.committed_at is None:
        return FolderFileOutcome(dataset, upload.key, "waiting", f"validated when {folder}/{COMMIT_MARKER} is written")
    try:
        written = services.raw.last_modified(upload.key, upload.version_id)
    except services.raw.s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NoSuchVersion"):
            raise
        return FolderFileOutcome(dataset, upload.key, "gone", "deleted before its event was handled")
    committed = datetime.fromisoformat(record.committed_at)
    if not written_after(written, committed):
        return FolderFileOutcome(dataset, upload.key, "in_commit", "written before the commit marker: part of it")
    return _refuse_after_commit(upload, folder, written, committed, services)


def _refuse_after_commit(
    upload: Upload, folder: str, written: datetime, committed: datetime, services: IngestionServices
) -> FolderFileOutcome:
    dataset = upload.dataset
    previous = services.registry.processed_upload(dataset, upload.key, upload.upload_id)
    if previous is not None:
        return FolderFileOutcome(
            dataset, upload.key, "already_processed", str(previous.get("summary", "")), previous.get("report_key")
        )
    name, relative = folder.rsplit("/", 1)[-1], upload.key.removeprefix(folder + "/")
    message = (
        f"s3://{upload.bucket}/{_shown(upload.key)} was written {_when(written)}, after the commit marker "
        f"{_shown(folder)}/{COMMIT_MARKER} ({_when(committed)}): the upload was already committed, so this file "
        "is not part of it and was not validated. The file is kept as it is, and what the upload stored (or is "
        f"validating) is unchanged. To add its rows, upload them again as a new upload (raw/{dataset}/<new upload>/, "
        f"its {COMMIT_MARKER} written last) or as one file under raw/{dataset}/."
    )
    report = FileAfterCommitReport(
        dataset=dataset,
        upload=name,
        file=relative,
        source={"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id},
        written_at=_stamp(written),
        committed_at=_stamp(committed),
        file_problem={"code": "after_commit", "message": message},
    )
    base = f"{VALIDATION_REPORTS_PREFIX}{dataset}/{name}/after-commit/{relative}/{upload.upload_id}"
    report_key = write_report(
        services, base, asdict(report), f"NOT VALIDATED {_shown(upload.key)}\n✗ after_commit: {message}\n"
    )
    services.notify(
        f"File written after its upload was committed: {dataset}/{name}"[:100],
        "\n".join(
            [
                f"Dataset:    {dataset}",
                f"Upload:     s3://{upload.bucket}/{_shown(folder)}/",
                f"File:       {_shown(relative)}",
                f"Report:     {report_key}",
                "",
                message,
            ]
        ),
    )
    outcome = FolderFileOutcome(dataset, upload.key, "after_commit", message, report_key)
    record = {**outcome.as_record(), "processed_at": _stamp(services.now())}
    services.registry.record_upload(dataset, upload.key, upload.upload_id, record)
    return outcome


def report_uncommitted(services: IngestionServices, timeout: timedelta) -> list[str]:
    """Report each open folder whose newest file is older than `timeout` and that has no marker: its
    report and mail, then it leaves the open list. The folders reported."""
    now = services.now()
    reported = []
    for folder in services.registry.overdue_folders(_stamp(now - timeout)):
        listed = [FolderObject(k, size, _stamp(at)) for k, size, at in services.raw.listing(folder.folder + "/")]
        if any(o.key == f"{folder.folder}/{COMMIT_MARKER}" for o in listed):
            continue  # committed: the marker's event, on its way, closes the folder
        files = [o for o in listed if not o.key.endswith("/")]
        if not files:
            services.registry.close_folder(folder, reported=False)  # deleted: nothing left to report
            continue
        newest = max(datetime.fromisoformat(o.written_at) for o in files)
        if now - newest < timeout:
            continue  # a file written since, whose event has not arrived yet
        _report(services, folder, files, newest, now, timeout)
        services.registry.close_folder(folder, reported=True)
        reported.append(folder.folder)
    return reported


def _report(
    services: IngestionServices,
    folder: UploadFolder,
    files: list[FolderObject],
    newest: datetime,
    now: datetime,
    timeout: timedelta,
) -> None:
    name = folder.folder.rsplit("/", 1)[-1]
    where = f"s3://{services.raw.name}/{_shown(folder.folder)}/"
    marker = f"{_shown(folder.folder)}/{COMMIT_MARKER}"
    size = sum(o.size for o in files)
    age = int((now - newest).total_seconds() // 60)
    message = (
        f"{where} holds {len(files)} file(s), {size:,} bytes, the newest written {_when(newest)} ({_age(age)} ago), "
        f"but no {COMMIT_MARKER} marker after {int(timeout.total_seconds() // 60)} minutes: the upload was not "
        "validated, and nothing in it is read until the marker is written."
    )
    todo = [
        "What to do:",
        f"  - every file is in: write the marker (empty), last, and the upload is validated as usual:"
        f"\n      aws s3api put-object --bucket {services.raw.name} --key {marker}",
        f"  - the upload was abandoned: delete the folder:\n      aws s3 rm {where} --recursive",
    ]
    shown = [f"  - {_shown(o.key.removeprefix(folder.folder + '/'))} ({o.size:,} bytes)" for o in files[:LISTED_FILES]]
    if len(files) > LISTED_FILES:
        shown.append(f"  … and {len(files) - LISTED_FILES} more (the report lists them all)")
    report = UncommittedUploadReport(
        dataset=folder.dataset,
        upload=name,
        folder=where,
        files=files,
        bytes=size,
        first_written_at=min(o.written_at for o in files),
        newest_written_at=_stamp(newest),
        age_minutes=age,
        timeout_minutes=int(timeout.total_seconds() // 60),
        reported_at=_stamp(now),
        file_problem={"code": "uncommitted_upload", "message": message},
    )
    base = f"{VALIDATION_REPORTS_PREFIX}{folder.dataset}/{name}/uncommitted"
    report_key = write_report(services, base, asdict(report), "\n".join([f"NOT VALIDATED {where}", message, *todo, ""]))
    services.notify(
        f"Upload without its commit marker: {folder.dataset}/{name}"[:100],
        "\n".join(
            [
                f"Dataset:    {folder.dataset}",
                f"Upload:     {where}",
                f"Files:      {len(files)} ({size:,} bytes)",
                *shown,
                f"Newest:     {_when(newest)}, {_age(age)} ago",
                f"Report:     {report_key}",
                "",
                message,
                "",
                *todo,
            ]
        ),
    )


def _age(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"
