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
from typing import Any

import pandas as pd

from mlops.buckets import ArtifactsBucket
from mlops.contracts import (
    ContractError,
    DataContract,
    FileProblem,
    ValidationReport,
    load_contract,
    parsed_column,
    read_table,
    validate,
)
from mlops.datasets.records import DatasetVersion
from mlops.datasets.upload_outcome import (
    IngestionOutcome,
    IngestionServices,
    Status,
    Upload,
    UploadKeyError,
    accepted_outcome,
    column_promises,
    duplicate_or_retry,
    json_bytes,
    problem_report,
    record_outcome,
    reject_upload,
    write_report,
)
from mlops.datasets.versioning import (
    ColumnBuildError,
    Manifest,
    SourceObject,
    column_arrays,
    content_hash,
    npz_bytes,
)
from mlops.names import RAW_PREFIX, VALIDATION_REPORTS_PREFIX, dataset_version_prefix

__all__ = [  # the upload's records, from upload_outcome, are imported from here by the ingest function
    "MISPLACED_PREFIX",
    "IngestionOutcome",
    "IngestionServices",
    "Status",
    "Upload",
    "UploadKeyError",
    "dataset_contract",
    "misplaced_upload",
    "process_upload",
    "stored_frame",
]


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
        outcome = reject_upload(upload, services, report_base, problem_report(upload, "contract", contract_or_problem))
        return record_outcome(upload, services, outcome)
    contract = contract_or_problem

    try:
        frame = read_table(stored.body, filename=upload.filename, contract=contract)
    except FileProblem as problem:
        unread = problem_report(upload, problem.code, problem.message, contract_version=contract.version)
        return record_outcome(upload, services, reject_upload(upload, services, report_base, unread))

    report = validate(frame, contract, file_name=upload.filename)
    report_document = json.loads(report.to_json())
    report_document["source"] = {"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id}
    summary = report.summary()
    if not report.accepted:
        outcome = reject_upload(upload, services, report_base, (report_document, summary), profiles=report.profiles)
        return record_outcome(upload, services, outcome)
    try:
        # Stored from the values validation parsed, so what it accepted is exactly what is kept.
        typed = stored_frame(frame, contract)
        arrays = column_arrays(typed, {column.name: column.type.value for column in contract.columns})
    except ColumnBuildError as error:
        rejected = _unstorable_report(upload, report_document, error)
        outcome = reject_upload(upload, services, report_base, rejected, profiles=report.profiles)
        return record_outcome(upload, services, outcome)
    del frame
    outcome = _accept(upload, services, contract, typed, arrays, report_base, (report_document, summary, report))
    return record_outcome(upload, services, outcome)


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
    key = write_report(services, f"{MISPLACED_PREFIX}{safe_key}/{upload.upload_id}", document, message + "\n")
    return key, message


def _accept(
    upload: Upload,
    services: IngestionServices,
    contract: DataContract,
    frame: pd.DataFrame,
    arrays: dict[str, Any],
    report_base: str,
    checked: tuple[dict[str, Any], str, ValidationReport],
) -> IngestionOutcome:
    """`checked`: the report's stored document, its summary and the report (its column profiles)."""
    report_document, summary, report = checked
    types = {column.name: column.type.value for column in contract.columns}
    specs = {column.name: column for column in contract.columns}
    version = content_hash(arrays)
    prefix = dataset_version_prefix(upload.dataset, version)
    manifest_key = f"{prefix}manifest.json"
    counts = report_document.get("counts", {})
    report_key = write_report(services, report_base, report_document, summary, report.profiles, dataset_version=version)
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
            return accepted_outcome(upload, services, contract, version, outcome_fields)
        return duplicate_or_retry(upload, services, contract, version, outcome_fields)
    created_at = services.now()
    services.curated.put(f"{prefix}data.npz", npz_bytes(arrays), "application/octet-stream")
    services.curated.put(f"{prefix}report.json", json_bytes(report_document), "application/json")
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
                **column_promises(specs.get(name)),
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
        return duplicate_or_retry(upload, services, contract, version, outcome_fields)
    return accepted_outcome(upload, services, contract, version, outcome_fields)


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
