"""Multi-file uploads on moto's S3 and DynamoDB, on one moved clock: a folder left without its commit
marker is mailed once after the timeout (again only for a newer file), a committed or deleted one
never; the check reads only the folders overdue; a file written after the marker is refused, kept
and mailed once, and the validation does not read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets import partitioned_ingestion as steps
from mlops.datasets.ingestion import IngestionServices, Upload
from mlops.datasets.records import DatasetRecords
from mlops.datasets.uncommitted import FolderFileOutcome, note_commit, note_folder_file, report_uncommitted
from mlops.datasets.upload_plan import read_items

RAW, ARTIFACTS, CURATED, QUARANTINE = "raw", "artifacts", "curated", "quarantine"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=60)
CONTRACT = "dataset: visits\nversion: 1\ncolumns:\n  - {name: id, type: int}\n"


@dataclass
class ListedRaw(RawBucket):
    """The raw bucket, noting each prefix listed: what the check reads."""

    listed: list[str] = field(default_factory=list)

    def listing(self, prefix: str) -> list[tuple[str, int, datetime]]:
        self.listed.append(prefix)
        return super().listing(prefix)


@dataclass
class Lake:
    """The raw bucket and the ingest function's core, on a clock the test moves."""

    s3: Any
    raw: ListedRaw
    services: IngestionServices
    mails: list[tuple[str, str]]
    clock: Any

    def at(self, minutes: float) -> None:
        self.clock.move_to(T0 + timedelta(minutes=minutes))

    def put(self, key: str, body: bytes = b"id\n1\n") -> Upload:
        """A file written; its event not handled yet."""
        written = self.s3.put_object(Bucket=RAW, Key=key, Body=body)
        return Upload(RAW, key, written["VersionId"], len(body))

    def land(self, key: str, body: bytes = b"id\n1\n") -> FolderFileOutcome | None:
        """A file written and its event handled, as the ingest function handles it."""
        upload = self.put(key, body)
        if key.endswith("/_COMMIT"):
            note_commit(upload, self.services)
            return None
        return note_folder_file(upload, self.services)

    def check(self) -> list[str]:
        return report_uncommitted(self.services, TIMEOUT)

    def report(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())  # type: ignore[no-any-return]


@pytest.fixture
def lake(registry_table: Any) -> Iterator[Lake]:
    s3 = boto3.client("s3", region_name="us-east-1")
    for name in (RAW, ARTIFACTS, CURATED, QUARANTINE):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=ARTIFACTS, Key="contracts/visits.yaml", Body=CONTRACT.encode())
    mails: list[tuple[str, str]] = []
    raw = ListedRaw(s3, RAW)
    services = IngestionServices(
        raw=raw,
        artifacts=ArtifactsBucket(s3, ARTIFACTS),
        curated=CuratedBucket(s3, CURATED),
        quarantine=QuarantineBucket(s3, QUARANTINE),
        registry=DatasetRecords(registry_table),
        notify=lambda subject, body: mails.append((subject, body)),
        start_training=lambda request, run: None,
    )
    with time_machine.travel(T0, tick=False) as clock:  # S3's LastModified and services.now() alike
        yield Lake(s3, raw, services, mails, clock)


def test_an_upload_left_without_its_marker_is_mailed_once_after_the_timeout(lake: Lake) -> None:
    assert lake.land("raw/visits/2026-12/a.csv", b"id\n1\n2\n") == FolderFileOutcome(
        "visits", "raw/visits/2026-12/a.csv", "waiting", "validated when raw/visits/2026-12/_COMMIT is written"
    )
    lake.at(5)
    lake.land("raw/visits/2026-12/b.csv", b"id\n3\n")
    lake.at(40)  # 35 minutes after the newest file
    assert lake.check() == [] and lake.mails == []

    lake.at(70)
    assert lake.check() == ["raw/visits/2026-12"]
    [(subject, body)] = lake.mails
    assert subject == "Upload without its commit marker: visits/2026-12"
    for said in (
        "Dataset:    visits",
        "Upload:     s3://raw/raw/visits/2026-12/",
        "Files:      2 (12 bytes)",
        "  - a.csv (7 bytes)",
        "  - b.csv (5 bytes)",
        "Newest:     2026-12-01 09:05:00 UTC, 1 h 5 min ago",
        "aws s3api put-object --bucket raw --key raw/visits/2026-12/_COMMIT",
        "aws s3 rm s3://raw/raw/visits/2026-12/ --recursive",
        "Report:     reports/validation/visits/2026-12/uncommitted.json",
    ):
        assert said in body, said
    report = lake.report("reports/validation/visits/2026-12/uncommitted.json")
    assert [(f["key"], f["size"]) for f in report["files"]] == [
        ("raw/visits/2026-12/a.csv", 7),
        ("raw/visits/2026-12/b.csv", 5),
    ]
    assert (report["bytes"], report["age_minutes"], report["timeout_minutes"]) == (12, 65, 60)
    assert report["file_problem"]["code"] == "uncommitted_upload" and report["accepted"] is False

    for minutes in (85, 100, 300, 24 * 60):  # every later quarter-hour check stays quiet
        lake.at(minutes)
        assert lake.check() == []
    assert len(lake.mails) == 1


