"""What becomes of an upload once it is checked, the same for a single file (`ingestion`) and a
partitioned upload (`partitioned_ingestion`): the upload and its outcome as records, the report
written beside it, a rejection's quarantine copy and mail, an acceptance's training run (or a
duplicate's verdict), and the outcome recorded under the upload's S3 version, which makes a
redelivered event a no-op.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.contracts import ColumnSpec, DataContract
from mlops.contracts.profile import ColumnProfile
from mlops.contracts.report import SHOWN_NAMES, shortened
from mlops.contracts.report_page import validation_report_html
from mlops.datasets.records import DatasetRecords, DatasetVersion
from mlops.names import FEEDBACK_UPLOAD_STEM, RAW_PREFIX
from mlops.registry.feedback_exports import FeedbackExport, FeedbackExports
from mlops.training.start import StartedRun, TrainingRequest, run_id

# failed: the upload could not be validated to the end (nothing accepted, nothing quarantined).
Status = Literal["accepted", "duplicate", "rejected", "failed", "already_processed"]


class UploadKeyError(ValueError):
    """The object is not under `raw/<dataset>/<file>`."""


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None = None
    size: int = 0
    sequencer: str | None = None

    @property
    def dataset(self) -> str:
        parts = self.key.split("/")
        if len(parts) < 3 or parts[0] + "/" != RAW_PREFIX or not parts[1] or not parts[-1]:
            raise UploadKeyError(f"uploads go under raw/<dataset>/<file>; got {self.key!r}")
        return parts[1]

    @property
    def filename(self) -> str:
        return posixpath.basename(self.key)

    @property
    def upload_id(self) -> str:
        """Stable per upload (the S3 version; in an unversioned bucket the event's sequencer, which S3
        makes unique per write of a key): names its report, its quarantine copy and its record."""
        return self.version_id or (f"seq-{self.sequencer}" if self.sequencer else "unversioned")


@dataclass
class IngestionOutcome:
    dataset: str
    key: str
    status: Status
    summary: str
    report_key: str | None = None
    version: str | None = None
    rows: int = 0
    failed_errors: int = 0
    failed_warnings: int = 0
    quarantine_key: str | None = None
    training_execution: str | None = None
    first_failures: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != []}


@dataclass
class IngestionServices:
    raw: RawBucket
    artifacts: ArtifactsBucket
    curated: CuratedBucket
    quarantine: QuarantineBucket
    registry: DatasetRecords
    notify: Callable[[str, str], None]
    # mlops.training.start.start_training on the stack's pipeline; None back: this stack trains nothing.
    start_training: Callable[[TrainingRequest, str], StartedRun | None]
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The feedback loop's records of the uploads it writes (`raw/<dataset>/feedback-…`); None: none looked up.
    feedback: FeedbackExports | None = None


def problem_report(
    upload: Upload, code: str, message: str, *, contract_version: int | None = None
) -> tuple[dict[str, Any], str]:
    document: dict[str, Any] = {
        "dataset": upload.dataset,
        "file": upload.filename,
        "source": {"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id},
        "contract_version": contract_version,
        "accepted": False,
        "file_problem": {"code": code, "message": message},
        "results": [],
    }
    # A key is the uploader's text: one that is not printable (a newline, then `=cmd…`) is quoted, so no
    # line of the summary starts with what a spreadsheet would run.
    key = upload.key if upload.key.isprintable() else repr(upload.key)
    return document, f"REJECTED {key}\n✗ {code}: {message}\n"


def write_report(
    services: IngestionServices,
    base: str,
    document: dict[str, Any],
    summary: str,
    profiles: Sequence[ColumnProfile] = (),
    *,
    dataset_version: str | None = None,
) -> str:
    """The report as JSON (the record), text (the summary) and an HTML page (`report_page`) for a person."""
    services.artifacts.put(f"{base}.json", json_bytes(document), "application/json")
    services.artifacts.put(f"{base}.txt", summary.encode(), "text/plain; charset=utf-8")
    page = validation_report_html(document, profiles, dataset_version=dataset_version)
    services.artifacts.put(report_page_key(f"{base}.json"), page.encode(), REPORT_PAGE_TYPE)
    return f"{base}.json"


REPORT_PAGE_TYPE = "text/html; charset=utf-8"


def report_page_key(report_key: str) -> str:
    """The report page beside a JSON report (`….json` -> `….html`)."""
    return report_key.removesuffix(".json") + ".html"


def _failure_lines(document: dict[str, Any]) -> list[str]:
    if document.get("file_problem"):
        problem = document["file_problem"]
        return [f"{problem['code']}: {problem['message']}"]
    lines = []
    for result in document.get("results", []):
        if not result.get("success") and result.get("severity") == "error":
            where = f"column '{result['column']}' " if result.get("column") else ""
            lines.append(
                f"{where}{result['expectation']}: {result.get('unexpected_count', 0)} unexpected{_seen(result)}"
            )
    return lines


def _seen(result: dict[str, Any]) -> str:
    """What the check saw, for the mail: its observed value, else its first offending cell, else nothing
    (a type check has no observed value; "(observed None)" told a reader nothing)."""
    observed = result.get("observed_value")
    if isinstance(observed, list) and len(observed) > SHOWN_NAMES:
        return f" (observed {shortened(str(observed[:SHOWN_NAMES]))} and {len(observed) - SHOWN_NAMES:,} more)"
    if observed is not None:
        return f" (observed {shortened(str(observed))})"
    examples = result.get("examples") or []
    if examples:
        return f" (e.g. row {examples[0]['row']}: {shortened(repr(examples[0]['value']))})"
    return ""


def reject_upload(
    upload: Upload,
    services: IngestionServices,
    report_base: str,
    report: tuple[dict[str, Any], str],
    files: Sequence[tuple[str, str | None]] | None = None,
    profiles: Sequence[ColumnProfile] = (),
) -> IngestionOutcome:
    """`files`: the (key, S3 version) of each file a multi-file upload holds; by default the upload's one.
    `profiles`: the columns' profiles, for the report page."""
    document, summary = report
    report_key = write_report(services, report_base, document, summary, profiles)
    quarantine_base = f"{upload.dataset}/{upload.upload_id}"
    quarantine_key = f"{quarantine_base}/{upload.filename}"
    if files is None:
        services.quarantine.keep(upload.bucket, upload.key, upload.version_id, quarantine_key)
    for key, version in files or []:
        services.quarantine.keep(upload.bucket, key, version, f"{quarantine_key}/{key.removeprefix(upload.key + '/')}")
    services.quarantine.put(f"{quarantine_base}/report.json", json_bytes(document), "application/json")
    services.quarantine.put(f"{quarantine_base}/summary.txt", summary.encode(), "text/plain; charset=utf-8")
    failures = _failure_lines(document)
    _announce(upload, services, report_key, quarantine_key, failures, summary)
    counts = document.get("counts", {})
    return IngestionOutcome(
        dataset=upload.dataset,
        key=upload.key,
        status="rejected",
        summary=failures[0] if failures else "rejected",
        report_key=report_key,
        rows=int(document.get("rows", 0) or 0),
        failed_errors=int(counts.get("failed_errors", len(failures))),
        failed_warnings=int(counts.get("failed_warnings", 0)),
        quarantine_key=quarantine_key,
        first_failures=failures[:5],
    )


