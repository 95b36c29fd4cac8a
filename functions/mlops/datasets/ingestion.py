"""What happens to one upload under `raw/<dataset>/`: validated against the dataset's contract, then
kept as an immutable dataset version, or copied to quarantine with its report and announced.

Order of writes, so a crash at any point leaves nothing half-visible and a retry completes the work:
data -> report -> manifest (a version exists once its manifest does) -> registry record -> upload
record (which makes a redelivered event a no-op). Every key is derived from the content or from the
upload's S3 version, so a retry writes the same objects again rather than new ones.

The feedback loop's uploads (`raw/<dataset>/feedback-…`, each with a record on the registry table,
`mlops.registry.feedback_exports`) are checked the same way; accepted, one starts only the run the
performance check that wrote it asked for (its reason then names the new version), never the
contract's `auto_train` run: the model's retraining policy has already decided.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.contracts import (
    ColumnSpec,
    ContractError,
    DataContract,
    FileProblem,
    load_contract,
    parsed_column,
    read_table,
    validate,
)
from mlops.datasets.records import DatasetRecords, DatasetVersion
from mlops.datasets.versioning import (
    ColumnBuildError,
    Manifest,
    SourceObject,
    column_arrays,
    content_hash,
    npz_bytes,
)
from mlops.names import FEEDBACK_UPLOAD_STEM, RAW_PREFIX, VALIDATION_REPORTS_PREFIX, dataset_version_prefix
from mlops.registry.feedback_exports import FeedbackExport, FeedbackExports
from mlops.training.start import StartedRun, TrainingRequest, run_id

Status = Literal["accepted", "duplicate", "rejected", "already_processed"]


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


def process_upload(upload: Upload, services: IngestionServices) -> IngestionOutcome:
    dataset = upload.dataset
    previous = services.registry.processed_upload(dataset, upload.key, upload.upload_id)
    if previous is not None:
        return IngestionOutcome(
            dataset=dataset,
            key=upload.key,
            status="already_processed",
            summary=f"already processed: {previous.get('status')} ({previous.get('summary', '')})",
            version=previous.get("version"),
            report_key=previous.get("report_key"),
        )
    stored = services.raw.read(upload.key, upload.version_id)
    upload = Upload(upload.bucket, upload.key, stored.version_id or upload.version_id, stored.size, upload.sequencer)
    report_base = f"{VALIDATION_REPORTS_PREFIX}{dataset}/{upload.filename}/{upload.upload_id}"

    contract_or_problem = _contract(services, dataset)
    if isinstance(contract_or_problem, str):
        outcome = _reject(upload, services, report_base, _problem_report(upload, "contract", contract_or_problem))
        return _finish(upload, services, outcome)
    contract = contract_or_problem

    try:
        frame = read_table(stored.body, filename=upload.filename, contract=contract)
    except FileProblem as problem:
        problem_report = _problem_report(upload, problem.code, problem.message, contract_version=contract.version)
        return _finish(upload, services, _reject(upload, services, report_base, problem_report))

    report = validate(frame, contract, file_name=upload.filename)
    report_document = json.loads(report.to_json())
    report_document["source"] = {"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id}
    summary = report.summary()
    if not report.accepted:
        outcome = _reject(upload, services, report_base, (report_document, summary))
        return _finish(upload, services, outcome)
    try:
        # Stored from the values validation parsed, so what it accepted is exactly what is kept.
        typed = stored_frame(frame, contract)
        arrays = column_arrays(typed, {column.name: column.type.value for column in contract.columns})
    except ColumnBuildError as error:
        rejected = _unstorable_report(upload, report_document, error)
        return _finish(upload, services, _reject(upload, services, report_base, rejected))
    del frame
    outcome = _accept(upload, services, contract, typed, arrays, report_base, report_document, summary)
    return _finish(upload, services, outcome)


def stored_frame(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Each contract column as validation parsed it (`parsed_column`); others as read."""
    columns: dict[str, pd.Series] = {}
    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]
        spec = contract.column(str(name))
        try:
            columns[str(name)] = series if spec is None else parsed_column(series, spec)
        except Exception as error:  # converting a column the checks passed failed: its values are at fault
            raise ColumnBuildError(str(name), f"its values could not be converted: {error}") from error
    return pd.DataFrame(columns, copy=False)


def _unstorable_report(
    upload: Upload, report_document: dict[str, Any], error: ColumnBuildError
) -> tuple[dict[str, Any], str]:
    """The validation report, turned into a rejection naming the column (and row) that could not be stored."""
    message = f"{error}; the file passed validation but this value cannot be kept in a dataset version"
    counts = dict(report_document.get("counts", {}))
    counts["failed_errors"] = int(counts.get("failed_errors", 0)) + 1
    document = {
        **report_document,
        "accepted": False,
        "counts": counts,
        "file_problem": {"code": "unstorable_values", "message": message, "column": error.column, "row": error.row},
    }
    key = upload.key if upload.key.isprintable() else repr(upload.key)
    return document, f"REJECTED {key}\n✗ unstorable_values: {message}\n"


