"""The ingest function as the data team meets it: an upload becomes a dataset version (and starts one
training run named `ingest-<dataset>-<version>`), or is quarantined with a report and a mail; a file
in the wrong place is reported, not ignored. Buckets are dicts, the registry a fake (moto's S3 and
DynamoDB for the upload-folder check, whose reads are the point)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import boto3
import pytest

from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets.ingestion import IngestionServices
from mlops.datasets.records import DatasetRecords, DatasetVersion
from mlops.training.start import execution_arn, run_id
from tests.unit.handlers.support import MACHINE, QUIET, Context, FakeS3, FakeSns, FakeStepFunctions, loaded, s3_event

pytestmark = QUIET
RAW, ARTIFACTS, CURATED, QUARANTINE = "raw", "artifacts", "curated", "quarantine"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
CONTRACT = """
dataset: visits
version: 1
columns:
  - {name: id, type: int}
  - {name: amount, type: float, min: 0}
policy:
  auto_train: true
"""
GOOD = "id,amount\n1,1.5\n2,2.5\n3,0\n"
BAD = "id,amount\n1,-1.5\n2,2.5\n"


@pytest.fixture(scope="module")
def ingest() -> Iterator[Any]:
    with loaded("handlers.ingest") as module:
        yield module


@dataclass
class FakeDatasets:
    """The registry table's dataset side: versions and processed uploads."""

    versions: dict[str, DatasetVersion] = field(default_factory=dict)
    uploads: dict[tuple[str, str, str | None], dict[str, Any]] = field(default_factory=dict)

    def processed_upload(self, dataset: str, key: str, s3_version: str | None) -> dict[str, Any] | None:
        return self.uploads.get((dataset, key, s3_version))

    def record_upload(self, dataset: str, key: str, s3_version: str | None, outcome: dict[str, Any]) -> bool:
        self.uploads[(dataset, key, s3_version)] = outcome
        return True

    def get_dataset_version(self, dataset: str, version: str) -> DatasetVersion | None:
        return self.versions.get(version)

    def put_dataset_version(self, record: DatasetVersion) -> bool:
        if record.version in self.versions:
            return False
        self.versions[record.version] = record
        return True


@dataclass
class Platform:
    module: Any
    s3: FakeS3
    datasets: FakeDatasets
    sfn: FakeStepFunctions
    sns: FakeSns

    def upload(self, key: str, body: str) -> dict[str, Any]:
        self.s3.put_object(Bucket=RAW, Key=key, Body=body.encode())
        return s3_event(RAW, key, version_id=self.s3.versions[(RAW, key)])

    def call(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = self.module.handler(event, Context())["outcomes"]
        return outcomes


def _platform(module: Any, machine: str) -> tuple[Platform, IngestionServices]:
    s3, sfn, sns = FakeS3(), FakeStepFunctions(), FakeSns()
    s3.put_object(Bucket=ARTIFACTS, Key="contracts/visits.yaml", Body=CONTRACT.encode())
    datasets = FakeDatasets()
    services = IngestionServices(
        raw=RawBucket(s3, RAW),
        artifacts=ArtifactsBucket(s3, ARTIFACTS),
        curated=CuratedBucket(s3, CURATED),
        quarantine=QuarantineBucket(s3, QUARANTINE),
        registry=cast(DatasetRecords, datasets),
        notify=partial(module.publish_alert, sns, TOPIC),
        start_training=partial(module.start_run_once, sfn, machine),
        now=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC),
    )
    return Platform(module, s3, datasets, sfn, sns), services


@pytest.fixture
def platform(ingest: Any) -> Iterator[Platform]:
    platform, services = _platform(ingest, MACHINE)
    with ingest.services.replaced(services):
        yield platform


