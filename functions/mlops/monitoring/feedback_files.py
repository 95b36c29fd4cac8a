"""Labels in, by file: a CSV or Parquet file under `feedback/<model>/` in the raw bucket, with the
column that names each label's prediction (`request_id`; or `request_key`, the request's
x-request-key; or `id` or the id field's own name, `monitoring.performance.id_field`; a row may use
any one of those the file has), an optional `row` and the label (`label`, or the model's label column
as its training config names it), checked as the API checks a request (`mlops.monitoring.label_intake`).

A file with a label that cannot be right stores nothing: its report names each such label by file
row (the first row after the header is row 1, as in the ingestion reports) and column, and the team
gets a mail naming the file, the row and the column. Otherwise its labels are stored, labels that
cannot be joined counted in the report. Every key is derived from the S3 object (its key and
version, or ETag) and the event's time, so a retried event writes the same objects again.

The one module of this package that reads pandas: the feedback function carries the data layer,
and the files are read with the ingestion's readers (`mlops.contracts.reading`).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from mlops.buckets import ArtifactsBucket, RawBucket
from mlops.contracts import DataContract, FileProblem, read_table
from mlops.monitoring.label_intake import (
    MISSING,
    LabelIntake,
    LabelProblem,
    LabelTarget,
    NotMonitored,
    RefusalReason,
    Submission,
    check_labels,
    label_target,
    store_labels,
)
from mlops.names import CHALLENGER, CHAMPION, FEEDBACK_PREFIX, FEEDBACK_REPORTS_PREFIX, NAME_PATTERN
from mlops.registry.versions import ModelVersion
from mlops.serving.prediction_keys import PredictionKey, ResolvedKey
from mlops.serving.signature import ServedSignature

MAX_FILE_LABELS = 1_000_000  # rows of one file: the function holds them all (about 0.5 GB at the limit)
MAIL_PROBLEMS = 5  # problems a mail lists; the report has up to label_intake.MAX_PROBLEMS
REQUEST_ID, REQUEST_KEY, ID, ROW, LABEL = "request_id", "request_key", "id", "row", "label"
_WHOLE = re.compile(r"^\s*\+?\d{1,9}\s*$")

Status = Literal["stored", "refused"]


class VersionSource(Protocol):
    """What the registry answers about a model: its aliases and version records."""

    def aliases(self, name: str) -> dict[str, dict[str, Any]]: ...

    def model_version(self, name: str, version: int) -> ModelVersion | None: ...


@dataclass(frozen=True)
class FeedbackUpload:
    """One object created under `feedback/` in the raw bucket, as its S3 event names it."""

    bucket: str
    key: str
    event_time: datetime  # when S3 says it was created: the labels' received time
    version_id: str | None = None
    etag: str | None = None

    @property
    def model(self) -> str | None:
        """The `<model>` of `feedback/<model>/<file>`; None for a key outside that layout."""
        parts = self.key[len(FEEDBACK_PREFIX) :].split("/", 1) if self.key.startswith(FEEDBACK_PREFIX) else []
        if len(parts) != 2 or not parts[1] or not re.match(NAME_PATTERN, parts[0]):
            return None
        return parts[0]

    @property
    def file_name(self) -> str:
        return posixpath.basename(self.key) or "_"

    @property
    def suffix(self) -> str:
        """Names this upload's label objects: the same for a retried event, another for a new upload."""
        identity = f"{self.key}\n{self.version_id or ''}\n{self.etag or ''}"
        return "file-" + hashlib.sha256(identity.encode()).hexdigest()[:16]

    @property
    def report_key(self) -> str:
        at = self.event_time.astimezone(UTC)
        stamp = f"{at:%Y%m%dT%H%M%S}{at.microsecond // 1000:03d}Z"
        folder = self.model or "_misplaced"
        name = self.key[len(f"{FEEDBACK_PREFIX}{folder}/") :] if self.model else self.key.replace("/", "_")
        return f"{FEEDBACK_REPORTS_PREFIX}{folder}/{name}-{stamp}.json"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class FeedbackServices:
    raw: RawBucket
    artifacts: ArtifactsBucket
    registry: VersionSource
    notify: Callable[[str, str], None]  # (subject, message): the alerts topic
    # Resolves a model's request keys and ids to the latest prediction made with each by a time
    # (PredictionKeys.resolve); None: labels must name request ids.
    resolve_keys: Callable[[str, Sequence[PredictionKey], datetime], Mapping[PredictionKey, ResolvedKey]] | None = None
    max_labels: int = MAX_FILE_LABELS