def test_a_file_added_after_the_report_is_reported_again_after_its_own_timeout(lake: Lake) -> None:
    lake.land("raw/visits/u/a.csv")
    lake.at(61)
    assert lake.check() == ["raw/visits/u"]
    lake.at(90)
    lake.land("raw/visits/u/b.csv")
    lake.at(140)
    assert lake.check() == []
    lake.at(151)
    assert lake.check() == ["raw/visits/u"]
    assert len(lake.mails) == 2 and "Files:      2 (10 bytes)" in lake.mails[1][1]


def test_the_check_reads_only_the_folders_overdue_not_the_uploads_kept_before(lake: Lake) -> None:
    """Its cost grows with the uploads waiting, not with history: committed folders are not read."""
    for n in range(25):
        lake.land(f"raw/visits/kept-{n:02d}/a.csv")
        lake.land(f"raw/visits/kept-{n:02d}/_COMMIT")
    lake.land("raw/visits/waiting/a.csv")
    lake.at(50)
    lake.land("raw/visits/recent/a.csv")
    lake.at(70)
    lake.raw.listed.clear()
    assert lake.check() == ["raw/visits/waiting"]
    assert lake.raw.listed == ["raw/visits/waiting/"]


def test_a_committed_upload_is_never_reported_even_if_the_event_of_a_file_comes_after_the_markers(
    lake: Lake,
) -> None:
    """S3 events arrive in any order, sometimes a minute or more late
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html): a file written
    before the marker is part of the upload, whenever its event is handled."""
    lake.land("raw/visits/u/a.csv")
    before = lake.put("raw/visits/u/b.csv")  # written now, its event delayed
    lake.at(1)
    lake.land("raw/visits/u/_COMMIT")
    lake.at(3)
    assert note_folder_file(before, lake.services).status == "in_commit"
    lake.at(180)
    assert lake.check() == [] and lake.mails == []


def test_a_folder_deleted_before_the_timeout_is_dropped_without_a_mail(lake: Lake) -> None:
    lake.land("raw/visits/u/a.csv")
    lake.at(10)
    lake.s3.delete_object(Bucket=RAW, Key="raw/visits/u/a.csv")
    lake.at(70)
    assert lake.check() == []
    lake.at(200)
    lake.raw.listed.clear()
    assert lake.check() == [] and lake.raw.listed == [] and lake.mails == []


def test_a_file_written_after_the_marker_is_refused_kept_and_mailed_once(lake: Lake) -> None:
    lake.land("raw/visits/u/a.csv", b"id\n1\n")
    lake.at(1)
    lake.land("raw/visits/u/_COMMIT")
    lake.at(10)
    late = lake.put("raw/visits/u/late.csv", b"id\n9\n")
    refused = note_folder_file(late, lake.services)
    assert refused.status == "after_commit"
    [(subject, body)] = lake.mails
    assert subject == "File written after its upload was committed: visits/u"
    assert "File:       late.csv" in body and "the upload was already committed" in body
    assert "written 2026-12-01 09:10:00 UTC, after the commit marker raw/visits/u/_COMMIT (2026-12-01 09:01:00" in body
    assert refused.report_key == f"reports/validation/visits/u/after-commit/late.csv/{late.version_id}.json"
    report = lake.report(refused.report_key)
    assert report["file_problem"]["code"] == "after_commit" and report["source"]["key"] == "raw/visits/u/late.csv"
    # Kept where it was, and the committed file untouched.
    assert lake.s3.get_object(Bucket=RAW, Key="raw/visits/u/late.csv")["Body"].read() == b"id\n9\n"
    assert lake.s3.get_object(Bucket=RAW, Key="raw/visits/u/a.csv")["Body"].read() == b"id\n1\n"
    # A redelivered event mails nothing more; the committed folder is never reported as uncommitted.
    assert note_folder_file(late, lake.services).status == "already_processed"
    lake.at(300)
    assert lake.check() == [] and len(lake.mails) == 1


def test_the_validation_reads_only_the_files_written_up_to_the_marker(lake: Lake) -> None:
    """A file landing between the marker and the validation's plan is refused, so it is not read either."""
    lake.land("raw/visits/u/a.csv", b"id\n1\n2\n")
    lake.at(1)
    marker = lake.put("raw/visits/u/_COMMIT", b"")
    lake.at(2)
    lake.put("raw/visits/u/b.csv", b"id\n3\n")  # before the plan lists the folder
    ref = steps.upload_for(marker.key, RAW, marker.version_id, 0)
    run = steps.ValidationRun(dataset="visits", run=steps.run_name(ref), upload=ref)
    services = steps.PartitionedServices(lake.services)
    assert steps.plan(run, services).problem is None
    pinned = read_items(services.artifacts.get(steps.WorkFolder(run).files), steps.PinnedFile)
    assert [f.key for f in pinned] == ["raw/visits/u/a.csv"]
