"""Labels by the client's own keys, in the local cloud (issue #19): a clinic's requests carry an
`x-request-key` per client and each row its `patient_id` (the id field its config names, which is no
feature of the model); the outcomes come back by request key over the API and by patient id in a CSV
file, and the hourly performance check counts every one of them. Keys no prediction was made with
are counted as unknown_key, and nothing else is stored for them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.registry.models import ModelRegistry
from tests.local.conftest import DATASET, FrontDoor, Platform, front_door
from tests.local.test_feedback import _json, _keys, _post
from tests.local.test_ground_truth import _train

MODEL = DATASET
ID_FIELD = "patient_id"


def _frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame.insert(0, ID_FIELD, [f"P-{i:05d}" for i in range(len(frame))])
    return frame


@pytest.fixture
def clinic(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    """The platform deployed; the breast-cancer set with a patient_id column ingested; a model trained
    with `monitoring.performance.id_field: patient_id`."""
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        s3 = boto3.client("s3")
        frame = _frame()
        contract = render_contract_yaml(draft_contract(frame, dataset=DATASET, label="target"))
        artifacts = stack.outputs["ArtifactsBucketName"]
        s3.put_object(Bucket=artifacts, Key=f"contracts/{DATASET}.yaml", Body=contract.encode())
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"],
            Key=f"raw/{DATASET}/patients.csv",
            Body=frame.to_csv(index=False).encode(),
        )
        cloud.settle()
        config = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "target",
            "split": {"seed": 7},
            "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
            "promotion": "auto",
            "monitoring": {"performance": {"floor": {"accuracy": 0.8}, "min_labels": 10, "id_field": ID_FIELD}},
        }
        _train((cloud, stack), "by-key", config)
        yield cloud, stack


def test_outcomes_sent_by_request_key_and_by_patient_id_are_joined_with_the_predictions_they_name(
    clinic: Platform,
) -> None:
    cloud, stack = clinic
    door = front_door(cloud, stack)
    artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
    patients = _frame().iloc[400:440]
    rows = patients.drop(columns=["target"]).to_dict(orient="records")  # patient_id travels in every row
    truth = patients["target"].astype(int).tolist()

    # 10 clients, 4 patients each; the id field is no input of the model, and the answer says nothing of it.
    for client in range(10):
        body = {"instances": rows[client * 4 : client * 4 + 4]}
        request = {"x-request-key": f"client-{client}"}
        status, answer = _predict(door, body, request)
        assert status == 200 and len(answer["predictions"]) == 4, answer
    time.sleep(5.5)  # the capture batch's age: the next request writes it, and its keys with it
    _predict(door, {"instances": rows[:1]}, {})
    time.sleep(1.0)

    # Clients 0-4 send their outcomes by request key and row; an unknown key is counted, not stored.
    labels = [{"request_key": f"client-{c}", "row": r, "label": truth[c * 4 + r]} for c in range(5) for r in range(4)]
    labels.append({"request_key": "client-99", "row": 0, "label": 1})
    status, accepted = _post(door, f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200 and accepted["accepted"] == 20 and accepted["refused"]["unknown_key"] == 1, accepted

    # The records team sends the other 20 outcomes as a file keyed by patient id.
    later = patients.iloc[20:][[ID_FIELD, "target"]]
    boto3.client("s3").put_object(
        Bucket=raw, Key=f"feedback/{MODEL}/outcomes.csv", Body=later.to_csv(index=False).encode()
    )
    cloud.settle()
    [report_key] = _keys(artifacts, f"reports/feedback/{MODEL}/outcomes.csv-")
    report = _json(artifacts, report_key)
    assert report["stored"] is True and report["accepted"] == 20, report

    cloud.fire_schedule(cloud.schedule_targeting("PerformanceChecker"))
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    [check] = ModelRegistry(table).performance_results(MODEL, limit=1)
    [champion] = [v for v in check["variants"] if v["variant"] == "champion"]
    assert champion["labelled"] == 40, check  # every label found the row it named
    assert float(champion["metrics"]["accuracy"]["value"]) > 0.8


def _predict(door: FrontDoor, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    return door.post(f"/v1/models/{MODEL}/predict", body, headers=headers)
