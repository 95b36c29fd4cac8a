"""A multi-file upload left without its commit marker, in the local cloud, on its clock: the files
land; the cloud's time moves past the timeout (60 minutes; the scheduled check firing every quarter
hour on the way) and the team gets one mail naming the upload, never a second; the marker arrives
and the upload is validated as usual; a file written after the marker is refused by mail, kept,
not read, and the version stays as it was.

The platform fixture is this test's own cloud (function-scoped), so moving its clock changes nothing
another test sees; the breast-cancer set it ingested first is a version of its own."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3

from tests.local.conftest import DATASET, Platform
from tests.local.test_partitioned_ingestion import _csv, _frame, _read

UPLOAD = "2026-12"


def _mails(inbox: Path, subject: str) -> list[dict[str, Any]]:
    lines = inbox.read_text().splitlines() if inbox.exists() else []
    return [m for m in map(json.loads, lines) if m["subject"].startswith(subject)]


def _executions(stack: Any) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.outputs["ValidationStateMachineArn"])["executions"]
    return [dict(execution) for execution in listed]


def test_an_upload_without_its_marker_is_mailed_once_then_validated_and_a_later_file_refused(
    breast_cancer_platform: Platform, tmp_path: Path
) -> None:
    cloud, stack = breast_cancer_platform
    inbox = tmp_path / "inbox.jsonl"
    s3, raw = boto3.client("s3"), stack.outputs["RawBucketName"]
    artifacts = stack.outputs["ArtifactsBucketName"]
    frame = _frame()
    files = {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(frame.iloc[300:])}
    for name, body in files.items():
        s3.put_object(Bucket=raw, Key=f"raw/{DATASET}/{UPLOAD}/{name}", Body=body)
    cloud.settle()

    # The timeout passes: one mail, from one of the quarter-hourly checks.
    check = cloud.schedule_targeting("IngestionIngest")
    firings = cloud.advance_clock(timedelta(minutes=80))
    assert len([f for f in firings if f.rule_name == check]) >= 5
    [mail] = _mails(inbox, f"Upload without its commit marker: {DATASET}/{UPLOAD}")
    size = sum(len(body) for body in files.values())
    for said in (
        f"Dataset:    {DATASET}",
        f"Upload:     s3://{raw}/raw/{DATASET}/{UPLOAD}/",
        f"Files:      2 ({size:,} bytes)",
        f"  - a.csv ({len(files['a.csv']):,} bytes)",
        f"aws s3api put-object --bucket {raw} --key raw/{DATASET}/{UPLOAD}/_COMMIT",
        f"aws s3 rm s3://{raw}/raw/{DATASET}/{UPLOAD}/ --recursive",
    ):
        assert said in mail["body"], (said, mail["body"])
    report = _read(artifacts, f"reports/validation/{DATASET}/{UPLOAD}/uncommitted.json")
    assert report["bytes"] == size and 60 <= report["age_minutes"] <= 80
    assert _executions(stack) == []  # nothing read without the marker

    # Every later check stays quiet.
    firings = cloud.advance_clock(timedelta(hours=2))
    assert len([f for f in firings if f.rule_name == check]) >= 8
    assert len(_mails(inbox, "Upload without its commit marker")) == 1

    # The marker arrives: the upload is validated as usual.
    marker = s3.put_object(Bucket=raw, Key=f"raw/{DATASET}/{UPLOAD}/_COMMIT", Body=b"")
    cloud.settle()
    deadline = time.monotonic() + 300
    while (execution := _executions(stack)[0])["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED"
    validated = _read(artifacts, f"reports/validation/{DATASET}/{UPLOAD}/{marker['VersionId']}.json")
    assert validated["accepted"] is True and validated["rows"] == len(frame)
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    [version] = [
        v
        for v in table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": f"DATASET#{DATASET}", ":v": "VERSION#"},
        )["Items"]
        if v["source_key"] == f"raw/{DATASET}/{UPLOAD}"
    ]
    manifest_before = _read(stack.outputs["CuratedBucketName"], str(version["manifest_key"]))

    # A file written after the marker: refused by mail, kept, not read; the version unchanged.
    cloud.advance_clock(timedelta(minutes=1))
    late = _csv(frame.iloc[:10])
    s3.put_object(Bucket=raw, Key=f"raw/{DATASET}/{UPLOAD}/late.csv", Body=late)
    cloud.settle()
    [refusal] = _mails(inbox, f"File written after its upload was committed: {DATASET}/{UPLOAD}")
    assert "File:       late.csv" in refusal["body"] and "the upload was already committed" in refusal["body"]
    assert s3.get_object(Bucket=raw, Key=f"raw/{DATASET}/{UPLOAD}/late.csv")["Body"].read() == late
    assert len(_executions(stack)) == 1
    assert _read(stack.outputs["CuratedBucketName"], str(version["manifest_key"])) == manifest_before
    cloud.advance_clock(timedelta(hours=2))  # the committed folder is never reported as uncommitted
    assert len(_mails(inbox, "Upload without its commit marker")) == 1
    assert len(_mails(inbox, "File written after its upload was committed")) == 1
