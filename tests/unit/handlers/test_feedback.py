"""The feedback function as a team meets it: a label file under feedback/<model>/ is stored, or refused
with a report naming file row and column and a mail; a retried event writes the same objects. Buckets
are dicts; the models are real registered versions (tests/unit/serving/support.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from mlops.buckets import ArtifactsBucket, RawBucket
from mlops.monitoring.feedback_files import FeedbackServices
from mlops.monitoring.label_store import read_labels
from mlops.registry.versions import ModelVersion
from mlops.serving.prediction_keys import PredictionKey, ResolvedKey
from mlops.serving.request_ids import new_request_id
from tests.unit.handlers.support import QUIET, Context, FakeS3, FakeSns, emitted, loaded, s3_event
from tests.unit.serving.support import breast_cancer, churn, diabetes

pytestmark = QUIET
RAW, ARTIFACTS = "raw", "artifacts"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
EVENT_TIME = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # support.s3_event's eventTime
MONITORED = {"every_hours": 24, "drift": {}, "performance": {"horizon_days": 14}}


@pytest.fixture(scope="module")
def feedback() -> Iterator[Any]:
    with loaded("handlers.feedback") as module:
        yield module


@dataclass
class Registry:
    records: dict[tuple[str, int], dict[str, Any]]

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return {"champion": {"version": 1}} if (name, 1) in self.records else {}

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.records.get((name, version))
        return ModelVersion.from_item(item) if item else None


@dataclass
class Platform:
    module: Any
    s3: FakeS3
    sns: FakeSns

    def upload(self, key: str, body: bytes | str) -> dict[str, Any]:
        self.s3.put_object(Bucket=RAW, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return s3_event(RAW, key, version_id=self.s3.versions[(RAW, key)])

    def call(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = self.module.handler(event, Context())["outcomes"]
        return outcomes

    def report(self, outcome: dict[str, Any]) -> dict[str, Any]:
        return dict(self.s3.json(ARTIFACTS, outcome["report_key"]))

    def labels(self) -> list[str]:
        return self.s3.keys(ARTIFACTS, "labels/")


@pytest.fixture
def platform(feedback: Any) -> Iterator[Platform]:
    s3, sns = FakeS3(), FakeSns()
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for name, registered, monitoring in (
        ("churn", churn(), MONITORED),
        ("breast-cancer", breast_cancer(), MONITORED),
        ("diabetes", diabetes(), MONITORED),
        ("plain", churn(), {"every_hours": 24, "drift": {}}),
        ("orders", churn(), {"performance": {"horizon_days": 14, "id_field": "order_id"}}),
    ):
        records[(name, 1)] = {**registered.record, "model": name, "monitoring": monitoring}
        for key, body in registered.artifacts.items():
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=body)
    services = FeedbackServices(
        raw=RawBucket(s3, RAW),
        artifacts=ArtifactsBucket(s3, ARTIFACTS),
        registry=Registry(records),
        notify=lambda subject, message: _publish(sns, subject, message),
        resolve_keys=_resolve_keys,
    )
    with feedback.services.replaced(services):
        yield Platform(feedback, s3, sns)


# The prediction keys table as it answers (tests/unit/serving/test_prediction_keys.py covers the table):
# which request id, and row, each order id and request key of `orders` named.
KNOWN_KEYS: dict[tuple[str, str], tuple[float, int | None]] = {
    ("id", "A-1"): (30, 2),
    ("id", "1002"): (30, 3),
    ("key", "customer-7"): (2, None),
}


def _resolve_keys(model: str, keys: Sequence[PredictionKey], at: datetime) -> dict[PredictionKey, ResolvedKey]:
    assert at == EVENT_TIME  # as of the file's arrival, so a retried event resolves the same way
    found = {}
    for key in keys:
        if model == "orders" and (key.kind, key.value) in KNOWN_KEYS:
            hours, row = KNOWN_KEYS[(key.kind, key.value)]
            found[key] = ResolvedKey(_id(hours), row, reused=False)
    return found


def _publish(sns: FakeSns, subject: str, message: str) -> None:
    sns.publish(TopicArn=TOPIC, Subject=subject, Message=message)


def _id(hours_before: float, seed: int = 0) -> str:
    at = EVENT_TIME - timedelta(hours=hours_before)
    return new_request_id(int(at.timestamp() * 1000), bytes([seed]) * 10)


def test_a_good_file_is_stored_by_hour_reported_and_a_retried_event_writes_the_same_objects(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _id(30), _id(2, 1)
    text = (
        "request_id,row,label,comment\n"
        f"{first},0,churn,called back\n"
        f"{first.upper()},1,stay,\n"
        f"{second},,stay,row defaults to 0\n"
        "not-an-id,0,stay,\n"
        f"{_id(24 * 15, 2)},0,churn,older than the horizon\n"
    )
    event = platform.upload("feedback/churn/week-48.csv", text)
    [outcome] = platform.call(event)
    assert outcome["status"] == "stored" and outcome["accepted"] == 3
    assert outcome["refused"] == {"unknown_id": 1, "unknown_key": 0, "too_late": 1, "from_the_future": 0}
    keys = platform.labels()
    assert [k.split("/")[2:4] for k in keys] == [["date=2026-11-22", "hour=06"], ["date=2026-11-23", "hour=10"]]
    older = read_labels(platform.s3.objects[(ARTIFACTS, keys[0])])
    assert older.request_ids.tolist() == [first, first] and older.values.tolist() == ["churn", "stay"]
    assert older.rows.tolist() == [0, 1] and older.source == "file s3://raw/feedback/churn/week-48.csv"
    report = platform.report(outcome)
    assert outcome["report_key"] == "reports/feedback/churn/week-48.csv-20261123T120000000Z.json"
    assert report["stored"] is True and report["stored_keys"] == keys and report["label_column"] == "label"
    assert [(e["row"], e["reason"]) for e in report["examples"]] == [(4, "unknown_id"), (5, "too_late")]
    assert platform.sns.published == []
    assert emitted(capsys.readouterr().out)["FeedbackFilesStored"]

    written = dict(platform.s3.objects)
    assert platform.call(event) == [outcome]  # S3 delivers an event again, or Lambda retries it
    assert platform.labels() == keys and platform.s3.objects == written


def test_a_file_with_a_wrong_class_stores_nothing_and_its_report_and_mail_name_row_and_column(
    platform: Platform,
) -> None:
    text = f"request_id,outcome\n{_id(1)},churn\n{_id(1, 1)},maybe\n{_id(1, 2)},stay\n"
    [outcome] = platform.call(platform.upload("feedback/churn/bad.csv", text))
    assert outcome["status"] == "refused" and outcome["problems"] == 1
    assert platform.labels() == []
    report = platform.report(outcome)
    assert report["stored"] is False and report["label_column"] == "outcome"  # the model's label column name
    [problem] = report["problems"]
    assert (problem["row"], problem["column"], problem["code"]) == (2, "outcome", "unknown_class")
    [mail] = platform.sns.published
    assert mail["Subject"] == "Feedback file not stored: churn/bad.csv"
    assert "s3://raw/feedback/churn/bad.csv: no label of this file was stored." in mail["Message"]
    assert (
        "row 2, column 'outcome': 'maybe' is not a class of churn; its classes are 'churn', 'stay'" in mail["Message"]
    )
    assert f"Report: s3://artifacts/{outcome['report_key']}" in mail["Message"]


def test_class_numbers_in_a_parquet_file_are_stored_as_the_classes_serving_answers(platform: Platform) -> None:
    frame = pd.DataFrame({"request_id": [_id(3), _id(3, 1)], "row": [0, 0], "target": [1, 0]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    [outcome] = platform.call(platform.upload("feedback/breast-cancer/labels.parquet", buffer.getvalue()))
    assert outcome["status"] == "stored" and outcome["accepted"] == 2
    [key] = platform.labels()
    assert read_labels(platform.s3.objects[(ARTIFACTS, key)]).values.tolist() == ["1", "0"]
    assert "2 labels were numbers, booleans or numeric text" in platform.report(outcome)["notes"][0]


def test_regression_labels_written_as_text_are_numbers_and_text_that_is_none_is_named(platform: Platform) -> None:
    [outcome] = platform.call(platform.upload("feedback/diabetes/a.csv", f"request_id,label\n{_id(5)},151.5\n"))
    assert outcome["status"] == "stored"
    assert read_labels(platform.s3.objects[(ARTIFACTS, platform.labels()[0])]).values.tolist() == [151.5]
    [outcome] = platform.call(platform.upload("feedback/diabetes/b.csv", f"request_id,row,label\n{_id(5)},-1,high\n"))
    problems = platform.report(outcome)["problems"]
    assert [(p["row"], p["column"], p["code"]) for p in problems] == [
        (1, "row", "invalid_row"),
        (1, "label", "wrong_type"),
    ]


@pytest.mark.parametrize(
    ("key", "body", "code", "report_prefix"),
    [
        ("feedback/churn/no-ids.csv", "id,label\nx,churn\n", "missing_column", "reports/feedback/churn/no-ids.csv-"),
        ("feedback/churn/no-label.csv", "request_id,y\nx,churn\n", "missing_column", "reports/feedback/churn/"),
        ("feedback/churn/both.csv", "request_id,label,outcome\nx,churn,stay\n", "ambiguous_label_column", None),
        ("feedback/churn/semi.csv", "request_id;label\nx;churn\n", "wrong_delimiter", None),
        ("feedback/churn/empty.csv", "", "empty_file", None),
        ("feedback/churn/notes.txt", "request_id,label\n", "unsupported_extension", None),
        ("feedback/nobody/labels.csv", "request_id,label\nx,1\n", "unknown_model", "reports/feedback/nobody/"),
        ("feedback/plain/labels.csv", "request_id,label\nx,churn\n", "not_monitored", None),
        ("feedback/labels.csv", "request_id,label\nx,churn\n", "misplaced_file", "reports/feedback/_misplaced/"),
    ],
    ids=[
        "no-id-column",
        "no-label-column",
        "two-label-columns",
        "semicolons",
        "empty",
        "text",
        "unknown",
        "plain",
        "loose",
    ],
)
def test_a_file_that_cannot_be_read_as_labels_is_reported_and_mailed_and_nothing_is_stored(
    platform: Platform, key: str, body: str, code: str, report_prefix: str | None
) -> None:
    [outcome] = platform.call(platform.upload(key, body))
    assert outcome["status"] == "refused" and platform.labels() == []
    report = platform.report(outcome)
    assert report["stored"] is False and report["file_problem"]["code"] == code
    if report_prefix is not None:
        assert outcome["report_key"].startswith(report_prefix)
    [mail] = platform.sns.published
    assert key in mail["Message"] and code in mail["Message"]


def test_a_folder_marker_is_no_file(platform: Platform) -> None:
    assert platform.call(platform.upload("feedback/churn/", b"")) == []
    assert platform.sns.published == [] and platform.s3.keys(ARTIFACTS, "reports/") == []


def test_the_report_is_json_a_person_can_read(platform: Platform) -> None:
    [outcome] = platform.call(platform.upload("feedback/churn/x.csv", f"request_id,label\n{_id(1)},stay\n"))
    raw = platform.s3.objects[(ARTIFACTS, outcome["report_key"])].decode()
    assert raw.startswith("{\n") and json.loads(raw)["rows_counted"] == "from 1, the first row after the header"


def test_a_file_may_name_predictions_by_the_id_field_or_the_request_key(platform: Platform) -> None:
    csv = "order_id,label\nA-1,stay\n1002,churn\nZ-9,stay\n"  # Z-9: no prediction had that order id
    [outcome] = platform.call(platform.upload("feedback/orders/by-order.csv", csv))
    assert outcome["status"] == "stored" and outcome["accepted"] == 2 and outcome["refused"]["unknown_key"] == 1
    stored = read_labels(platform.s3.objects[(ARTIFACTS, outcome["stored"][0])])
    assert stored.request_ids.tolist() == [_id(30)] * 2 and stored.rows.tolist() == [2, 3]
    report = platform.report(outcome)
    assert report["examples"][0]["row"] == 3 and report["examples"][0]["id"] == "Z-9"

    keyed = pd.DataFrame({"request_key": ["customer-7"], "row": [1], "label": ["churn"]})
    buffer = io.BytesIO()
    keyed.to_parquet(buffer, index=False)
    [outcome] = platform.call(platform.upload("feedback/orders/by-key.parquet", buffer.getvalue()))
    assert outcome["status"] == "stored" and outcome["accepted"] == 1, platform.report(outcome)
    stored = read_labels(platform.s3.objects[(ARTIFACTS, outcome["stored"][0])])
    assert stored.request_ids.tolist() == [_id(2)] and stored.rows.tolist() == [1]


def test_a_row_naming_its_prediction_twice_or_an_id_for_a_model_without_one_is_named_by_row_and_column(
    platform: Platform,
) -> None:
    [outcome] = platform.call(
        platform.upload("feedback/orders/both.csv", f"request_id,order_id,label\n{_id(1)},,stay\n{_id(1)},A-1,stay\n")
    )
    assert outcome["status"] == "refused" and platform.labels() == []
    [problem] = platform.report(outcome)["problems"]
    assert (problem["row"], problem["column"], problem["code"]) == (2, "order_id", "conflicting_fields")
    [outcome] = platform.call(platform.upload("feedback/churn/ids.csv", "id,label\nA-1,stay\n"))
    report = platform.report(outcome)
    assert (
        report["file_problem"]["code"] == "missing_column"
        and "monitoring.performance.id_field" in (report["file_problem"]["message"])
    )


def test_a_parquet_file_of_whole_number_ids_names_them_as_their_decimal_text(platform: Platform) -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"order_id": [1002], "label": ["churn"]}).to_parquet(buffer, index=False)
    [outcome] = platform.call(platform.upload("feedback/orders/ints.parquet", buffer.getvalue()))
    assert outcome["status"] == "stored" and outcome["accepted"] == 1, platform.report(outcome)


def test_a_file_none_of_whose_labels_can_be_joined_is_reported_and_mailed_as_stored_nothing(platform: Platform) -> None:
    [outcome] = platform.call(platform.upload("feedback/orders/late.csv", "order_id,label\nZ-1,stay\nZ-2,churn\n"))
    assert outcome["status"] == "refused" and outcome["refused"]["unknown_key"] == 2 and platform.labels() == []
    assert platform.report(outcome)["stored"] is False
    [mail] = platform.sns.published
    assert "none of its 2 labels" in mail["Message"] and "row 1: unknown_key" in mail["Message"]
