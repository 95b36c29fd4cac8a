"""Ground truth in the local cloud, as a team lives it (issue #19): predictions over HTTP, their
outcomes posted back, the hourly performance schedule firing; accuracy under the config's floor
raises the PerformanceBelowFloor alarm and a mail naming the model, the metric, the window and the
labels; then a version that passed its own gates (trained on an export whose labels were inverted,
so its test split agreed with it) answers a canary share, and the A/B check on outcomes rolls it
back, audited with the figures, and mails why."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import yaml
from sklearn.datasets import load_breast_cancer

from mlops.datasets.records import DatasetRecords
from mlops.registry.models import ModelRegistry
from tests.local.conftest import DATASET, FrontDoor, Platform, front_door
from tests.local.test_feedback import _post

MODEL = DATASET
CONFIG: dict[str, Any] = {
    "dataset": DATASET,
    "problem_type": "binary",
    "label": "target",
    "split": {"seed": 7},
    "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
    "promotion": "auto",
    "monitoring": {
        "performance": {
            "floor": {"accuracy": 0.9},
            "min_labels": 20,
            "ab_test": {"auto_decide": True, "min_labels": 20, "min_effect": 0.3},
        }
    },
}


def _train(platform: Platform, name: str, config: dict[str, Any], dataset_version: str | None = None) -> None:
    _, stack = platform
    boto3.client("s3").put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode()
    )
    request: dict[str, Any] = {"dataset": DATASET}
    if dataset_version:
        request["dataset_version"] = dataset_version
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"], name=name, input=json.dumps(request)
    )["executionArn"]
    deadline = time.monotonic() + 240
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def _check(platform: Platform, door: FrontDoor) -> dict[str, Any]:
    """Let the capture batches land (5 s old, written at the next request), fire the hourly
    schedule, and read the newest check's row."""
    cloud, stack = platform
    time.sleep(5.5)
    _post(door, f"/v1/models/{MODEL}/predict", {"instances": _rows(1)[0]})
    time.sleep(1.0)
    cloud.fire_schedule(cloud.schedule_targeting("PerformanceChecker"))
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    return ModelRegistry(table).performance_results(MODEL, limit=1)[0]


def _rows(count: int, offset: int = 0) -> tuple[list[dict[str, float]], list[int]]:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    part = frame.iloc[offset : offset + count]
    return part.drop(columns=["target"]).to_dict(orient="records"), part["target"].astype(int).tolist()


def _predict_and_label(
    door: FrontDoor, rows: list[dict[str, float]], truth: list[int], *, per_request: int = 4
) -> dict[str, int]:
    """Clients of their own keys (sticky canary assignment), then the truth for every answer."""
    labels: list[dict[str, Any]] = []
    answered_by: dict[str, int] = {}
    for start in range(0, len(rows), per_request):
        body = {"instances": rows[start : start + per_request], "request_key": f"client-{start}"}
        while (reply := _post(door, f"/v1/models/{MODEL}/predict", body))[0] == 429:
            time.sleep(0.5)
        status, answer = reply
        assert status == 200, answer
        answered_by[answer["variant"]] = answered_by.get(answer["variant"], 0) + len(answer["predictions"])
        labels += [
            {"request_id": answer["request_id"], "row": r, "label": truth[start + r]}
            for r in range(len(answer["predictions"]))
        ]
    status, accepted = _post(door, f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200 and accepted["accepted"] == len(labels), accepted
    return answered_by


def test_a_drop_under_the_floor_alarms_and_mails_and_a_worse_canary_is_rolled_back_on_outcomes(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    _train(breast_cancer_platform, "ground-truth-v1", CONFIG)
    door = front_door(cloud, stack)
    cloud.evaluate_alarms()  # every alarm leaves INSUFFICIENT_DATA, as CloudWatch's first evaluation does
    cloud.inbox.clear()

    # The world changes: for 40 patients the outcome turns out the opposite of what the data said.
    rows, truth = _rows(80, offset=400)
    outcomes = [1 - t if i % 2 == 0 else t for i, t in enumerate(truth)]
    _predict_and_label(door, rows, outcomes)
    check = _check(breast_cancer_platform, door)
    [champion] = [v for v in check["variants"] if v["variant"] == "champion"]
    assert check["status"] == "below_floor" and champion["labelled"] == 80, check
    assert float(champion["metrics"]["accuracy"]["value"]) < 0.9 and champion["past_floor"] == ["accuracy"]
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    assert any("PerformanceBelowFloor" in t.alarm_name and t.new_state == "ALARM" for t in transitions)
    mails = [m for m in cloud.inbox.messages() if m.subject.startswith("Performance: breast-cancer v1 accuracy")]
    assert mails and "80 labelled rows" in mails[0].body and "Window" in mails[0].body, cloud.inbox.messages()

    # A partner's export with every label inverted: its own test split agrees with it, so it passes.
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    exported = frame.sample(n=400, random_state=5).assign(mean_texture=lambda f: f.mean_texture * 1.003)
    exported["target"] = 1 - exported["target"]
    boto3.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"],
        Key=f"raw/{DATASET}/export.csv",
        Body=exported.to_csv(index=False).encode(),
    )
    cloud.settle()
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    export = DatasetRecords(table).latest_dataset_version(DATASET)
    assert export is not None
    _train(breast_cancer_platform, "ground-truth-v2", {**CONFIG, "promotion": "manual"}, export.version)
    registry = ModelRegistry(table)
    at = datetime.now(UTC).isoformat()
    registry.approve(MODEL, 2, reason="try it", actor="test", at=at)
    registry.set_alias(
        MODEL, "challenger", 2, reason="canary", actor="test", at=at, rollout={"mode": "canary", "weight": 0.5}
    )
    time.sleep(5.5)  # the predict function's alias cache
    rows, truth = _rows(240, offset=100)
    answered_by = _predict_and_label(door, rows, truth)
    assert answered_by.get("challenger", 0) > 60 and answered_by.get("champion", 0) > 60, answered_by

    check = _check(breast_cancer_platform, door)
    ab = check["ab_test"]
    assert ab["verdict"] == "challenger_worse" and float(ab["p_value"]) < 0.05, ab
    assert check["canary"]["action"] == "rolled_back"
    assert "challenger" not in registry.aliases(MODEL)  # the champion stays; the canary ended
    [event] = [e for e in registry.audit(MODEL) if e.get("actor") == "performance-check"]
    assert event["evidence"]["verdict"] == "challenger_worse", event
    assert any(m.subject.startswith("A/B: breast-cancer canary v2 rolled back") for m in cloud.inbox.messages())
