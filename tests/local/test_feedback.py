"""Labels in, in the local cloud, as a client and a data team send them: predictions over HTTP, their
labels posted back by API, then label files uploaded under feedback/<model>/ (one with a class the
model does not have, one good), and what each is told: the counts, the label objects stored under
the predictions' hour, the report naming the bad row and column, the mail, and nothing stored for
the bad file."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import yaml
from sklearn.datasets import load_breast_cancer

from mlops.monitoring.label_store import hour_of, hour_prefix
from mlops.serving.request_ids import answered_at
from tests.local.conftest import DATASET, FrontDoor, Platform, front_door

MODEL = DATASET


def _train_monitored(platform: Platform) -> None:
    """One quick candidate; `monitoring.performance` makes the model take labels (and capture every request)."""
    _, stack = platform
    config = {
        "dataset": DATASET,
        "problem_type": "binary",
        "label": "target",
        "split": {"seed": 7},
        "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
        "promotion": "auto",
        "monitoring": {"performance": {"floor": {"accuracy": 0.8}, "horizon_days": 14}},
    }
    boto3.client("s3").put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode()
    )
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"], name="labels", input=json.dumps({"dataset": DATASET})
    )["executionArn"]
    deadline = time.monotonic() + 240
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def _post(door: FrontDoor, path: str, body: Any) -> tuple[int, Any]:
    """A signed request through the predict function URL (the default front door)."""
    return door.post(path, body)


def _keys(bucket: str, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _json(bucket: str, key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_labels_by_api_and_by_file_are_stored_by_the_predictions_hour_and_a_bad_file_stores_nothing(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    _train_monitored(breast_cancer_platform)
    door = front_door(cloud, stack)
    artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    rows = frame.drop(columns=["target"]).head(5).to_dict(orient="records")
    truth = frame["target"].head(5).tolist()

    # Predictions over HTTP: each answer carries the request id a label names later.
    status, first = _post(door, f"/v1/models/{MODEL}/predict", {"instances": rows[:3]})
    assert status == 200, first
    status, second = _post(door, f"/v1/models/{MODEL}/predict", {"instances": rows[3:]})
    assert status == 200, second
    hours = set()
    for answered in (first, second):
        at = answered_at(answered["request_id"])
        assert at is not None
        hours.add(hour_prefix(MODEL, hour_of(at)))  # labels/<model>/date=<prediction day>/hour=<h>/

    # Labels by API: classes as serving answers them ("0", "1"), one as a number, one id not ours.
    labels = [{"request_id": first["request_id"], "row": i, "label": str(truth[i])} for i in range(3)]
    labels += [{"request_id": second["request_id"], "row": 0, "label": truth[3]}]
    labels += [{"request_id": "2f1e7c1a-0000-4000-8000-000000000000", "label": "1"}]
    status, answer = _post(door, f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200, answer
    assert answer["accepted"] == 4 and answer["refused"]["unknown_id"] == 1 and answer["duplicates"] == 0
    assert answer["examples"][0]["index"] == 4 and answer["examples"][0]["reason"] == "unknown_id"
    assert answer["notes"] and "numbers, booleans or numeric text" in answer["notes"][0]
    stored_by_api = _keys(artifacts, f"labels/{MODEL}/")
    assert stored_by_api == sorted(answer["stored"]) and stored_by_api
    assert {k.rsplit("/", 1)[0] + "/" for k in stored_by_api} <= hours

    # A wrong class by API: 400 naming index and field, nothing stored.
    status, refused = _post(
        door, f"/v1/models/{MODEL}/feedback", {"labels": [{"request_id": second["request_id"], "label": "benign"}]}
    )
    assert status == 400 and refused["error"]["problems"][0]["index"] == 0
    assert refused["error"]["problems"][0]["field"] == "label"
    assert _keys(artifacts, f"labels/{MODEL}/") == stored_by_api

    # A file with a class the model does not have: a report naming its row and column, a mail, nothing stored.
    s3 = boto3.client("s3")
    bad = f"request_id,row,target\n{second['request_id']},0,1\n{second['request_id']},1,malignant\n"
    s3.put_object(Bucket=raw, Key=f"feedback/{MODEL}/monday.csv", Body=bad.encode())
    cloud.settle()
    assert _keys(artifacts, f"labels/{MODEL}/") == stored_by_api
    [report_key] = _keys(artifacts, f"reports/feedback/{MODEL}/monday.csv-")
    report = _json(artifacts, report_key)
    assert report["stored"] is False
    [problem] = report["problems"]
    assert (problem["row"], problem["column"], problem["code"]) == (2, "target", "unknown_class")
    mails = [m for m in cloud.inbox.messages() if m.subject.startswith("Feedback file not stored")]
    assert len(mails) == 1 and f"feedback/{MODEL}/monday.csv" in mails[0].body
    assert "row 2, column 'target'" in mails[0].body
    # The ingest function hears of the file too (its rule for keys outside raw/) and leaves it alone.
    assert _keys(artifacts, "reports/validation/_misplaced/") == []

    # The corrected file: its labels stored under the predictions' hour, and a report saying so.
    good = f"request_id,row,label\n{second['request_id']},0,{truth[3]}\n{second['request_id']},1,{truth[4]}\n"
    s3.put_object(Bucket=raw, Key=f"feedback/{MODEL}/tuesday.csv", Body=good.encode())
    cloud.settle()
    [report_key] = _keys(artifacts, f"reports/feedback/{MODEL}/tuesday.csv-")
    report = _json(artifacts, report_key)
    assert report["stored"] is True and report["accepted"] == 2
    from_file = sorted(set(_keys(artifacts, f"labels/{MODEL}/")) - set(stored_by_api))
    assert from_file == sorted(report["stored_keys"]) and len(from_file) == 1
    assert from_file[0].rsplit("/", 1)[0] + "/" in hours
    assert len([m for m in cloud.inbox.messages() if m.subject.startswith("Feedback file")]) == 1
