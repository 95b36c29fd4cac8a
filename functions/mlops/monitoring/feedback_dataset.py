"""The feedback loop (issue #19): labelled traffic written back as training data, through the
dataset's contract like any upload, so retraining after a performance drop learns from real recent
outcomes.

A window of joined hours (`mlops.monitoring.joined`) becomes one CSV under `raw/<dataset>/`,
`feedback-<model>-<first label>-<last label>.csv`: the model's inputs as the dataset names them,
then the label column of the model's config. The ingest function then does what it does with every
upload: validated against the contract, the file becomes a dataset version, or goes to quarantine
with a report naming what failed. Nothing here decides what the dataset accepts.

What each column holds, from what capture keeps (`mlops.serving.capture`, `mlops.serving.inputs`):
- int and float inputs: captured as float64, NaN for null; written as the number (an integral
  value without `.0`, so an int column reads it as an int), empty for null. Integers past 2**53
  were already rounded by capture's float64.
- bool inputs: captured as 1.0 / 0.0; written `true` / `false`.
- string and category inputs: captured as text with a null mask; written as the text, empty for
  null. As in any CSV upload, a value spelled like a null token (`NA`, `null`, `None`, empty) is
  read back as missing.
- datetime inputs: capture keeps the value as a UTC instant in ISO 8601 text under the field's own
  name (and the derived parts, `<field>__<part>`, which are model inputs, not dataset columns, and
  are left out). The ISO text is written: a contract without a `format` reads it to the same
  instant; a contract whose datetime column has a strptime `format` rejects it (the report names
  the column), since the model's signature does not carry that format.
- the label: a class as serving answers it (text) is written as the dataset spells it (`true` /
  `false` for a bool label, `0` / `1` for an int one); a regression target as a number.
- the id field (`monitoring.performance.id_field`), when requests carried it: the text they sent,
  empty where a row had none.
- other columns the contract has that the model does not take (an id the config does not name,
  excluded columns, the segment column): left out. A contract that requires them (`required` is
  true by default) rejects every feedback upload with a report naming them: mark them
  `required: false` to accept feedback.

Which rows: every labelled row of the window, once. A request a shadow challenger also scored is in
capture twice (same request id and row, variant `shadow`); the answering version's row is kept.
Rows of requests the serving policy refused are kept too: the contract, not the policy, says what
training data is. A row is new when its label arrived after the model's watermark (the newest label
arrival already written, on the registry table) and before `labelled_until`, the time up to which
every label has been joined; a corrected label arrives later, so the row is written again with it
(the older dataset version keeps the older label: versions never change).

numpy and the standard library only: this runs in the scheduled monitoring function, on the
inference layer (no pandas, no pyarrow).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops.buckets import RawBucket
from mlops.monitoring.config import FeedbackConfig
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.label_store import whole_ms
from mlops.names import FEEDBACK_UPLOAD_STEM, RAW_PREFIX
from mlops.registry.feedback_exports import FeedbackExport, FeedbackExports, FeedbackWatermark, RequestedRun
from mlops.serving.rollout import SHADOW_VARIANT
from mlops.serving.signature import ServedSignature

ClassValue = bool | int | float | str
FeedbackStatus = Literal["written", "too_few_rows", "nothing_new"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXACT_INTEGERS = 2.0**53  # float64 holds every integer up to here


@dataclass(frozen=True)
class FeedbackColumn:
    name: str
    source_type: str  # the dataset column's type: int, float, bool, string, category or datetime


@dataclass(frozen=True)
class FeedbackSchema:
    """What a feedback upload holds: the model's inputs as the dataset names them, then its label."""

    model: str
    dataset: str
    columns: tuple[FeedbackColumn, ...]
    label: str
    classes: tuple[ClassValue, ...] | None  # None: regression

    @classmethod
    def from_signature(
        cls, signature: ServedSignature, *, model: str, dataset: str | None = None, id_field: str | None = None
    ) -> FeedbackSchema:
        """From the serving version's signature (the champion's: the dataset's current columns), and
        the id field requests carry (`monitoring.performance.id_field`), written first as text."""
        inputs = tuple(FeedbackColumn(i.name, i.source_type) for i in signature.inputs)
        ids = (FeedbackColumn(id_field, "string"),) if id_field and id_field not in signature.field_names else ()
        return cls(
            model=model,
            dataset=dataset or model,
            columns=ids + inputs,
            label=signature.label,
            classes=signature.classes,
        )


