"""Labels meet predictions in the local cloud as they do in AWS (issue #19, item 2): a model whose
config has `monitoring.performance` answers over HTTP, every request is captured, labels for some of
its rows land in the label store, the performance schedule fires, and the joined hour holds exactly
those rows with what the API answered and the labels sent; a correction sent later replaces a label
on the next run, and a run with nothing new changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.monitoring.joined import JoinedHour, joined_key, read_joined
from mlops.monitoring.label_store import LabelBatch, hour_of, label_key, labels_npz
from mlops.serving.request_ids import answered_at
from tests.local.conftest import FrontDoor, front_door

MODEL = DATASET = "breast-cancer"
CAPTURE_AGE_SECONDS = 5  # the local synth's serving.capture_max_age_seconds


Platform = tuple[LocalCloud, DeployedStack, FrontDoor, list[dict[str, Any]], list[int]]


@pytest.fixture(scope="module")
def platform(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("label-join")
    with LocalCloud.in_process(inbox_path=tmp / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        data = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3 = boto3.client("s3")
        artifacts = stack.outputs["ArtifactsBucketName"]
        contract = render_contract_yaml(draft_contract(data, dataset=DATASET, label="target"))
        s3.put_object(Bucket=artifacts, Key=f"contracts/{DATASET}.yaml", Body=contract.encode())
        config = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "target",
            "split": {"seed": 7},
            "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
            "promotion": "auto",
            # Every prediction is captured: the config asks for outcomes to be joined with them.
            "monitoring": {"performance": {"floor": {"accuracy": 0.8}, "window_hours": 24, "horizon_days": 7}},
        }
        s3.put_object(Bucket=artifacts, Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode())
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=data.to_csv(index=False)
        )
        cloud.settle()
        sfn = boto3.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["TrainingStateMachineArn"],
            name="first",
            input=json.dumps({"dataset": DATASET}),
        )["executionArn"]
        deadline = time.monotonic() + 240
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "training did not finish in 240 s"
            time.sleep(0.2)
        assert execution["status"] == "SUCCEEDED"
        rows = data.drop(columns=["target"]).to_dict(orient="records")
        yield cloud, stack, front_door(cloud, stack), rows, data["target"].tolist()


def _send_labels(bucket: str, items: list[tuple[str, int, str]], suffix: str) -> None:
    """Label objects as the label intake writes them: one per hour of the predictions they name."""
    by_hour: dict[datetime, list[tuple[str, int, str]]] = {}
    for item in items:
        issued = answered_at(item[0])
        assert issued is not None
        by_hour.setdefault(hour_of(issued), []).append(item)
    for hour, found in by_hour.items():
        ids, rows, values = zip(*found, strict=True)
        batch = LabelBatch(
            model=MODEL,
            hour=hour,
            request_ids=np.array(ids),
            rows=np.array(rows, dtype=np.int64),
            values=np.array(values),
            received_at=datetime.now(UTC),
            source="api local-test",
        )
        boto3.client("s3").put_object(Bucket=bucket, Key=label_key(batch, suffix), Body=labels_npz(batch))


def _joined(bucket: str, hours: set[datetime]) -> list[JoinedHour]:
    s3 = boto3.client("s3")
    return [read_joined(s3.get_object(Bucket=bucket, Key=joined_key(MODEL, h))["Body"].read()) for h in sorted(hours)]


def test_labels_sent_for_predictions_are_joined_with_them_by_the_schedule(platform: Platform) -> None:
    cloud, stack, client, rows, truth = platform
    bucket = stack.outputs["ArtifactsBucketName"]
    answers = [(start, client.predict(rows[start : start + 5])) for start in range(0, 40, 5)]
    time.sleep(CAPTURE_AGE_SECONDS + 0.5)
    client.predict(rows[:1])  # a request after the age limit hands the due batch to the writer
    time.sleep(1.0)
    # The outcome of the first three rows of every other request: 12 labels about 40 predictions.
    labelled = [(answer, start + r) for start, answer in answers[::2] for r in range(3)]
    items = [(answer["request_id"], row - start, str(truth[row])) for (answer, row), start in _starts(labelled)]
    _send_labels(bucket, items, "first")

    cloud.fire_schedule(cloud.schedule_targeting("PerformanceChecker"))

    hours = {hour_of(answered_at(a["request_id"]) or datetime.now(UTC)) for _, a in answers}
    joined = _joined(bucket, hours)
    got = {
        (rid, int(row)): (label, prediction, int(version), variant)
        for hour in joined
        for rid, row, label, prediction, version, variant in zip(
            hour.request_ids, hour.rows, hour.labels, hour.predictions, hour.versions, hour.variants, strict=True
        )
    }
    expected = {
        (answer["request_id"], row - start): (str(truth[row]), str(answer["predictions"][row - start]), 1, "champion")
        for (answer, row), start in _starts(labelled)
    }
    assert got == expected
    assert sum(sum(h.predicted.values()) for h in joined) >= 40 and sum(h.unmatched_labels for h in joined) == 0
    assert all(h.inputs["mean_radius"].size == h.size and h.probabilities is not None for h in joined)

    # A correction days later (here: now) replaces one label on the next run; a run with nothing new
    # rewrites nothing (invoked on demand, as `mlops performance --run` will).
    first_rid = answers[0][1]["request_id"]
    corrected = "1" if str(truth[0]) == "0" else "0"
    _send_labels(bucket, [(first_rid, 0, corrected)], "correction")
    answer = _invoke(stack, {"models": [MODEL], "force": True})
    [join] = answer["joins"]
    assert join["status"] == "joined" and join["superseded"] == 1 and join["written"] >= 1
    assert {joined_key(MODEL, h) for h in hours} <= set(join["window"])
    again = [j for h in _joined(bucket, hours) for j in zip(h.request_ids, h.rows, h.labels, strict=True)]
    assert (first_rid, 0, corrected) in [(r, int(n), str(v)) for r, n, v in again]
    [rerun] = _invoke(stack, {"models": [MODEL]})["joins"]
    assert rerun["written"] == 0 and rerun["matched"] == join["matched"]


def _starts(labelled: list[tuple[dict[str, Any], int]]) -> list[tuple[tuple[dict[str, Any], int], int]]:
    """Each (answer, dataset row) with the dataset row its request started at."""
    return [((answer, row), row - row % 5) for answer, row in labelled]


def _invoke(stack: DeployedStack, event: dict[str, Any]) -> dict[str, Any]:
    response = boto3.client("lambda").invoke(
        FunctionName=stack.outputs["PerformanceFunctionName"], Payload=json.dumps(event).encode()
    )
    assert "FunctionError" not in response, response["Payload"].read()
    return dict(json.loads(response["Payload"].read()))
