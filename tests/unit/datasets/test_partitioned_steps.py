"""A multi-file upload driven through the validation steps in one process, on moto's S3 (plan ->
read each slice -> cut -> check each part -> each bucket's repeats -> reduce, as the state machine
runs them): what the version holds is what the upload held when it was committed, whatever
happens to the folder during the run."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.contracts import FileProblem, load_contract, read_table
from mlops.datasets import partitioned_ingestion as steps
from mlops.datasets.ingestion import IngestionOutcome, IngestionServices, stored_frame
from mlops.datasets.partitions import manifest_key
from mlops.datasets.records import DatasetVersion
from mlops.datasets.upload_plan import Slice, read_items
from mlops.datasets.versioning import column_arrays

DATASET = "visits"
CONTRACT = """
dataset: visits
version: 1
extra_columns: allow
columns:
  - {name: id, type: int}
  - {name: amount, type: float}
"""
BUCKETS = ("raw", "artifacts", "curated", "quarantine")


@dataclass
class _Registry:
    """The registry's calls the reduce makes, in memory."""

    versions: dict[str, DatasetVersion] = field(default_factory=dict)
    uploads: list[dict[str, Any]] = field(default_factory=list)

    def processed_upload(self, dataset: str, key: str, upload_id: str) -> None:
        return None

    def record_upload(self, dataset: str, key: str, upload_id: str, record: dict[str, Any]) -> bool:
        self.uploads.append(record)
        return True

    def put_dataset_version(self, record: DatasetVersion) -> bool:
        return self.versions.setdefault(record.version, record) is record

    def get_dataset_version(self, dataset: str, version: str) -> DatasetVersion | None:
        return self.versions.get(version)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for name in BUCKETS:
            client.create_bucket(Bucket=name)
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket="artifacts", Key=f"contracts/{DATASET}.yaml", Body=CONTRACT.encode())
        yield client


def _services(s3: Any, slice_bytes: int = steps.PartitioningSettings().slice_bytes) -> steps.PartitionedServices:
    ingestion = IngestionServices(
        raw=RawBucket(s3, "raw"),
        artifacts=ArtifactsBucket(s3, "artifacts"),
        curated=CuratedBucket(s3, "curated"),
        quarantine=QuarantineBucket(s3, "quarantine"),
        registry=_Registry(),  # type: ignore[arg-type]
        notify=lambda subject, body: None,
        start_training=lambda request, run: None,
    )
    settings = steps.PartitioningSettings(part_bytes=2_000, buckets=4, slice_bytes=slice_bytes)
    return steps.PartitionedServices(ingestion, settings)


def _validate(
    s3: Any,
    upload: str,
    files: dict[str, bytes],
    during: Callable[[], None] = lambda: None,
    slice_bytes: int = steps.PartitioningSettings().slice_bytes,
) -> IngestionOutcome:
    """The files, the commit marker, then every step as the state machine runs them (a slice that
    could not be read goes straight to the reduce); `during` runs after the plan (the folder changing)."""
    for name, body in files.items():
        s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/{upload}/{name}", Body=body)
    marker = s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/{upload}/_COMMIT", Body=b"")
    ref = steps.upload_for(f"raw/{DATASET}/{upload}/_COMMIT", "raw", marker["VersionId"], 0)
    run = steps.ValidationRun(dataset=DATASET, run=steps.run_name(ref), upload=ref)
    services = _services(s3, slice_bytes)
    planned = steps.plan(run, services)
    assert planned.problem is None, planned.problem
    during()
    for item in read_items(services.artifacts.get(planned.items_key), Slice):
        steps.read_slice(run, item, services)
    cut = steps.cut(run, planned.slices, services)
    if cut.failed:
        return steps.reduce(run, steps.ReduceInput(slices=planned.slices), services)
    for part in read_items(services.artifacts.get(cut.items_key), steps.PartItem):
        steps.check_one_part(run, part, services)
    for bucket in cut.buckets:
        steps.bucket_repeats(run, bucket, cut.parts, services)
    given = steps.ReduceInput(slices=planned.slices, parts=cut.parts, rows_per_part=cut.rows_per_part)
    return steps.reduce(run, given, services)