@dataclass(frozen=True)
class FeedbackSource:
    """Labelled traffic the loop may write: the joined window, what the file holds, how many rows it
    needs (`feedback.min_rows`), and the time up to which every label has been joined."""

    window: JoinedHour | None
    schema: FeedbackSchema
    config: FeedbackConfig
    labelled_until: datetime


@dataclass(frozen=True)
class FeedbackRows:
    """Labelled rows to write, each (request, row) once, in the order their labels arrived."""

    request_ids: NDArray[np.str_]
    rows: NDArray[np.int64]
    versions: NDArray[np.int64]
    labels: NDArray[Any]
    labelled_ms: NDArray[np.int64]
    fields: Mapping[str, str]
    inputs: Mapping[str, NDArray[Any]]
    missing: Mapping[str, NDArray[np.bool_]]
    duplicates: int = 0  # copies of a row left out (a shadow's, or the same hour read twice)

    @property
    def size(self) -> int:
        return len(self.rows)


def new_rows(window: JoinedHour | None, *, after_ms: int | None, until_ms: int) -> FeedbackRows:
    """The window's labelled rows whose label arrived after `after_ms` (the watermark; None: all)
    and before `until_ms`, each (request, row) once: the answering version's row over a shadow's."""
    if window is None or window.size == 0:
        none = np.zeros(0, dtype=np.int64)
        return FeedbackRows(np.zeros(0, dtype=str), none, none, np.zeros(0, dtype=str), none, {}, {}, {})
    shadow = np.asarray(window.variants == SHADOW_VARIANT, dtype=np.int64)
    # Sorted by request, row, answering before shadow, latest label first: the first of each pair is kept.
    order = np.lexsort((-window.labelled_ms, shadow, window.rows, window.request_ids))
    ids, rows = window.request_ids[order], window.rows[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (ids[1:] != ids[:-1]) | (rows[1:] != rows[:-1])
    kept = order[first]
    labelled = window.labelled_ms[kept]
    fresh = labelled <= until_ms  # the join watermark: labels received at it are joined
    if after_ms is not None:
        fresh &= labelled > after_ms
    kept = kept[fresh]
    # Written in the order labels arrived, then answers, then requests: a rerun writes the same bytes.
    kept = kept[
        np.lexsort((window.rows[kept], window.request_ids[kept], window.answered_ms[kept], window.labelled_ms[kept]))
    ]
    return FeedbackRows(
        request_ids=window.request_ids[kept],
        rows=window.rows[kept],
        versions=window.versions[kept],
        labels=window.labels[kept],
        labelled_ms=window.labelled_ms[kept],
        fields=dict(window.fields),
        inputs={name: values[kept] for name, values in window.inputs.items()},
        missing={name: values[kept] for name, values in window.missing.items()},
        duplicates=int(len(order) - np.count_nonzero(first)),
    )


# -- the file ---------------------------------------------------------------------------------------
def _number_cells(values: NDArray[Any]) -> list[str]:
    """Numbers as CSV cells: empty for NaN, an integral value without `.0` (an int column reads it),
    any other as the shortest text that reads back to the same float64. Per column, not per cell."""
    numbers = np.asarray(values, dtype=np.float64)
    missing = np.isnan(numbers)
    with np.errstate(invalid="ignore"):
        integral = ~missing & (np.mod(numbers, 1) == 0) & (np.abs(numbers) < _EXACT_INTEGERS)
    cells = np.array(list(map(repr, numbers.tolist())), dtype=object)
    if integral.any():
        cells[integral] = list(map(str, numbers[integral].astype(np.int64).tolist()))
    cells[missing] = ""
    return cells.tolist()  # type: ignore[no-any-return]


def _class_text(value: ClassValue) -> str:
    """A class as a dataset spells it: the contract reads `true`/`false` as a bool, `1` as an int."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cells(rows: FeedbackRows, column: FeedbackColumn) -> list[str]:
    values = rows.inputs[column.name]
    if rows.fields[column.name] == "numeric":
        if column.source_type == "bool":
            numbers = np.asarray(values, dtype=np.float64).tolist()
            return ["" if math.isnan(v) else ("true" if v else "false") for v in numbers]
        return _number_cells(values)
    texts = np.asarray(values, dtype=str).tolist()
    missing = rows.missing.get(column.name)
    if missing is None:
        return texts  # type: ignore[no-any-return]
    return ["" if absent else text for text, absent in zip(texts, missing.tolist(), strict=True)]


def _label_cells(rows: FeedbackRows, schema: FeedbackSchema) -> list[str]:
    labels = rows.labels
    numeric = labels.dtype.kind in "fiub"  # a regression target (or classes stored as numbers)
    texts: list[str] = _number_cells(labels) if numeric else np.asarray(labels, dtype=str).tolist()
    if schema.classes is None:
        return texts
    spelled = {str(c): _class_text(c) for c in schema.classes}
    return [spelled.get(text, text) for text in texts]


def written_columns(rows: FeedbackRows, schema: FeedbackSchema) -> tuple[FeedbackColumn, ...]:
    """The schema's inputs the window captured (one it never captured is left out, not written empty:
    the contract's `required` then decides)."""
    return tuple(c for c in schema.columns if c.name in rows.fields)


def feedback_csv(rows: FeedbackRows, schema: FeedbackSchema) -> bytes:
    """The rows as a CSV upload: a header of input columns and the label, one line per row."""
    columns = written_columns(rows, schema)
    cells = [_cells(rows, c) for c in columns] + [_label_cells(rows, schema)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns] + [schema.label])
    writer.writerows(zip(*cells, strict=True))
    return buffer.getvalue().encode()


