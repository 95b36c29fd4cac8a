"""Ingestion as a data team sees it: upload to the raw bucket, then find a dataset version or a quarantine
copy, a readable report and a notification."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from localcloud import lambda_
from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.datasets.versioning import read_npz
from tests.loan_notes import CONTRACT, STRAY_SPAN, loan_notes_csv

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]


def _frame() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    return str(frame.to_csv(index=False)).encode()


@pytest.fixture
def platform(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="data-team@example.com"
        )
        yield cloud, stack


def _deploy_contract(stack: DeployedStack, *, auto_train: bool = False, text: str | None = None) -> None:
    contract = draft_contract(_frame(), dataset=DATASET, label="target")
    if auto_train:
        contract = contract.model_copy(update={"policy": contract.policy.model_copy(update={"auto_train": True})})
    boto3.client("s3").put_object(
        Bucket=stack.outputs["ArtifactsBucketName"],
        Key=f"contracts/{DATASET}.yaml",
        Body=(text if text is not None else render_contract_yaml(contract)).encode(),
    )


def _upload(cloud: LocalCloud, stack: DeployedStack, name: str, body: bytes, dataset: str = DATASET) -> str:
    boto3.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=f"raw/{dataset}/{name}", Body=body)
    cloud.settle()
    return f"raw/{dataset}/{name}"


def _keys(bucket: str, prefix: str = "") -> list[str]:
    response = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def _versions(stack: DeployedStack, dataset: str = DATASET) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    items = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": f"DATASET#{dataset}", ":v": "VERSION#"},
    )["Items"]
    return [dict(i) for i in items]


def test_a_clean_upload_becomes_an_immutable_dataset_version(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack)
    frame = _frame()
    _upload(cloud, stack, "2026-11-23.csv", _csv(frame))
    [version] = _versions(stack)
    curated = stack.outputs["CuratedBucketName"]
    prefix = f"datasets/{DATASET}/{version['version']}/"
    assert _keys(curated, prefix) == [
        f"{prefix}{name}" for name in ("data.npz", "manifest.json", "report.json", "summary.txt")
    ]
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=curated, Key=f"{prefix}manifest.json")["Body"].read())
    assert manifest["rows"] == 569 and manifest["label"] == "target"
    assert manifest["source"]["key"] == f"raw/{DATASET}/2026-11-23.csv"
    columns = read_npz(s3.get_object(Bucket=curated, Key=f"{prefix}data.npz")["Body"].read())
    np.testing.assert_allclose(columns["mean_radius"], frame["mean_radius"].to_numpy())
    assert columns["target"].tolist() == frame["target"].tolist()
    report_keys = _keys(stack.outputs["ArtifactsBucketName"], f"reports/validation/{DATASET}/2026-11-23.csv/")
    assert [k.rsplit(".", 1)[1] for k in report_keys] == ["html", "json", "txt"]
    page = s3.get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=report_keys[0])["Body"].read().decode()
    assert "<span class='badge accepted'>accepted</span>" in page and f"<code>{version['version']!s}</code>" in page
    assert _keys(stack.outputs["QuarantineBucketName"]) == []
    assert cloud.inbox.messages() == []


def test_the_same_content_again_makes_no_second_version_even_as_parquet(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack)
    frame = _frame()
    _upload(cloud, stack, "first.csv", _csv(frame))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    _upload(cloud, stack, "again.parquet", buffer.getvalue())
    _upload(cloud, stack, "again.csv.gz", gzip.compress(_csv(frame)))
    assert len(_versions(stack)) == 1


def test_a_broken_upload_goes_to_quarantine_with_its_report_and_a_notification(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack)
    frame = _frame()
    frame.loc[[4, 9], "mean_radius"] = -1.0  # below the contract's minimum, rows 5 and 10
    frame.loc[20, "target"] = 7  # not an allowed class, row 21
    key = _upload(cloud, stack, "broken.csv", _csv(frame))
    assert _versions(stack) == []
    quarantine = stack.outputs["QuarantineBucketName"]
    keys = _keys(quarantine, f"{DATASET}/")
    assert [k.rsplit("/", 1)[1] for k in keys] == ["broken.csv", "report.json", "summary.txt"]
    s3 = boto3.client("s3")
    copied = s3.get_object(Bucket=quarantine, Key=keys[0])["Body"].read()
    assert copied == _csv(frame), "the quarantine copy is the upload, byte for byte"
    assert s3.get_object(Bucket=stack.outputs["RawBucketName"], Key=key), "the raw object is kept"
    report = json.loads(s3.get_object(Bucket=quarantine, Key=keys[1])["Body"].read())
    failed = {(r["column"], r["expectation"]): r for r in report["results"] if not r["success"]}
    minimum = next(r for (column, _), r in failed.items() if column == "mean_radius")
    assert [e["row"] for e in minimum["examples"]] == [5, 10]
    assert any(column == "target" for column, _ in failed)
    [mail] = cloud.inbox.messages()
    assert DATASET in mail.subject
    assert "broken.csv" in mail.body and "mean_radius" in mail.body
    # The readable page, beside the JSON report, named in the mail by its S3 URI.
    artifacts = stack.outputs["ArtifactsBucketName"]
    [page_key] = [k for k in _keys(artifacts, f"reports/validation/{DATASET}/broken.csv/") if k.endswith(".html")]
    assert f"Page:       s3://{artifacts}/{page_key}\n" in mail.body
    stored = s3.get_object(Bucket=artifacts, Key=page_key)
    assert stored["ContentType"] == "text/html; charset=utf-8"
    assert stored["ServerSideEncryption"] == "AES256"  # the bucket's default, as every report's (SSE-S3)
    page = stored["Body"].read().decode()
    minimum = page[page.index("<h3>column &#x27;mean_radius&#x27; min") :]
    assert "2 (0.3515 %)" in minimum[: minimum.index("</section>")]  # 2 of 569 rows, then rows 5 and 10
    assert "<td class='num'>5</td>" in minimum and "<td class='num'>10</td>" in minimum
    assert "<h3>mean_radius</h3>" in page  # the column's profile: type, nulls, range, histogram


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("empty.csv", b"", "empty"),
        ("header-only.csv", b"mean_radius,target\n", "header"),
        ("semicolons.csv", b"mean_radius;target\n1.0;0\n", "delimiter"),
        ("latin1.csv", "mean_radius,target\n1,café\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason_never_a_crash(
    platform: Platform, name: str, body: bytes, reason: str
) -> None:
    cloud, stack = platform
    _deploy_contract(stack)
    _upload(cloud, stack, name, body)
    function = stack.function_name("IngestionIngest")
    assert not any(i.errored for i in lambda_.history() if i.function_name == function)
    report_key = next(k for k in _keys(stack.outputs["QuarantineBucketName"]) if k.endswith("report.json"))
    report = json.loads(
        boto3.client("s3").get_object(Bucket=stack.outputs["QuarantineBucketName"], Key=report_key)["Body"].read()
    )
    assert reason.lower() in report["file_problem"]["message"].lower()


def test_a_stray_quote_is_quarantined_naming_its_line_and_the_fixed_file_keeps_every_row(platform: Platform) -> None:
    cloud, stack = platform
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="contracts/loans.yaml", Body=CONTRACT.encode())
    notes = loan_notes_csv(2_000, stray_row=1_500)
    line = notes.lines[1_499]
    _upload(cloud, stack, "book.csv", notes.data, dataset="loans")
    assert _versions(stack, "loans") == [], "not a version with 4 rows fewer"
    quarantine = stack.outputs["QuarantineBucketName"]
    report_key = next(k for k in _keys(quarantine, "loans/") if k.endswith("report.json"))
    problem = json.loads(s3.get_object(Bucket=quarantine, Key=report_key)["Body"].read())["file_problem"]
    assert problem["code"] == "stray_quote"
    assert problem["message"].startswith(
        f"book.csv: row 1500 (line {line}), column 'region': a quote opens a field that runs over {STRAY_SPAN} lines"
    )
    [mail] = cloud.inbox.messages()
    assert "book.csv" in mail.body and f"line {line}" in mail.body

    _upload(cloud, stack, "book-fixed.csv", loan_notes_csv(2_000).data, dataset="loans")
    [version] = _versions(stack, "loans")
    manifest_key = f"datasets/loans/{version['version']}/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=stack.outputs["CuratedBucketName"], Key=manifest_key)["Body"].read())
    assert manifest["rows"] == 2_000


def test_an_upload_without_a_contract_is_rejected_naming_the_missing_contract(platform: Platform) -> None:
    cloud, stack = platform
    _upload(cloud, stack, "data.csv", _csv(_frame()), dataset="no-contract-yet")
    [mail] = cloud.inbox.messages()
    assert "contracts/no-contract-yet.yaml" in mail.body


def test_a_malformed_contract_is_named_in_the_rejection(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack, text=f"dataset: {DATASET}\nversion: 1\ncolumns:\n  - name: a\n    type: integer\n")
    _upload(cloud, stack, "data.csv", _csv(_frame()))
    [mail] = cloud.inbox.messages()
    assert "columns[0].type" in mail.body


def test_a_redelivered_event_is_processed_once(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack)
    _upload(cloud, stack, "once.csv", _csv(_frame()))
    function = stack.function_name("IngestionIngest")
    event = next(i.event for i in lambda_.history() if i.function_name == function)
    second = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    outcome = json.loads(second["Payload"].read())["outcomes"][0]
    assert outcome["status"] == "already_processed"
    assert len(_versions(stack)) == 1


def test_auto_train_policy_starts_the_training_pipeline_once(platform: Platform) -> None:
    cloud, stack = platform
    _deploy_contract(stack, auto_train=True)
    _upload(cloud, stack, "train-me.csv", _csv(_frame()))
    [version] = _versions(stack)
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"]
    )["executions"]
    assert len(executions) == 1
    detail = boto3.client("stepfunctions").describe_execution(executionArn=executions[0]["executionArn"])
    # The new version is named in the reason, not pinned: the config's data policy chooses what to train on.
    assert json.loads(detail["input"]) == {
        "dataset": DATASET,
        "reason": f"new dataset version {version['version'][:12]}",
    }


def test_a_crash_before_the_manifest_leaves_no_visible_version_and_a_retry_completes_it(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.buckets import CuratedBucket

    cloud, stack = platform
    _deploy_contract(stack)
    real_put = CuratedBucket.put

    def crash_on_manifest(self: CuratedBucket, key: str, body: bytes, content_type: str) -> None:
        if key.endswith("manifest.json"):
            raise ConnectionError("simulated crash before the manifest")
        real_put(self, key, body, content_type)

    monkeypatch.setattr(CuratedBucket, "put", crash_on_manifest)
    _upload(cloud, stack, "crash.csv", _csv(_frame()))
    assert _versions(stack) == []
    assert not [k for k in _keys(stack.outputs["CuratedBucketName"]) if k.endswith("manifest.json")]
    dead = boto3.client("sqs").receive_message(QueueUrl=stack.outputs["DeadLetterQueueUrl"])["Messages"]
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert "ALARM" in {t.new_state for t in transitions}
    monkeypatch.setattr(CuratedBucket, "put", real_put)
    # Redrive the dead-lettered event, as an operator would.
    boto3.client("lambda").invoke(FunctionName=stack.function_name("IngestionIngest"), Payload=dead[0]["Body"])
    [version] = _versions(stack)
    manifest_key = f"datasets/{DATASET}/{version['version']}/manifest.json"
    assert manifest_key in _keys(stack.outputs["CuratedBucketName"])


def test_twenty_concurrent_uploads_all_end_as_versions_or_quarantine(platform: Platform) -> None:
    """Issue #9's load case for ingestion: nothing lost, nothing mixed up, when uploads race."""
    from concurrent.futures import ThreadPoolExecutor

    cloud, stack = platform
    _deploy_contract(stack)
    frame = _frame()
    bodies: dict[str, bytes] = {}
    for i in range(20):
        part = frame.sample(n=400, random_state=i).reset_index(drop=True)
        if i % 4 == 3:  # every fourth file breaks its contract
            part.loc[i % 7, "mean_radius"] = -5.0
        bodies[f"batch-{i:02d}.csv"] = _csv(part)
    s3 = boto3.client("s3")

    def upload(name: str) -> None:
        s3.put_object(Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/{name}", Body=bodies[name])

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(upload, bodies))
    cloud.settle()
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    processed = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :u)",
        ExpressionAttributeValues={":pk": f"DATASET#{DATASET}", ":u": "UPLOAD#"},
    )["Items"]
    assert len(processed) == 20, "every upload has exactly one recorded outcome"
    outcomes = {str(i["sk"]).split("#")[1].rsplit("/", 1)[1]: i for i in processed}
    broken = {n for i, n in enumerate(bodies) if i % 4 == 3}
    assert {n for n, i in outcomes.items() if i["status"] == "rejected"} == broken
    assert len(_versions(stack)) == 15
    quarantined = {k.rsplit("/", 1)[1] for k in _keys(stack.outputs["QuarantineBucketName"], f"{DATASET}/")}
    assert broken <= quarantined
    assert len(_keys(stack.outputs["RawBucketName"], f"raw/{DATASET}/")) == 20, "every raw upload is kept"