def _csv(frame: pd.DataFrame) -> bytes:
    return str(frame.to_csv(index=False)).encode()


def _frame(rows: int = 400) -> pd.DataFrame:
    return pd.DataFrame({"id": range(rows), "amount": [i / 4 for i in range(rows)]})


def _manifest(s3: Any, outcome: IngestionOutcome) -> dict[str, Any]:
    assert outcome.status == "accepted", outcome.summary
    key = manifest_key(DATASET, str(outcome.version))
    return json.loads(s3.get_object(Bucket="curated", Key=key)["Body"].read())  # type: ignore[no-any-return]


def _stored(s3: Any, manifest: dict[str, Any]) -> pd.DataFrame:
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket="curated", Key=p["key"])["Body"].read()))
        for p in manifest["parts"]
    ]
    exact = {pa.int64(): pd.Int64Dtype()}.get  # an int column with nulls read back as float64 would round it
    return pd.concat([t.to_pandas(types_mapper=exact) for t in tables], ignore_index=True)


def test_a_file_overwritten_after_the_plan_is_kept_as_it_was_planned(s3: Any) -> None:
    frame = _frame()
    files = {"a.csv": _csv(frame.iloc[:200]), "b.csv": _csv(frame.iloc[200:])}

    def overwrite_and_add() -> None:
        s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/u1/b.csv", Body=_csv(frame.iloc[200:210]))
        s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/u1/c.csv", Body=_csv(frame.iloc[:5]))

    outcome = _validate(s3, "u1", files, overwrite_and_add)
    manifest = _manifest(s3, outcome)
    assert manifest["rows"] == len(frame)
    assert [s["key"].rsplit("/", 1)[-1] for s in manifest["sources"]] == ["a.csv", "b.csv"]
    b_versions = s3.list_object_versions(Bucket="raw", Prefix=f"raw/{DATASET}/u1/b.csv")["Versions"]
    [b_committed] = [v["VersionId"] for v in b_versions if not v["IsLatest"]]
    assert manifest["sources"][1]["version_id"] == b_committed
    assert manifest["sources"][1]["size"] == len(files["b.csv"])