@dataclass(frozen=True)
class FeedbackOutcome:
    model: str | None
    key: str
    status: Status
    report_key: str
    accepted: int = 0
    refused: Mapping[RefusalReason, int] = field(default_factory=dict)
    problems: int = 0
    stored: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "key": self.key,
            "status": self.status,
            "report_key": self.report_key,
            "accepted": self.accepted,
            "refused": dict(self.refused),
            "problems": self.problems,
            "stored": list(self.stored),
        }


class FileRefused(Exception):  # noqa: N818 - the file's outcome, not a program error
    """The file as a whole cannot be taken (unreadable, a column missing, no such model): its report
    says why, and nothing of it is stored."""

    def __init__(self, code: str, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.column = code, message, column


def process_feedback_file(upload: FeedbackUpload, services: FeedbackServices) -> FeedbackOutcome:
    """Check one feedback file; store its labels or nothing; write its report; mail when nothing was stored."""
    document: dict[str, Any] = {
        "file": upload.key,
        "source": {"bucket": upload.bucket, "key": upload.key, "version_id": upload.version_id, "etag": upload.etag},
        "model": upload.model,
        "received_at": upload.event_time.astimezone(UTC).isoformat(),
        "rows_counted": "from 1, the first row after the header",
    }
    try:
        target, columns, intake = _check_file(upload, services)
    except FileRefused as refused:
        document |= {
            "stored": False,
            "file_problem": {"code": refused.code, "message": refused.message, "column": refused.column},
            "problems": [],
            "problem_count": 0,
        }
        _write_report(services, upload, document)
        lines = [f"{refused.code}: {refused.message}"]
        services.notify(_subject(upload), _mail(services, upload, lines))
        return FeedbackOutcome(upload.model, upload.key, "refused", upload.report_key)
    document |= {
        "label_column": columns[LABEL],
        "classes": list(target.classes) if target.classes is not None else None,
    }
    if intake.problem_count:
        problems = [
            {"row": p.index + 1, "column": columns.get(p.field, p.field), "code": p.code, "message": _where(p, columns)}
            for p in intake.problems
        ]
        document |= {"stored": False, "problems": problems, "problem_count": intake.problem_count}
        _write_report(services, upload, document)
        lines = [str(p["message"]) for p in problems[:MAIL_PROBLEMS]]
        if intake.problem_count > MAIL_PROBLEMS:
            lines.append(f"... and {intake.problem_count - MAIL_PROBLEMS} more (the report lists up to 100)")
        services.notify(_subject(upload), _mail(services, upload, lines))
        return FeedbackOutcome(upload.model, upload.key, "refused", upload.report_key, problems=intake.problem_count)
    stored = store_labels(
        intake, upload.suffix, lambda key, body: services.artifacts.put(key, body, "application/octet-stream")
    )
    nothing_joins = intake.accepted == 0 and intake.submitted > 0
    document |= {
        "stored": not nothing_joins,
        "labels": intake.submitted,
        "accepted": intake.accepted,
        "refused": dict(intake.refused),
        "examples": [
            {"row": r.index + 1, "reason": r.reason, r.by: r.request_id, "message": r.detail} for r in intake.examples
        ],
        "duplicates": intake.duplicates,
        "notes": intake.notes(),
        "stored_keys": stored,
        "problems": [],
        "problem_count": 0,
    }
    _write_report(services, upload, document)
    if nothing_joins:  # every label well formed, none about a prediction this platform can find: say so
        counts = ", ".join(f"{n} {reason}" for reason, n in intake.refused.items() if n)
        lines = [f"none of its {intake.submitted} labels names a prediction that can be joined ({counts})"]
        lines += [f"row {r.index + 1}: {r.reason}: {r.detail}" for r in intake.examples[:MAIL_PROBLEMS]]
        services.notify(_subject(upload), _mail(services, upload, lines))
    return FeedbackOutcome(
        upload.model,
        upload.key,
        "refused" if nothing_joins else "stored",
        upload.report_key,
        accepted=intake.accepted,
        refused=dict(intake.refused),
        stored=tuple(stored),
    )


def _check_file(upload: FeedbackUpload, services: FeedbackServices) -> tuple[LabelTarget, dict[str, str], LabelIntake]:
    """The file's labels checked; the columns each label field was read from (field -> column)."""
    model = upload.model
    if model is None:
        raise FileRefused(
            "misplaced_file",
            f"{upload.uri} is not under {FEEDBACK_PREFIX}<model>/<file>: put a model's labels in the folder named "
            "after the model (a lowercase name: letters, digits, - and _)",
        )
    target = registered_target(model, services.registry, services.artifacts.get)
    stored = services.raw.read(upload.key, upload.version_id)
    try:
        frame = read_table(stored.body, filename=upload.file_name, contract=_text_columns(model, target))
    except FileProblem as problem:
        raise FileRefused(problem.code, problem.message) from None
    label_column = _label_column(frame, target)
    columns = {REQUEST_ID: REQUEST_ID, REQUEST_KEY: REQUEST_KEY, ID: _id_column(frame, target), ROW: ROW}
    columns[LABEL] = label_column
    references = (REQUEST_ID, REQUEST_KEY) + ((ID,) if target.id_field is not None else ())
    if not any(columns[name] in frame.columns for name in references):
        named = f"{REQUEST_ID!r} or {REQUEST_KEY!r}" + (
            f" or {columns[ID]!r} (the id field)"
            if target.id_field is not None
            else f" (an {ID!r} column names rows only for a model whose config sets monitoring.performance.id_field)"
        )
        raise FileRefused(
            "missing_column",
            f"the file has no column naming each label's prediction: add {named} (its columns: "
            f"{_names(frame.columns)})",
            REQUEST_ID,
        )
    if len(frame) > services.max_labels:
        raise FileRefused(
            "too_many_rows",
            f"{len(frame):,} rows; a feedback file holds at most {services.max_labels:,}: split it into several files",
        )

    def column(name: str) -> list[Any]:
        return _values(frame[columns[name]]) if columns[name] in frame.columns else [MISSING] * len(frame)

    submission = Submission(
        request_ids=column(REQUEST_ID),
        rows=[_whole(v) for v in column(ROW)],
        values=_labels(_values(frame[label_column]), target),
        request_keys=column(REQUEST_KEY),
        ids=column(ID) if target.id_field is not None else [],  # else `id` is any column of the file
    )
    resolve = services.resolve_keys
    intake = check_labels(
        submission,
        target,
        now=upload.event_time,
        received_at=upload.event_time,
        source=f"file {upload.uri}",
        resolve=(lambda keys, at: resolve(target.model, keys, at)) if resolve is not None else None,
    )
    return target, columns, intake


def _id_column(frame: pd.DataFrame, target: LabelTarget) -> str:
    """The column of row ids: `id`, or the id field's own name (one of them, not both)."""
    if target.id_field is None or target.id_field == ID:
        return ID
    if ID in frame.columns and target.id_field in frame.columns:
        raise FileRefused(
            "ambiguous_id_column",
            f"the file has both {ID!r} and {target.id_field!r} columns: keep the one that holds the row ids",
            ID,
        )
    return target.id_field if target.id_field in frame.columns else ID


def registered_target(model: str, registry: VersionSource, read: Callable[[str], bytes]) -> LabelTarget:
    """The model's label target from its registry records and signatures (the feedback function
    loads no ONNX model): the champion's, with a canary's or shadow's classes too."""
    aliases = registry.aliases(model)
    champion_alias = aliases.get(CHAMPION)
    if champion_alias is None:
        if registry.model_version(model, 1) is None:
            raise FileRefused("unknown_model", f"there is no model named {model!r}: check the folder's name")
        raise FileRefused("no_champion", f"{model} has no champion yet: no prediction of it can have a label")
    champion = registry.model_version(model, int(champion_alias["version"]))
    if champion is None:
        raise FileRefused("unknown_model", f"{model}'s champion names a version the registry does not have")
    records = [champion]
    challenger_alias = aliases.get(CHALLENGER)
    if challenger_alias is not None and challenger_alias.get("rollout"):
        challenger = registry.model_version(model, int(challenger_alias["version"]))
        if challenger is not None and challenger.version != champion.version:
            records.append(challenger)
    signatures = [_signature(record, read) for record in records]
    try:
        return label_target(model, signatures, champion.monitoring, champion.version)
    except NotMonitored as error:
        raise FileRefused("not_monitored", str(error)) from None


def _signature(record: ModelVersion, read: Callable[[str], bytes]) -> ServedSignature:
    if record.signature_key is None:
        raise ValueError(f"{record.model} v{record.version}: the registry record names no signature")
    return ServedSignature.from_json(json.loads(read(record.signature_key)))


def _text_columns(model: str, target: LabelTarget) -> DataContract:
    """Read the id, row and label columns of a CSV as text, as written: a class "1" stays "1", a
    row or number is converted here, so a cell that is none is reported with its row."""
    names = dict.fromkeys([REQUEST_ID, REQUEST_KEY, ID, ROW, LABEL, target.label_column, target.id_field or ID])
    return DataContract.model_validate(
        {
            "dataset": model,
            "version": 1,
            "columns": [{"name": name, "type": "string", "nullable": True} for name in names],
        }
    )


def _label_column(frame: pd.DataFrame, target: LabelTarget) -> str:
    candidates = [c for c in dict.fromkeys([LABEL, target.label_column]) if c in frame.columns]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileRefused(
            "missing_column",
            f"the file has no label column: name it {LABEL!r} or {target.label_column!r} (the model's label); its "
            f"columns: {_names(frame.columns)}",
            LABEL,
        )
    raise FileRefused(
        "ambiguous_label_column",
        f"the file has both {LABEL!r} and {target.label_column!r} columns: keep the one that holds the labels",
        LABEL,
    )


def _values(column: pd.Series) -> list[Any]:
    """A column's cells as Python values (int, float, bool, str), None where empty."""
    values = column.astype(object).to_numpy(copy=True)
    values[column.isna().to_numpy()] = None
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def _whole(value: Any) -> Any:
    """A row written as text ("3") as its number; anything else as it is (and refused if not a row)."""
    return int(value) if isinstance(value, str) and _WHOLE.match(value) else value


def _labels(values: list[Any], target: LabelTarget) -> list[Any]:
    """A regression's labels written as text ("151.5") as numbers; class labels stay as written."""
    if target.classifier:
        return values
    return [_float_text(v) if isinstance(v, str) else v for v in values]


def _float_text(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _where(problem: LabelProblem, columns: Mapping[str, str]) -> str:
    column = columns.get(problem.field, problem.field)
    return f"row {problem.index + 1}, column {column!r}: {problem.detail}"


def _names(columns: Any) -> str:
    names = [repr(str(c)) for c in columns]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _subject(upload: FeedbackUpload) -> str:
    return f"Feedback file not stored: {upload.model or 'misplaced'}/{upload.file_name}"[:100]


def _mail(services: FeedbackServices, upload: FeedbackUpload, lines: list[str]) -> str:
    return "\n".join(
        [
            f"{upload.uri}: no label of this file was stored.",
            "",
            *lines,
            "",
            "Fix the file and upload it again (rows are counted from 1, the first row after the header).",
            f"Report: s3://{services.artifacts.name}/{upload.report_key}",
        ]
    )


def _write_report(services: FeedbackServices, upload: FeedbackUpload, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, default=str).encode()
    services.artifacts.put(upload.report_key, body, "application/json")