def test_an_upload_outside_a_dataset_folder_gets_a_report_and_a_mail_naming_the_layout(platform: Platform) -> None:
    """`raw/patients.csv` (no dataset folder) is not ingested, and not ignored either."""
    cloud, stack = platform
    raw = stack.outputs["RawBucketName"]
    boto3.client("s3").put_object(Bucket=raw, Key="raw/patients.csv", Body=_csv(_frame().head(5)))
    cloud.settle()
    [mail] = cloud.inbox.messages()
    assert mail.subject == "Upload not ingested: outside raw/<dataset>/"
    assert f"s3://{raw}/raw/patients.csv was not ingested: uploads go under raw/<dataset>/<file>" in mail.body
    assert f"Upload it again as s3://{raw}/raw/<dataset>/patients.csv" in mail.body
    [report_key] = [
        k for k in _keys(stack.outputs["ArtifactsBucketName"], "reports/validation/_misplaced/") if k.endswith(".json")
    ]
    assert report_key.startswith("reports/validation/_misplaced/raw_patients.csv/") and report_key.endswith(".json")
    report = json.loads(
        boto3.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=report_key)["Body"].read()
    )
    assert report["file_problem"]["code"] == "misplaced_upload" and report["expected_layout"] == "raw/<dataset>/<file>"
    assert _versions(stack) == []