def test_a_file_deleted_after_the_plan_still_quarantines_the_upload_it_was_part_of(s3: Any) -> None:
    frame = _frame()
    files = {"a.csv": _csv(frame.iloc[:200]), "b.csv": _csv(frame.iloc[200:]).replace(b"201,", b"x,", 1)}
    outcome = _validate(s3, "u2", files, lambda: s3.delete_object(Bucket="raw", Key=f"raw/{DATASET}/u2/a.csv"))
    assert outcome.status == "rejected"
    kept = s3.list_objects_v2(Bucket="quarantine", Prefix=f"{DATASET}/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in kept) == ["a.csv", "b.csv", "report.json", "summary.txt"]


def test_an_int_past_2_to_the_53_is_stored_exactly_in_a_column_with_missing_cells(s3: Any) -> None:
    contract = CONTRACT + "  - {name: count, type: int, nullable: true}\n"
    s3.put_object(Bucket="artifacts", Key=f"contracts/{DATASET}.yaml", Body=contract.encode())
    frame = _frame().assign(count=pd.array([2**53 + i if i % 7 else None for i in range(400)], dtype="Int64"))
    outcome = _validate(s3, "u3", {"a.csv": _csv(frame.iloc[:150]), "b.csv": _csv(frame.iloc[150:])})
    stored = _stored(s3, _manifest(s3, outcome))
    assert stored["count"].iloc[1] == 9007199254740993 and pd.isna(stored["count"].iloc[0])
    assert stored["count"].tolist() == frame["count"].tolist()


def test_an_undeclared_column_is_stored_the_same_however_the_upload_was_split(s3: Any) -> None:
    notes = [str(i) for i in range(400)]
    notes[350] = "2.5"  # the whole column reads as float; a file without this row would read as int
    frame = _frame().assign(note=notes)
    versions, stored = [], []
    for files in (1, 2, 3):
        bounds = [round(len(frame) * n / files) for n in range(files + 1)]
        parts = {f"{n}.csv": _csv(frame.iloc[bounds[n] : bounds[n + 1]]) for n in range(files)}
        outcome = _validate(s3, f"split-{files}", parts)
        assert outcome.version is not None, outcome.summary
        versions.append(outcome.version)
        manifest = json.loads(
            s3.get_object(Bucket="curated", Key=manifest_key(DATASET, outcome.version))["Body"].read()
        )
        stored.append(_stored(s3, manifest)["note"].tolist())
    assert versions[0] == versions[1] == versions[2]
    assert stored[0] == stored[1] == stored[2]
    # The single-file path stores what read_table typed over the whole file, as text.
    contract = load_contract(CONTRACT, source="contract.yaml")
    whole = stored_frame(read_table(_csv(frame), filename="all.csv", contract=contract), contract)
    assert stored[0] == column_arrays(whole, {"id": "int", "amount": "float"})["note"].tolist()


def test_a_rejected_upload_leaves_none_of_its_rows_in_the_curated_bucket(s3: Any) -> None:
    frame = _frame()
    rejected = _csv(frame.iloc[200:]).replace(b"\n399,", b"\n-x,")  # one bad id in the last part
    outcome = _validate(s3, "u4", {"a.csv": _csv(frame.iloc[:200]), "b.csv": rejected})
    assert outcome.status == "rejected"
    assert s3.list_objects_v2(Bucket="curated").get("Contents", []) == []
    # The same rows made good are kept: their parts reach the curated bucket with the manifest.
    manifest = _manifest(s3, _validate(s3, "u5", {"a.csv": _csv(frame)}))
    assert len(manifest["parts"]) > 1 and _stored(s3, manifest)["id"].tolist() == list(range(400))


def _notes(rows: int = 400) -> pd.DataFrame:
    """Rows whose undeclared `note` often holds quoted newlines: the file's lines are not its records."""
    notes = ["plain", "line one\nline two", "", 'said "no"\nthen\nleft']
    return _frame(rows).assign(note=[notes[i % len(notes)] for i in range(rows)])


def _reader_problem(data: bytes) -> FileProblem:
    """What the single-file path's reader says of the whole file."""
    with pytest.raises(FileProblem) as raised:
        read_table(data, filename="b.csv", contract=load_contract(CONTRACT, source="contract.yaml"))
    return raised.value


def _file_problem(s3: Any, outcome: IngestionOutcome) -> dict[str, Any]:
    assert outcome.status == "rejected" and outcome.report_key is not None
    return _file_problem_of(s3, outcome.report_key)


def _file_problem_of(s3: Any, report_key: str) -> dict[str, Any]:
    report = json.loads(s3.get_object(Bucket="artifacts", Key=report_key)["Body"].read())
    return report["file_problem"]  # type: ignore[no-any-return]


def test_a_ragged_row_in_a_later_slice_is_named_at_its_files_line_as_the_single_file_reader_counts_it(
    s3: Any,
) -> None:
    lines = _csv(_notes()).splitlines(keepends=True)
    lines.insert(40, b"\n")  # an empty line, which the reader skips and does not count
    ragged = next(i for i in range(len(lines) - 30, len(lines)) if lines[i].endswith(b",plain\n"))
    lines[ragged] = b"1,2.5,x,extra\n"  # a whole record, in a later slice
    data = b"".join(lines)
    single = _reader_problem(data)
    assert single.line is not None and single.line < ragged + 1, "quoted newlines: records, not lines"

    outcome = _validate(s3, "ragged", {"a.csv": _csv(_notes(50)), "b.csv": data}, slice_bytes=2_000)
    problem = _file_problem(s3, outcome)
    assert problem["code"] == "ragged_rows" and problem["line"] == single.line
    # "file X, line N": the file and its own line first, then which slice of it.
    assert problem["message"].startswith(f"file b.csv, line {single.line}: {single.message} (slice ")
    assert re.search(r"\(slice \d+ of \d+: bytes \d+-\d+\)$", problem["message"]), problem["message"]
    assert "part" not in problem["message"]


def test_a_byte_that_is_not_utf8_in_a_later_slice_is_named_at_the_files_byte_and_line(s3: Any) -> None:
    data = _csv(_notes())
    at = data.index(b"plain", len(data) - 500)
    data = data[:at] + b"pl\xe4in" + data[at + 5 :]
    single = _reader_problem(data)
    outcome = _validate(s3, "latin", {"b.csv": data}, slice_bytes=2_000)
    problem = _file_problem(s3, outcome)
    assert (problem["code"], problem["line"], problem["byte_offset"]) == ("not_utf8", single.line, at + 2)
    assert problem["message"].startswith(f"file b.csv, line {single.line}: {single.message} (slice ")


def test_an_undeclared_column_typed_differently_by_its_files_keeps_the_text_the_single_file_path_stores(
    s3: Any,
) -> None:
    # The first rows' codes read as numbers ("00001" -> 1), the last ones do not: read whole, the column is
    # text and keeps "00001"; a file holding only the first rows would read it as int and write "1".
    codes = [f"{i:05d}" for i in range(350)] + [f"B{i}" for i in range(50)]
    flags = ["true" if i % 3 else "false" for i in range(300)] + ["maybe"] * 100  # bool, then text
    frame = _frame().assign(code=codes, flag=flags)
    contract = load_contract(CONTRACT, source="contract.yaml")
    whole = stored_frame(read_table(_csv(frame), filename="all.csv", contract=contract), contract)
    expected = column_arrays(whole, {"id": "int", "amount": "float"})
    assert expected["code"][:2].tolist() == ["00000", "00001"] and expected["flag"][0] == "false"
    versions = []
    for files in (1, 2, 3):
        bounds = [round(len(frame) * n / files) for n in range(files + 1)]
        parts = {f"{n}.csv": _csv(frame.iloc[bounds[n] : bounds[n + 1]]) for n in range(files)}
        outcome = _validate(s3, f"mixed-{files}", parts)
        stored = _stored(s3, _manifest(s3, outcome))
        assert stored["code"].tolist() == expected["code"].tolist(), files
        assert stored["flag"].tolist() == expected["flag"].tolist(), files
        versions.append(outcome.version)
    assert versions[0] == versions[1] == versions[2]


def test_a_failed_map_child_is_named_in_the_report_by_its_part_rows_and_files_with_its_error(s3: Any) -> None:
    """A Map whose child failed fails with States.ExceedToleratedFailureThreshold, which names no item;
    the child is found in the ResultWriter's export, written whether or not the Map Run succeeded:
    `<Prefix>/<map run id>/manifest.json` listing `FAILED_0.json`, a JSON array of execution records
    with `Input` (a JSON string), `Status`, `Error` and `Cause`
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
    frame = _frame()
    for name, body in {"a.csv": _csv(frame.iloc[:150]), "b.csv": _csv(frame.iloc[150:])}.items():
        s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/crash/{name}", Body=body)
    marker = s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/crash/_COMMIT", Body=b"")
    ref = steps.upload_for(f"raw/{DATASET}/crash/_COMMIT", "raw", marker["VersionId"], 0)
    run = steps.ValidationRun(dataset=DATASET, run=steps.run_name(ref), upload=ref)
    services = _services(s3)
    planned = steps.plan(run, services)
    for item in read_items(services.artifacts.get(planned.items_key), Slice):
        steps.read_slice(run, item, services)
    cut = steps.cut(run, planned.slices, services)
    parts = read_items(services.artifacts.get(cut.items_key), steps.PartItem)
    straddling = next(p for p in parts if len(p.pieces) == 2)  # rows from both files
    cause = {"errorMessage": "Unable to allocate 2.1 GiB", "errorType": "MemoryError", "stackTrace": []}
    child = {
        "Input": json.dumps({"run": run.model_dump(), "part": straddling.model_dump()}),
        "Status": "FAILED",
        "Error": "MemoryError",
        "Cause": json.dumps(cause),
    }
    aborted = {**child, "Status": "ABORTED", "Error": "", "Cause": ""}  # stopped because the other failed
    folder = f"{steps.WorkFolder(run).map_results}0f1e2d3c-map-run/"
    s3.put_object(Bucket="artifacts", Key=f"{folder}FAILED_0.json", Body=json.dumps([child, aborted]).encode())
    manifest = {"ResultFiles": {"FAILED": [{"Key": f"{folder}FAILED_0.json"}], "PENDING": [], "SUCCEEDED": []}}
    s3.put_object(Bucket="artifacts", Key=f"{folder}manifest.json", Body=json.dumps(manifest).encode())

    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "The specified tolerated failure threshold"}
    outcome = steps.reduce(run, steps.ReduceInput(slices=planned.slices, error=error), services)
    problem = _file_problem(s3, outcome)
    rows = f"rows {straddling.row_offset + 1}-{straddling.row_offset + straddling.rows}"
    assert problem["code"] == "validation_failed"
    assert problem["message"] == (
        f"part {straddling.index + 1} of {len(parts)} ({rows}, from file a.csv; file b.csv) failed: "
        "MemoryError: Unable to allocate 2.1 GiB (the run stopped: States.ExceedToleratedFailureThreshold)"
    )


def test_a_failed_reduce_leaves_a_report_a_mail_and_a_failed_upload_record_and_keeps_every_file(s3: Any) -> None:
    frame = _frame()
    for name, body in {"a.csv": _csv(frame.iloc[:150]), "b.csv": _csv(frame.iloc[150:])}.items():
        s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/late/{name}", Body=body)
    marker = s3.put_object(Bucket="raw", Key=f"raw/{DATASET}/late/_COMMIT", Body=b"")
    ref = steps.upload_for(f"raw/{DATASET}/late/_COMMIT", "raw", marker["VersionId"], 0)
    run = steps.ValidationRun(dataset=DATASET, run=steps.run_name(ref), upload=ref)
    services = _services(s3)
    mails: list[tuple[str, str]] = []
    services.ingestion.notify = lambda subject, body: mails.append((subject, body))
    steps.plan(run, services)
    # What the state machine's Catch hands the step: the reduce's Lambda error, its cause as JSON.
    cause = {
        "errorMessage": "An error occurred (SlowDown) when calling the CopyObject operation",
        "errorType": "ClientError",
    }
    outcome = steps.record_failure(run, {"Error": "ClientError", "Cause": json.dumps(cause)}, services)

    assert outcome.status == "failed" and outcome.report_key is not None
    problem = _file_problem_of(s3, outcome.report_key)
    assert problem["code"] == "validation_incomplete"
    assert (
        "could not be completed" in problem["message"]
        and "ClientError: An error occurred (SlowDown)" in problem["message"]
    )
    [(subject, mail)] = mails
    assert subject == f"Rejected upload for dataset {DATASET}" and outcome.report_key in mail and "SlowDown" in mail
    registry = services.ingestion.registry
    assert [u["status"] for u in registry.uploads] == ["failed"] and registry.versions == {}  # type: ignore[attr-defined]
    assert s3.list_objects_v2(Bucket="curated").get("Contents", []) == []
    assert s3.list_objects_v2(Bucket="quarantine").get("Contents", []) == []
    kept = s3.list_objects_v2(Bucket="raw", Prefix=f"raw/{DATASET}/late/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in kept) == ["_COMMIT", "a.csv", "b.csv"]


def test_a_part_that_fails_to_copy_fails_the_reduce_before_the_manifest(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reduce copies the accepted parts PART_COPIES_AT_ONCE at a time: whichever copy fails, the
    reduce fails (the state machine records it) and no manifest names a part that is not there."""
    copied: list[str] = []
    real = CuratedBucket.copy_from

    def copy_from(bucket: CuratedBucket, source_bucket: str, source_key: str, key: str) -> None:
        if len(copied) == 3:
            raise RuntimeError(f"copy of {key} refused")
        copied.append(key)
        real(bucket, source_bucket, source_key, key)

    monkeypatch.setattr(CuratedBucket, "copy_from", copy_from)
    with pytest.raises(RuntimeError, match="refused"):
        _validate(s3, "u-copy", {"a.csv": _csv(_frame())})
    kept = [o["Key"] for o in s3.list_objects_v2(Bucket="curated").get("Contents", [])]
    assert not any(key.endswith("manifest.json") for key in kept), kept