def _stamp(ms: int) -> str:
    at = _EPOCH + timedelta(milliseconds=ms)
    return f"{at:%Y%m%dT%H%M%S}{ms % 1000:03d}Z"


def feedback_key(schema: FeedbackSchema, first_ms: int, last_ms: int) -> str:
    """`raw/<dataset>/feedback-<model>-<first label>-<last label>.csv`: the same rows, the same key."""
    return f"{RAW_PREFIX}{schema.dataset}/{FEEDBACK_UPLOAD_STEM}{schema.model}-{_stamp(first_ms)}-{_stamp(last_ms)}.csv"


# -- the export ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedbackPlan:
    """What an export would write, decided before anything is written (a performance check names the
    upload in the run it requests): the rows, the key and the file, or why there is none."""

    schema: FeedbackSchema
    rows: FeedbackRows
    status: FeedbackStatus  # what writing it gives: written, or why nothing is
    detail: str
    key: str | None = None
    body: bytes | None = None

    @property
    def ready(self) -> bool:
        return self.key is not None


def plan_feedback(source: FeedbackSource, watermark: FeedbackWatermark | None) -> FeedbackPlan:
    schema = source.schema
    after = watermark.labelled_ms if watermark is not None else None
    rows = new_rows(source.window, after_ms=after, until_ms=whole_ms(source.labelled_until))
    since = f" since the last feedback upload ({watermark.key})" if watermark is not None else ""
    if rows.size == 0:
        return FeedbackPlan(schema, rows, "nothing_new", f"no new labelled rows{since}")
    if rows.size < source.config.min_rows:
        return FeedbackPlan(
            schema,
            rows,
            "too_few_rows",
            f"{rows.size} new labelled rows{since}; feedback.min_rows is {source.config.min_rows}: "
            "nothing written, they wait for more",
        )
    key = feedback_key(schema, int(rows.labelled_ms.min()), int(rows.labelled_ms.max()))
    detail = f"{rows.size} labelled rows written to {key}"
    return FeedbackPlan(schema, rows, "written", detail, key, feedback_csv(rows, schema))