def test_an_upload_at_the_bucket_root_gets_a_report_and_a_mail_through_eventbridge(platform: Platform) -> None:
    """`patients.csv` at the raw bucket's root reaches no S3 notification (those are for `raw/` and
    `batch/`); the EventBridge rule brings it to the ingest function, which reports it."""
    cloud, stack = platform
    raw = stack.outputs["RawBucketName"]
    boto3.client("s3").put_object(Bucket=raw, Key="patients.csv", Body=_csv(_frame().head(5)))
    cloud.settle()
    [mail] = cloud.inbox.messages()
    assert mail.subject == "Upload not ingested: outside raw/<dataset>/"
    assert f"s3://{raw}/patients.csv was not ingested: uploads go under raw/<dataset>/<file>" in mail.body
    assert f"Upload it again as s3://{raw}/raw/<dataset>/patients.csv" in mail.body
    artifacts = stack.outputs["ArtifactsBucketName"]
    [report_key] = [k for k in _keys(artifacts, "reports/validation/_misplaced/") if k.endswith(".json")]
    assert report_key.startswith("reports/validation/_misplaced/patients.csv/")
    report = json.loads(boto3.client("s3").get_object(Bucket=artifacts, Key=report_key)["Body"].read())
    assert report["file_problem"]["code"] == "misplaced_upload" and report["expected_layout"] == "raw/<dataset>/<file>"
    assert report["source"]["key"] == "patients.csv" and report["source"]["version_id"]
    assert _versions(stack) == []