def test_an_accepted_upload_becomes_a_version_and_starts_one_training_run(platform: Platform) -> None:
    [outcome] = platform.call(platform.upload("raw/visits/march.csv", GOOD))
    assert outcome["status"] == "accepted", outcome
    version = outcome["version"]
    assert outcome["rows"] == 3 and list(platform.datasets.versions) == [version]
    name = f"ingest-visits-{version[:20]}"
    assert run_id("ingest", "visits", version[:20]) == name
    assert platform.sfn.started == {name: {"dataset": "visits", "reason": f"new dataset version {version[:12]}"}}
    assert outcome["training_execution"] == execution_arn(MACHINE, name)
    assert platform.sns.published == []


def test_a_run_already_started_for_the_version_is_the_same_run(platform: Platform) -> None:
    """When Step Functions already has the version's run (here: a delivery whose every other write
    is gone), starting it again answers with that run, not an error and not a second run."""
    event = platform.upload("raw/visits/march.csv", GOOD)
    [first] = platform.call(event)
    platform.datasets.uploads.clear()
    platform.datasets.versions.clear()
    for key in platform.s3.keys(CURATED):
        del platform.s3.objects[(CURATED, key)]
    [again] = platform.call(event)
    assert again["status"] == "accepted" and again["training_execution"] == first["training_execution"]
    assert len(platform.sfn.started) == 1


def test_an_invocation_that_failed_before_starting_the_run_starts_it_when_retried(platform: Platform) -> None:
    """Lambda retries a failed asynchronous invocation (twice, by default). A first attempt that
    stored the version and then failed (here: Step Functions unavailable) must not leave the retry
    calling the upload a duplicate of itself and the version without its run."""
    event = platform.upload("raw/visits/march.csv", GOOD)
    start = platform.sfn.start_execution

    def unavailable(stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803
        raise ConnectionError("Step Functions is unavailable")

    platform.sfn.start_execution = unavailable  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionError):
        platform.call(event)
    assert len(platform.datasets.versions) == 1 and platform.sfn.started == {}
    platform.sfn.start_execution = start  # type: ignore[method-assign]
    [retried] = platform.call(event)
    assert retried["status"] == "accepted", retried
    assert list(platform.sfn.started) == [run_id("ingest", "visits", retried["version"][:20])]


def test_the_same_content_in_another_upload_is_a_duplicate_and_starts_no_second_run(platform: Platform) -> None:
    [first] = platform.call(platform.upload("raw/visits/march.csv", GOOD))
    [copy] = platform.call(platform.upload("raw/visits/march-again.csv", GOOD))
    assert (first["status"], copy["status"]) == ("accepted", "duplicate")
    assert copy["version"] == first["version"] and len(platform.sfn.started) == 1


def test_a_redelivered_event_is_processed_once(platform: Platform) -> None:
    event = platform.upload("raw/visits/march.csv", GOOD)
    platform.call(event)
    [again] = platform.call(event)
    assert again["status"] == "already_processed" and "accepted" in again["summary"]
    assert len(platform.sfn.started) == 1


def test_a_rejected_upload_is_quarantined_reported_and_mailed(platform: Platform) -> None:
    [outcome] = platform.call(platform.upload("raw/visits/bad.csv", BAD))
    assert outcome["status"] == "rejected", outcome
    assert platform.datasets.versions == {} and platform.sfn.started == {}
    assert platform.s3.keys(QUARANTINE, "visits/") and outcome["report_key"] in platform.s3.keys(ARTIFACTS)
    [mail] = platform.sns.published
    assert mail["TopicArn"] == TOPIC and mail["Subject"] == "Rejected upload for dataset visits"
    assert "amount" in mail["Message"]


def test_a_type_failure_is_mailed_with_the_value_that_failed(platform: Platform) -> None:
    """A newcomer's mail said "(observed None)": a type check has no observed value, so the mail
    shows the first offending cell instead."""
    platform.call(platform.upload("raw/visits/typo.csv", "id,amount\n1,1.5\n2,abc\n"))
    [mail] = platform.sns.published
    assert "column 'amount'" in mail["Message"] and "(e.g. row 2: 'abc')" in mail["Message"], mail["Message"]
    assert "observed None" not in mail["Message"]


