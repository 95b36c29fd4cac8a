"""A model trained on an ingested table, traffic served and captured as the predict function does,
and the captured rows labelled as the join leaves them (a `JoinedHour`): what the feedback loop's
tests start from. Every step is the platform's own code: ingestion (`process_upload`, the contract),
training (prepare, fit, ONNX export, signature), serving (`encode_request`, `predict`) and capture
(`CaptureBuffer`); only the buckets and the join are stand-ins."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from mlops.buckets import StoredObject
from mlops.datasets.ingestion import IngestionOutcome, IngestionServices, Upload, process_upload
from mlops.datasets.records import DatasetVersion
from mlops.datasets.versioning import ColumnSchema, Manifest, read_npz
from mlops.monitoring.config import FeedbackConfig
from mlops.monitoring.feedback_dataset import FeedbackSchema, FeedbackServices, FeedbackSource
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.labels import rows_within_requests
from mlops.registry.feedback_exports import FeedbackExports
from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer, RequestKeys, read_capture
from mlops.serving.inputs import InputPolicy, encode_request
from mlops.serving.models import ServedVersion, load_version
from mlops.serving.prediction_keys import KeyPolicy
from mlops.serving.request_ids import new_request_id
from mlops.training.candidates import fit_candidate, load_model
from mlops.training.onnx_export import export_onnx
from mlops.training.prepare import prepare
from mlops.training.signature import signature, signature_json
from mlops.training.start import StartedRun, TrainingRequest
from tests.unit.training.support import small_config

DATASET = "visits"
ID_FIELD = "visit_id"  # the contract's id column, which the model does not take
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


def contract(label: str = "int", *, id_required: bool = False, auto_train: bool = True) -> str:
    """The dataset's contract: an id the model does not take, an int, a float, a category, a bool and
    a date, each with gaps, and a 0/1 (or bool) label."""
    label_type = "type: int, allowed_values: [0, 1]" if label == "int" else "type: bool"
    return f"""
dataset: {DATASET}
version: 1
label: churned
columns:
  - {{name: visit_id, type: int, unique: true, required: {str(id_required).lower()}}}
  - {{name: age, type: int, nullable: true, min: 0, max: 120}}
  - {{name: spend, type: float, nullable: true, min: 0}}
  - {{name: plan, type: category, nullable: true, allowed_values: [basic, plus, premium]}}
  - {{name: member, type: bool, nullable: true}}
  - {{name: seen, type: datetime, nullable: true}}
  - {{name: churned, {label_type}}}
