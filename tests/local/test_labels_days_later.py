"""Labels days later, in the local cloud (issue #19): predictions over HTTP; three days on (the cloud's
clock moved, the hourly schedules firing on the way), the outcomes come back, half by
`POST /v1/models/{name}/feedback` and half as a file under `feedback/<model>/`; an hour later the
performance schedule counts them all, with a label delay of about three days. Past
`monitoring.performance.horizon_days`, one more label is refused as too late and not counted.

The platform fixture is this test's own cloud (function-scoped), so moving its clock days ahead
changes nothing another test sees."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from mlops.registry.models import ModelRegistry
from tests.local.conftest import DATASET, Platform, front_door
from tests.local.test_feedback import _json, _keys, _post
from tests.local.test_ground_truth import CONFIG as GROUND_TRUTH_CONFIG
from tests.local.test_ground_truth import _rows, _train

MODEL = DATASET
HORIZON_DAYS = 4
# One logistic candidate, promoted on its own; labels taken for HORIZON_DAYS.
CONFIG: dict[str, Any] = {
    **GROUND_TRUTH_CONFIG,
    "monitoring": {"performance": {"floor": {"accuracy": 0.8}, "min_labels": 10, "horizon_days": HORIZON_DAYS}},
}


def test_labels_three_days_later_by_api_and_by_file_are_counted_and_past_the_horizon_refused(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    _train(breast_cancer_platform, "days-later", CONFIG)
    door = front_door(cloud, stack)
    registry = ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))

    # Monday: 42 predictions over HTTP, each answer's request id what a label names later.
    rows, truth = _rows(42, offset=200)
    answered: list[tuple[str, int, int]] = []  # (request_id, row, the outcome)
    for start in range(0, len(rows), 6):
        status, answer = _post(door, f"/v1/models/{MODEL}/predict", {"instances": rows[start : start + 6]})
        assert status == 200, answer
        answered += [(answer["request_id"], r, truth[start + r]) for r in range(len(answer["predictions"]))]
    predicted_at = datetime.now(UTC)
    time.sleep(5.5)  # the capture batch is 5 s old: the next request hands it to the writer thread
    _post(door, f"/v1/models/{MODEL}/predict", {"instances": rows[:1]})
    time.sleep(1.0)

    firings = cloud.advance_clock(timedelta(days=3))
    assert len([f for f in firings if f.rule_name == cloud.schedule_targeting("PerformanceChecker")]) == 72
    assert datetime.now(UTC) - predicted_at >= timedelta(days=3)
    by_api, by_file, never = answered[:20], answered[20:40], answered[40:]

    # Thursday: the outcomes. Half by API ...
    labels = [{"request_id": rid, "row": row, "label": str(value)} for rid, row, value in by_api]
    status, accepted = _post(door, f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200 and accepted["accepted"] == 20 and accepted["refused"]["too_late"] == 0, accepted
    # ... and half as a file the data team uploads.
    artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
    body = "request_id,row,label\n" + "".join(f"{rid},{row},{value}\n" for rid, row, value in by_file)
    boto3.client("s3").put_object(Bucket=raw, Key=f"feedback/{MODEL}/thursday.csv", Body=body.encode())
    cloud.settle()
    [report_key] = _keys(artifacts, f"reports/feedback/{MODEL}/thursday.csv-")
    report = _json(artifacts, report_key)
    assert report["stored"] is True and report["accepted"] == 20, report

    # An hour on, the hourly performance check joins them with Monday's predictions and counts them all.
    firings = cloud.advance_clock(timedelta(hours=1))
    assert cloud.schedule_targeting("PerformanceChecker") in {f.rule_name for f in firings}
    check = registry.performance_results(MODEL, limit=1)[0]
    assert check["labelled"] == 40 and check["unmatched_labels"] == 0, check
    delay = float(check["label_delay"]["median_hours"])
    assert 72 <= delay < 72.5, check["label_delay"]  # three days, and the seconds the test took

    # Past the horizon (four days after Monday), a label for a prediction nobody labelled yet is
    # refused as too late, stored nowhere, and the next check counts the same 40 rows.
    cloud.advance_clock(timedelta(days=HORIZON_DAYS - 3))
    assert datetime.now(UTC) - predicted_at > timedelta(days=HORIZON_DAYS)
    stored = _keys(artifacts, f"labels/{MODEL}/")
    rid, row, value = never[0]
    late = [{"request_id": rid, "row": row, "label": str(value)}]
    status, refused = _post(door, f"/v1/models/{MODEL}/feedback", {"labels": late})
    assert status == 200 and refused["accepted"] == 0 and refused["refused"]["too_late"] == 1, refused
    assert refused["examples"][0]["reason"] == "too_late"
    assert "horizon_days" in refused["examples"][0]["message"]
    assert _keys(artifacts, f"labels/{MODEL}/") == stored
    cloud.advance_clock(timedelta(hours=1))
    newest = registry.performance_results(MODEL, limit=1)[0]
    assert newest["checked_at"] > check["checked_at"]
    assert newest["labelled"] == 40, newest