# ---------------------------------------------------------------------------------------------
def _contract(services: IngestionServices, dataset: str) -> DataContract | str:
    return dataset_contract(services.artifacts, dataset)


def dataset_contract(artifacts: ArtifactsBucket, dataset: str) -> DataContract | str:
    """The dataset's contract, or why there is none a person can act on."""
    found = artifacts.contract_text(dataset)
    if found is None:
        return (
            f"no data contract for dataset '{dataset}': upload one to contracts/{dataset}.yaml in the artifacts "
            "bucket (draft one from a sample with `contract draft`)"
        )
    key, text = found
    try:
        contract = load_contract(text, source=key)
    except ContractError as error:
        return f"the contract {key} is malformed: {error}"
    if contract.dataset != dataset:
        return f"the contract {key} is for dataset '{contract.dataset}', not '{dataset}'"
    return contract


def _problem_report(
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


MISPLACED_PREFIX = f"{VALIDATION_REPORTS_PREFIX}_misplaced/"  # reports for uploads outside raw/<dataset>/


def misplaced_upload(upload: Upload, services: IngestionServices) -> tuple[str, str]:
    """An upload outside `raw/<dataset>/<file>` is not ingested; a report says why and where it
    should go, so the data team is told instead of the file being ignored: (report key, mail text)."""
    name = upload.filename or "<file>"
    expected = f"s3://{upload.bucket}/{RAW_PREFIX}<dataset>/{name}"
    message = (
        f"s3://{upload.bucket}/{upload.key} was not ingested: uploads go under {RAW_PREFIX}<dataset>/<file>, "
        f"one folder per dataset, named as its contract's `dataset`. Upload it again as {expected} "
        f"(e.g. `mlops upload {name} --dataset <dataset>`)."
    )
    document = {
        "accepted": False,
        "file": upload.key,
        "source": {"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id},
        "file_problem": {"code": "misplaced_upload", "message": message},
        "expected_layout": f"{RAW_PREFIX}<dataset>/<file>",
    }
    safe_key = upload.key.replace("/", "_") or "_"
    key = _write_report(services, f"{MISPLACED_PREFIX}{safe_key}/{upload.upload_id}", document, message + "\n")
    return key, message


def _write_report(services: IngestionServices, base: str, document: dict[str, Any], summary: str) -> str:
    services.artifacts.put(f"{base}.json", _json_bytes(document), "application/json")
    services.artifacts.put(f"{base}.txt", summary.encode(), "text/plain; charset=utf-8")
    return f"{base}.json"


def _failure_lines(document: dict[str, Any]) -> list[str]:
    if document.get("file_problem"):
        problem = document["file_problem"]
        return [f"{problem['code']}: {problem['message']}"]
    lines = []
    for result in document.get("results", []):
        if not result.get("success") and result.get("severity") == "error":
            where = f"column '{result['column']}' " if result.get("column") else ""
            lines.append(
                f"{where}{result['expectation']}: {result.get('unexpected_count', 0)} unexpected "
                f"(observed {result.get('observed_value')})"
            )
    return lines


def _reject(
    upload: Upload,
    services: IngestionServices,
    report_base: str,
    report: tuple[dict[str, Any], str],
    files: Sequence[tuple[str, str | None]] | None = None,
) -> IngestionOutcome:
    """`files`: the (key, S3 version) of each file a multi-file upload holds; by default the upload's one."""
    document, summary = report
    report_key = _write_report(services, report_base, document, summary)
    quarantine_base = f"{upload.dataset}/{upload.upload_id}"
    quarantine_key = f"{quarantine_base}/{upload.filename}"
    if files is None:
        services.quarantine.keep(upload.bucket, upload.key, upload.version_id, quarantine_key)
    for key, version in files or []:
        services.quarantine.keep(upload.bucket, key, version, f"{quarantine_key}/{key.removeprefix(upload.key + '/')}")
    services.quarantine.put(f"{quarantine_base}/report.json", _json_bytes(document), "application/json")
    services.quarantine.put(f"{quarantine_base}/summary.txt", summary.encode(), "text/plain; charset=utf-8")
    failures = _failure_lines(document)
    services.notify(
        f"Rejected upload for dataset {upload.dataset}"[:100],
        "\n".join(
            [
                f"Dataset:    {upload.dataset}",
                f"File:       s3://{upload.bucket}/{upload.key}",
                f"Quarantine: {quarantine_key}",
                f"Report:     {report_key}",
                "",
                "First failures:",
                *[f"  - {line}" for line in failures[:5]],
                "",
                summary,
            ]
        ),
    )
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


def _accept(
    upload: Upload,
    services: IngestionServices,
    contract: DataContract,
    frame: pd.DataFrame,
    arrays: dict[str, Any],
    report_base: str,
    report_document: dict[str, Any],
    summary: str,
) -> IngestionOutcome:
    types = {column.name: column.type.value for column in contract.columns}
    specs = {column.name: column for column in contract.columns}
    version = content_hash(arrays)
    prefix = dataset_version_prefix(upload.dataset, version)
    manifest_key = f"{prefix}manifest.json"
    counts = report_document.get("counts", {})
    report_key = _write_report(services, report_base, report_document, summary)
    outcome_fields: dict[str, Any] = {
        "dataset": upload.dataset,
        "key": upload.key,
        "report_key": report_key,
        "version": version,
        "rows": len(frame),
        "failed_errors": int(counts.get("failed_errors", 0)),
        "failed_warnings": int(counts.get("failed_warnings", 0)),
    }
    if services.curated.exists(manifest_key):
        # Completes a version whose registry write a crash interrupted (then this upload is its source).
        if services.registry.put_dataset_version(
            _dataset_version(manifest_key, upload, version, services.now().isoformat(), len(frame), contract.version)
        ):
            return _accepted(upload, services, contract, version, outcome_fields)
        return _duplicate_or_retry(upload, services, contract, version, outcome_fields)
    created_at = services.now()
    services.curated.put(f"{prefix}data.npz", npz_bytes(arrays), "application/octet-stream")
    services.curated.put(f"{prefix}report.json", _json_bytes(report_document), "application/json")
    services.curated.put(f"{prefix}summary.txt", summary.encode(), "text/plain; charset=utf-8")
    manifest = Manifest(
        dataset=upload.dataset,
        version=version,
        rows=len(frame),
        columns=[
            {
                "name": name,
                "type": types.get(name, "string"),
                "dtype": arrays[name].dtype.str,
                "nulls": int(frame[name].isna().sum()),
                **_promises(specs.get(name)),
            }  # type: ignore[misc]
            for name in frame.columns
        ],
        label=contract.label,
        content_hash=version,
        data_key=f"{prefix}data.npz",
        report_key=f"{prefix}report.json",
        source=SourceObject(bucket=upload.bucket, key=upload.key, version_id=upload.version_id, size=upload.size),
        contract_version=contract.version,
        created_at=created_at,
        validation={"failed_warnings": outcome_fields["failed_warnings"], "report": report_key},
    )
    services.curated.put(manifest_key, manifest.model_dump_json(indent=2).encode(), "application/json")
    created = services.registry.put_dataset_version(
        _dataset_version(manifest_key, upload, version, created_at.isoformat(), len(frame), contract.version)
    )
    if not created:  # another upload of the same content won the race to record it
        return _duplicate_or_retry(upload, services, contract, version, outcome_fields)
    return _accepted(upload, services, contract, version, outcome_fields)


def _duplicate_or_retry(
    upload: Upload, services: IngestionServices, contract: DataContract, version: str, outcome_fields: dict[str, Any]
) -> IngestionOutcome:
    """A version already stored is a duplicate, unless this very upload stored it and its invocation
    failed before it finished (Lambda retries it): then the acceptance is finished, so the version's
    run is started (or found) after all instead of never."""
    stored = services.registry.get_dataset_version(upload.dataset, version)
    if stored is not None and _stored_from(stored, upload):
        return _accepted(upload, services, contract, version, outcome_fields)
    return IngestionOutcome(
        **outcome_fields, status="duplicate", summary=f"same content as dataset version {version[:12]}"
    )


def _stored_from(stored: DatasetVersion, upload: Upload) -> bool:
    """Whether a stored version came from this upload (same key, same S3 version): a retry, not a copy."""
    return stored.source_key == upload.key and stored.source_version == (upload.version_id or "unversioned")


def _accepted(
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


def _promises(spec: ColumnSpec | None) -> dict[str, Any]:
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


def _dataset_version(
    manifest_key: str, upload: Upload, version: str, created_at: str, rows: int, contract_version: int
) -> DatasetVersion:
    return DatasetVersion(
        dataset=upload.dataset,
        version=version,
        created_at=created_at,
        manifest_key=manifest_key,
        rows=rows,
        contract_version=contract_version,
        source_key=upload.key,
        source_version=upload.version_id or "unversioned",
    )


def _finish(upload: Upload, services: IngestionServices, outcome: IngestionOutcome) -> IngestionOutcome:
    record = {**outcome.as_record(), "processed_at": services.now().isoformat()}
    services.registry.record_upload(upload.dataset, upload.key, upload.upload_id, record)
    return outcome


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()