def test_an_upload_outside_a_dataset_folder_is_reported_and_batch_inputs_are_left_alone(platform: Platform) -> None:
    assert platform.call(platform.upload("raw/loose.csv", GOOD)) == []
    [mail] = platform.sns.published
    assert mail["Subject"] == "Upload not ingested: outside raw/<dataset>/"
    assert "Report: s3://artifacts/" in mail["Message"]
    assert platform.call(platform.upload("batch/churn/score-me.csv", GOOD)) == []
    # Label files have their own function (the EventBridge rule for keys outside raw/ sends them here too).
    assert platform.call(platform.upload("feedback/churn/labels.csv", GOOD)) == []
    assert len(platform.sns.published) == 1 and platform.datasets.uploads == {}


def test_an_eventbridge_object_created_event_is_ingested_too(platform: Platform) -> None:
    platform.s3.put_object(Bucket=RAW, Key="raw/visits/april.csv", Body=GOOD.encode())
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{RAW}"],
        "detail": {
            "version": "0",
            "bucket": {"name": RAW},
            "object": {"key": "raw/visits/april.csv", "size": len(GOOD), "version-id": "v1", "sequencer": "01"},
            "request-id": "r",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    [outcome] = platform.call(event)
    assert outcome["status"] == "accepted" and outcome["key"] == "raw/visits/april.csv"


def test_a_stack_without_a_training_pipeline_starts_no_run(ingest: Any) -> None:
    platform, services = _platform(ingest, "")
    with ingest.services.replaced(services):
        [outcome] = platform.call(platform.upload("raw/visits/march.csv", GOOD))
    assert outcome["status"] == "accepted" and "training_execution" not in outcome
    assert platform.sfn.started == {}


def test_a_file_of_an_upload_folder_waits_and_the_schedule_mails_the_folder_once(
    ingest: Any, registry_table: Any
) -> None:
    """A folder file's event records the folder; the EventBridge schedule's event runs the check (on
    moto's S3 and DynamoDB: what it reads is the table's index and the folder's listing)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    for name in (RAW, ARTIFACTS, CURATED, QUARANTINE):
        s3.create_bucket(Bucket=name)
    sns, clock = FakeSns(), [datetime.now(UTC)]
    services = IngestionServices(
        raw=RawBucket(s3, RAW),
        artifacts=ArtifactsBucket(s3, ARTIFACTS),
        curated=CuratedBucket(s3, CURATED),
        quarantine=QuarantineBucket(s3, QUARANTINE),
        registry=DatasetRecords(registry_table),
        notify=partial(ingest.publish_alert, sns, TOPIC),
        start_training=lambda request, run: None,
        now=lambda: clock[0],
    )
    s3.put_object(Bucket=RAW, Key="raw/visits/2026-12/a.csv", Body=GOOD.encode())
    scheduled = {
        "version": "0",
        "id": "s-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/UncommittedUploads"],
        "detail": {},
    }
    with ingest.services.replaced(services):
        [outcome] = ingest.handler(s3_event(RAW, "raw/visits/2026-12/a.csv"), Context())["outcomes"]
        assert outcome["status"] == "waiting"
        assert ingest.handler(scheduled, Context()) == {"uncommitted": []}
        clock[0] += timedelta(minutes=61)  # past the default timeout, an hour
        assert ingest.handler(scheduled, Context()) == {"uncommitted": ["raw/visits/2026-12"]}
        assert ingest.handler(scheduled, Context()) == {"uncommitted": []}
    [mail] = sns.published
    assert mail["TopicArn"] == TOPIC and mail["Subject"] == "Upload without its commit marker: visits/2026-12"
    assert "  - a.csv (" in mail["Message"]