policy: {{auto_train: {str(auto_train).lower()}}}
"""


@dataclass(frozen=True)
class Table:
    """The generated rows as Python values (None: missing), and the same as the CSV a team uploads."""

    rows: list[dict[str, Any]]
    labels: list[Any]
    csv: bytes


@cache
def table(label: str = "int", rows: int = 400, seed: int = 19) -> Table:
    rng = np.random.RandomState(seed)
    records: list[dict[str, Any]] = []
    labels: list[Any] = []
    for i in range(rows):
        age = int(rng.randint(18, 90)) if rng.rand() > 0.05 else None
        spend = round(float(rng.lognormal(3, 1)), 2) if rng.rand() > 0.05 else None
        if spend is not None and i % 7 == 0:
            spend = float(rng.rand()) / 3  # a float with every digit: written back exactly
        plan = str(rng.choice(["basic", "plus", "premium"])) if rng.rand() > 0.05 else None
        member = bool(rng.rand() < 0.4) if rng.rand() > 0.05 else None
        day = np.datetime64("2026-01-01") + int(rng.randint(0, 330))
        seen: str | None = str(day) if i % 3 else f"{day}T{rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:15Z"
        if rng.rand() < 0.05:
            seen = None
        score = 0.03 * (age or 50) - 1.5 + (plan == "premium") + 0.5 * bool(member) + rng.normal(0, 0.6)
        churned = int(score > 0)
        records.append({"age": age, "spend": spend, "plan": plan, "member": member, "seen": seen})
        labels.append(churned if label == "int" else bool(churned))
    lines = ["visit_id,age,spend,plan,member,seen,churned"]
    for i, (record, value) in enumerate(zip(records, labels, strict=True)):
        cells = [str(1000 + i)] + [_cell(record[n]) for n in ("age", "spend", "plan", "member", "seen")]
        lines.append(",".join([*cells, _cell(value)]))
    return Table(records, labels, ("\n".join(lines) + "\n").encode())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- ingestion, with the buckets and records in memory ------------------------------------------
@dataclass
class _Objects:
    objects: dict[str, bytes] = field(default_factory=dict)
    contract_yaml: str = ""
    name: str = "artifacts-bucket"  # a rejection's mail names the report page by its S3 URI

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body

    def exists(self, key: str) -> bool:
        return key in self.objects

    def read(self, key: str, version_id: str | None = None) -> Any:
        body = self.objects[key]
        return StoredObject(body, version_id or "v1", None, len(body)) if key.startswith("raw/") else body

    def keep(self, source_bucket: str, source_key: str, source_version: str | None, key: str) -> None:
        self.objects[key] = b"<copy>"

    def contract_text(self, dataset: str) -> tuple[str, bytes]:
        return f"contracts/{dataset}.yaml", self.contract_yaml.encode()


@dataclass
class Platform:
    """What ingestion writes, in memory, with the feedback records on a (moto) registry table."""

    contract_yaml: str
    table: Any
    raw: _Objects = field(default_factory=_Objects)
    artifacts: _Objects = field(default_factory=_Objects)
    curated: _Objects = field(default_factory=_Objects)
    quarantine: _Objects = field(default_factory=_Objects)
    versions: dict[str, DatasetVersion] = field(default_factory=dict)
    mail: list[tuple[str, str]] = field(default_factory=list)
    runs: dict[str, TrainingRequest] = field(default_factory=dict)
    events: int = 0

    def __post_init__(self) -> None:
        self.artifacts.contract_yaml = self.contract_yaml

    # the dataset records ingestion keeps
    def processed_upload(self, dataset: str, key: str, upload_id: str) -> None:
        return None

    def record_upload(self, dataset: str, key: str, upload_id: str, record: dict[str, Any]) -> bool:
        return True

    def put_dataset_version(self, record: DatasetVersion) -> bool:
        if record.version in self.versions:
            return False
        self.versions[record.version] = record
        return True

    def get_dataset_version(self, dataset: str, version: str) -> DatasetVersion | None:
        return self.versions.get(version)

    def start(self, request: TrainingRequest, run: str) -> StartedRun:
        started = run in self.runs
        self.runs.setdefault(run, request)
        return StartedRun(run, f"arn:execution:{run}", already_started=started)

    def services(self) -> IngestionServices:
        return IngestionServices(
            raw=cast(Any, self.raw),
            artifacts=cast(Any, self.artifacts),
            curated=cast(Any, self.curated),
            quarantine=cast(Any, self.quarantine),
            registry=cast(Any, self),
            notify=lambda subject, body: self.mail.append((subject, body)),
            start_training=self.start,
            feedback=FeedbackExports(self.table),
        )

    def ingest(self, key: str) -> IngestionOutcome:
        """The S3 event of an object already in the raw bucket (each event its own S3 version)."""
        self.events += 1
        return process_upload(Upload("raw-bucket", key, f"v{self.events}"), self.services())

    def upload(self, name: str, body: bytes) -> IngestionOutcome:
        key = f"raw/{DATASET}/{name}"
        self.raw.objects[key] = body
        return self.ingest(key)

    def stored(self, version: str) -> tuple[Manifest, dict[str, NDArray[Any]]]:
        record = self.versions[version]
        manifest = Manifest.model_validate_json(self.curated.objects[record.manifest_key])
        return manifest, read_npz(self.curated.objects[manifest.data_key])


# -- training and serving -----------------------------------------------------------------------
@dataclass(frozen=True)
class Trained:
    served: ServedVersion
    columns: list[ColumnSchema]


def train(platform: Platform, version: str) -> Trained:
    """The training pipeline's steps on one dataset version: a logistic regression, its ONNX model
    and signature, loaded as serving loads a registered version."""
    manifest, arrays = platform.stored(version)
    columns = manifest.columns
    config = small_config("binary", dataset=DATASET, label="churned")
    prepared = prepare(arrays, columns, config)
    result = fit_candidate(config.candidates[0], prepared.splits, config)
    assert result.status == "succeeded" and result.model_bytes is not None, result.error
    splits = prepared.splits
    onnx = export_onnx(load_model(result.model_bytes), splits.X_train.shape[1], splits.feature_names)
    sig = signature(config, prepared.meta.feature_spec, splits.X_train, prepared.meta.classes, columns)
    files = {"m/model.onnx": onnx, "m/signature.json": json.dumps(signature_json(sig)).encode()}
    record = ModelVersion(
        model=DATASET,
        version=3,
        status="registered",
        artifacts={"model.onnx": {"key": "m/model.onnx"}},
        onnx_sha256=hashlib.sha256(onnx).hexdigest(),
        signature_key="m/signature.json",
    )
    return Trained(load_version(DATASET, record, files.__getitem__), list(columns))


@dataclass(frozen=True)
class Traffic:
    """Requests as served and captured: which table row each captured row is, per request."""

    batches: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]]
    table_rows: dict[tuple[str, int], int]  # (request id, row) -> the table's row


def serve(
    served: ServedVersion,
    rows: list[dict[str, Any]],
    *,
    per_request: int = 5,
    shadow_every: int = 3,
    ids: list[str] | None = None,
) -> Traffic:
    """Send `rows` in requests of `per_request`, each answered by the champion (v3) and every
    `shadow_every`-th one also scored by a shadow (v4, the same model), all captured; with `ids`,
    each row carried its `visit_id` (the config's `monitoring.performance.id_field`)."""
    written: dict[str, bytes] = {}
    capture = CaptureBuffer(write=written.__setitem__, default_sample_rate=1.0, now=lambda: START)
    policy = InputPolicy(out_of_range="warn", unseen_category="warn")
    table_rows: dict[tuple[str, int], int] = {}
    for n, first in enumerate(range(0, len(rows), per_request)):
        request = rows[first : first + per_request]
        request_id = new_request_id(now_ms=START_MS + n, random_bytes=n.to_bytes(10, "big"))
        encoded = encode_request(request, served.signature, policy)
        prediction = served.predict(encoded.matrix)
        variants = [("champion", 3)] + ([("shadow", 4)] if n % shadow_every == 0 else [])
        keys = None
        if ids is not None:
            keys = RequestKeys(KeyPolicy(ID_FIELD, timedelta(days=14)), None, ids[first : first + per_request])
        for variant, version in variants:
            capture.add(
                model=DATASET,
                version=version,
                fields=served.signature.field_kinds,
                classes=served.signature.classes,
                values=encoded.values,
                predictions=prediction.predictions,
                probabilities=prediction.probabilities,
                variant=variant,
                request_id=request_id,
                keys=keys if variant == "champion" else None,
            )
        table_rows.update({(request_id, i): first + i for i in range(len(request))})
    capture.flush()
    return Traffic([read_capture(body) for _, body in sorted(written.items())], table_rows)


def joined(traffic: Traffic, labels: dict[int, tuple[Any, int]]) -> JoinedHour:
    """The captured rows whose table row has a label (`{table row: (label, labelled_ms)}`), as the
    join leaves them: every version's row, inputs as captured, the label as serving spells classes."""
    metas = [meta for meta, _ in traffic.batches]
    fields: dict[str, str] = metas[0]["fields"]
    parts: dict[str, list[Any]] = {}
    for meta, arrays in traffic.batches:
        within = rows_within_requests(arrays["request_id"])
        rows = [traffic.table_rows[(str(r), int(i))] for r, i in zip(arrays["request_id"], within, strict=True)]
        keep = np.array([row in labels for row in rows], dtype=bool)
        n = int(keep.sum())
        columns = {
            "request_ids": arrays["request_id"][keep],
            "rows": within[keep],
            "versions": np.full(n, meta["version"], dtype=np.int64),
            "variants": arrays["variant"][keep],
            "predictions": arrays["prediction"][keep],
            "probabilities": arrays["probabilities"][keep],
            "labels": np.array([str(labels[r][0]) for r, k in zip(rows, keep, strict=True) if k], dtype=str),
            "answered_ms": arrays["time_ms"][keep],
            "labelled_ms": np.array([labels[r][1] for r, k in zip(rows, keep, strict=True) if k], dtype=np.int64),
        }
        columns |= {f"input:{name}": arrays[f"input:{name}"][keep] for name in fields}
        columns |= {f"null:{name}": arrays[f"null:{name}"][keep] for name, kind in fields.items() if kind != "numeric"}
        for name, values in columns.items():
            parts.setdefault(name, []).append(values)
    whole = {name: np.concatenate(values) for name, values in parts.items()}
    return JoinedHour(
        model=DATASET,
        hour=START,
        request_ids=whole["request_ids"],
        rows=whole["rows"],
        versions=whole["versions"],
        variants=whole["variants"],
        predictions=whole["predictions"],
        probabilities=whole["probabilities"],
        labels=whole["labels"],
        answered_ms=whole["answered_ms"],
        labelled_ms=whole["labelled_ms"],
        classes=[str(c) for c in metas[0]["classes"]],
        fields=fields,
        inputs={name: whole[f"input:{name}"] for name in fields},
        missing={name: whole[f"null:{name}"] for name, kind in fields.items() if kind != "numeric"},
        predicted={3: len(traffic.table_rows)},
        joined_at=START + timedelta(hours=2),
    )


# -- the feedback loop's inputs ------------------------------------------------------------------
HOUR_MS = 3_600_000
LABELLED_MS = START_MS + 2 * HOUR_MS  # labels arrive two hours after the predictions
JOINED_UNTIL = START + timedelta(hours=3)  # every label before this has been joined


@cache
def served_table(label: str) -> tuple[Trained, Traffic, dict[str, NDArray[Any]]]:
    """A model trained on the table's dataset version, the whole table sent to it, and the version's
    stored columns (what the feedback version's must equal, row for row)."""
    first = Platform(contract(label), table=None)
    outcome = first.upload("visits.csv", table(label).csv)
    assert outcome.status == "accepted", outcome.summary
    trained = train(first, str(outcome.version))
    return trained, serve(trained.served, table(label).rows), first.stored(str(outcome.version))[1]


def feedback_source(
    label: str, labels: dict[int, tuple[Any, int]], *, min_rows: int = 50, until: datetime | None = None
) -> FeedbackSource:
    """The labelled rows of the table sent to the model, as the loop gets them: the joined window,
    the champion's signature, `feedback.min_rows` and the time every label has been joined until."""
    trained, traffic, _ = served_table(label)
    window = joined(traffic, labels)
    schema = FeedbackSchema.from_signature(trained.served.signature, model=DATASET)
    return FeedbackSource(window, schema, FeedbackConfig(min_rows=min_rows), until or JOINED_UNTIL)


def labelled(label: str, rows: range, *, at_ms: int = LABELLED_MS) -> dict[int, tuple[Any, int]]:
    """The table's true labels for `rows`, arriving one millisecond apart from `at_ms`."""
    truth = table(label).labels
    return {row: (truth[row], at_ms + row) for row in rows}


def feedback_services(platform: Platform) -> FeedbackServices:
    return FeedbackServices(
        raw=cast(Any, platform.raw), exports=FeedbackExports(platform.table), now=lambda: JOINED_UNTIL
    )