def test_a_file_under_batch_gets_no_ingest_report_and_an_upload_under_raw_is_ingested_once(
    platform: Platform,
) -> None:
    """The EventBridge rule sees `batch/` too (batch scoring has it) but not `raw/` (the S3
    notification has it): neither is reported as misplaced, and a dataset upload makes one version."""
    cloud, stack = platform
    raw = stack.outputs["RawBucketName"]
    boto3.client("s3").put_object(Bucket=raw, Key="batch/breast-cancer/rows.csv", Body=_csv(_frame().head(5)))
    cloud.settle()
    assert _keys(stack.outputs["ArtifactsBucketName"], "reports/validation/") == []
    assert [m.subject for m in cloud.inbox.messages() if m.subject.startswith("Upload not ingested")] == []
    _deploy_contract(stack)
    _upload(cloud, stack, "clean.csv", _csv(_frame()))
    assert len(_versions(stack)) == 1
    assert _keys(stack.outputs["ArtifactsBucketName"], "reports/validation/_misplaced/") == []


DATES_CONTRACT = """
dataset: visits
version: 1
columns:
  - {name: id, type: int}
  - {name: seen, type: datetime}
"""


def test_dates_as_the_data_writes_them_are_stored_and_an_unstorable_one_is_a_rejection_with_a_report(
    platform: Platform,
) -> None:
    cloud, stack = platform
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="contracts/visits.yaml", Body=DATES_CONTRACT)
    _upload(cloud, stack, "loose.csv", b"id,seen\n1,2019-8-19\n2,2024-01\n3,2024-1-5T7:05\n", dataset="visits")
    curated = stack.outputs["CuratedBucketName"]
    [data_key] = [k for k in _keys(curated, "datasets/visits/") if k.endswith("data.npz")]
    seen = read_npz(s3.get_object(Bucket=curated, Key=data_key)["Body"].read())["seen"]
    assert seen.tolist() == np.array(["2019-08-19", "2024-01-01", "2024-01-05T07:05"], dtype="datetime64[ns]").tolist()
    assert cloud.inbox.messages() == []

    _upload(cloud, stack, "far.csv", b"id,seen\n1,2019-8-19\n2,2300-1-1\n", dataset="visits")
    quarantine = stack.outputs["QuarantineBucketName"]
    [report_key] = [k for k in _keys(quarantine, "visits/") if k.endswith("report.json")]
    report = json.loads(s3.get_object(Bucket=quarantine, Key=report_key)["Body"].read())
    assert report["accepted"] is False
    assert (report["file_problem"]["code"], report["file_problem"]["column"], report["file_problem"]["row"]) == (
        "unstorable_values",
        "seen",
        2,
    )
    [mail] = cloud.inbox.messages()
    assert "Rejected upload for dataset visits" in mail.subject and "column 'seen', row 2" in mail.body