@dataclass
class FeedbackServices:
    raw: RawBucket
    exports: FeedbackExports
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class FeedbackOutcome:
    """What an export did: the upload it wrote and its rows, or why it wrote nothing."""

    model: str
    status: FeedbackStatus
    detail: str
    rows: int = 0  # written; or found, when too few
    key: str | None = None  # the raw bucket key of the upload
    first_labelled_ms: int | None = None
    last_labelled_ms: int | None = None
    versions: tuple[int, ...] = ()  # whose answers the written rows were
    retraining: RequestedRun | None = None  # the run the upload's acceptance starts

    @property
    def written(self) -> bool:
        return self.status == "written"

    def as_dict(self) -> dict[str, Any]:
        """For a check's record on the registry table."""
        found: dict[str, Any] = {"status": self.status, "detail": self.detail, "rows": self.rows}
        if self.key is not None:
            found |= {"key": self.key, "versions": list(self.versions)}
        if self.retraining is not None:
            found["retraining_run"] = self.retraining.run_id
        return found


def write_feedback(
    services: FeedbackServices, plan: FeedbackPlan, *, retraining: RequestedRun | None = None
) -> FeedbackOutcome:
    """Write a ready plan: the export record (with the run its acceptance starts, if any) before the
    upload, so ingestion always finds it; the watermark last, so a crash writes the rows again (the
    same key, the same content: no second dataset version) rather than never."""
    model = plan.schema.model
    if not plan.ready or plan.key is None or plan.body is None:
        return FeedbackOutcome(model, plan.status, plan.detail, plan.rows.size)
    rows = plan.rows
    first, last = int(rows.labelled_ms.min()), int(rows.labelled_ms.max())
    versions = tuple(sorted({int(v) for v in rows.versions.tolist()}))
    written_at = services.now().isoformat()
    services.exports.put_export(
        FeedbackExport(
            dataset=plan.schema.dataset,
            key=plan.key,
            model=model,
            rows=rows.size,
            first_labelled_ms=first,
            last_labelled_ms=last,
            versions=versions,
            written_at=written_at,
            retraining=retraining,
        )
    )
    services.raw.put(plan.key, plan.body, "text/csv; charset=utf-8")
    services.exports.advance_watermark(FeedbackWatermark(model, last, plan.key, rows.size, written_at))
    return FeedbackOutcome(model, "written", plan.detail, rows.size, plan.key, first, last, versions, retraining)


def feedback_due(config: FeedbackConfig, watermark: FeedbackWatermark | None, now: datetime) -> bool:
    """Whether `every_days` asks for an export now: none written yet, or the last one that long ago.
    An export that found too few rows wrote nothing, so the next check asks again."""
    if config.every_days is None:
        return False
    if watermark is None:
        return True
    return now - datetime.fromisoformat(watermark.written_at) >= timedelta(days=config.every_days)


def export_feedback(
    services: FeedbackServices, source: FeedbackSource, *, retraining: RequestedRun | None = None
) -> FeedbackOutcome:
    """Write the labelled rows not yet written as an upload under `raw/<dataset>/` (on a schedule, or
    on demand), or say why not: none new, or fewer than `feedback.min_rows` (they wait)."""
    plan = plan_feedback(source, services.exports.watermark(source.schema.model))
    return write_feedback(services, plan, retraining=retraining)