def fail_upload(
    upload: Upload, services: IngestionServices, report_base: str, report: tuple[dict[str, Any], str]
) -> IngestionOutcome:
    """An upload whose validation could not be completed: its report, and the mail a rejection sends.
    Nothing is kept in quarantine: the files stay in the raw bucket, where they are read again when the
    upload is written again (a new commit marker, or the file itself)."""
    document, summary = report
    report_key = write_report(services, report_base, document, summary)
    failures = _failure_lines(document)
    _announce(upload, services, report_key, "none: the files stay in the raw bucket", failures, summary)
    return IngestionOutcome(
        dataset=upload.dataset,
        key=upload.key,
        status="failed",
        summary=failures[0] if failures else "failed",
        report_key=report_key,
        first_failures=failures[:5],
    )


def _announce(
    upload: Upload, services: IngestionServices, report_key: str, kept: str, failures: list[str], summary: str
) -> None:
    """The data team's mail of an upload that was not accepted: where it is kept, its report and its
    page (an S3 URI: the bucket is private, so who may read it opens it with `mlops datasets page`), why."""
    page = f"s3://{services.artifacts.name}/{report_page_key(report_key)}"
    services.notify(
        f"Rejected upload for dataset {upload.dataset}"[:100],
        "\n".join(
            [
                f"Dataset:    {upload.dataset}",
                f"File:       s3://{upload.bucket}/{upload.key}",
                f"Quarantine: {kept}",
                f"Report:     {report_key}",
                f"Page:       {page}",
                "            (`mlops datasets page` with this URI writes it to a local file to open)",
                "",
                "First failures:",
                *[f"  - {line}" for line in failures[:5]],
                "",
                summary,
            ]
        ),
    )


def duplicate_or_retry(
    upload: Upload, services: IngestionServices, contract: DataContract, version: str, outcome_fields: dict[str, Any]
) -> IngestionOutcome:
    """A version already stored is a duplicate, unless this very upload stored it and its invocation
    failed before it finished (Lambda retries it): then the acceptance is finished, so the version's
    run is started (or found) after all instead of never."""
    stored = services.registry.get_dataset_version(upload.dataset, version)
    if stored is not None and _stored_from(stored, upload):
        return accepted_outcome(upload, services, contract, version, outcome_fields)
    return IngestionOutcome(
        **outcome_fields, status="duplicate", summary=f"same content as dataset version {version[:12]}"
    )


def _stored_from(stored: DatasetVersion, upload: Upload) -> bool:
    """Whether a stored version came from this upload (same key, same S3 version): a retry, not a copy."""
    return stored.source_key == upload.key and stored.source_version == (upload.version_id or "unversioned")


def accepted_outcome(
    upload: Upload, services: IngestionServices, contract: DataContract, version: str, outcome_fields: dict[str, Any]
) -> IngestionOutcome:
    execution = None
    feedback = _feedback_export(upload, services)
    if feedback is not None:
        # The feedback loop's own upload never starts the contract's auto_train run: the model's
        # retraining policy (cooldown, daily cap) already decided, and a run it asked for is started
        # here, now that the rows are a dataset version it will train on.
        requested = feedback.retraining
        if requested is not None:
            request = TrainingRequest(
                upload.dataset,
                f"{requested.reason}; dataset version {version[:12]}",
                cause={**requested.cause, "dataset_version": version},
            )
            started = services.start_training(request, requested.run_id)
            execution = started.execution_arn if started is not None else None
    elif contract.policy.auto_train:
        # No dataset_version: the run trains on what the config's `data` policy chooses (by default every
        # accepted version), not on the new upload alone, which may be a partial one.
        request = TrainingRequest(upload.dataset, f"new dataset version {version[:12]}")
        # One run per version: a retried ingestion finds the run its first attempt started.
        started = services.start_training(request, run_id("ingest", upload.dataset, version[:20]))
        execution = started.execution_arn if started is not None else None
    return IngestionOutcome(
        **outcome_fields,
        status="accepted",
        summary=f"dataset version {version[:12]}: {outcome_fields['rows']} rows",
        training_execution=execution,
    )


def _feedback_export(upload: Upload, services: IngestionServices) -> FeedbackExport | None:
    """The feedback loop's record of this upload; None for anyone else's (a file merely named
    `feedback-…` without a record is an ordinary upload)."""
    if services.feedback is None or not upload.filename.startswith(FEEDBACK_UPLOAD_STEM):
        return None
    return services.feedback.export(upload.dataset, upload.key)


def column_promises(spec: ColumnSpec | None) -> dict[str, Any]:
    """The contract's nullability, numeric bounds and allowed values for a column, as plain data."""
    if spec is None:
        return {}
    promises: dict[str, Any] = {"nullable": bool(spec.nullable.value)}
    for bound in ("min", "max"):
        check = getattr(spec, bound)
        if check is not None and isinstance(check.value, int | float) and not isinstance(check.value, bool):
            promises[bound] = float(check.value)
    if spec.allowed_values is not None:
        promises["allowed_values"] = [str(v) for v in spec.allowed_values.value]
    if spec.unique is not None and spec.unique.value:
        promises["unique"] = True  # an identifier: training leaves it out of the features
    return promises


def record_outcome(upload: Upload, services: IngestionServices, outcome: IngestionOutcome) -> IngestionOutcome:
    record = {**outcome.as_record(), "processed_at": services.now().isoformat()}
    services.registry.record_upload(upload.dataset, upload.key, upload.upload_id, record)
    return outcome


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()
