"""The feedback loop in the local cloud: labelled traffic that a performance drop writes to the raw
bucket is checked by the deployed ingest function against the dataset's contract and becomes a new
dataset version; the retraining run the drop asked for starts once that version exists, naming the
check, the versions assessed, the upload and the version; the contract's auto_train starts no
second run; and a rerun writes nothing new."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.buckets import RawBucket
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.datasets.records import DatasetRecords
from mlops.monitoring.config import FeedbackConfig
from mlops.monitoring.drop_retraining import DropServices, PerformanceDrop, retrain_on_drop
from mlops.monitoring.feedback_dataset import (
    FeedbackSchema,
    FeedbackServices,
    FeedbackSource,
    export_feedback,
)
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.retraining import RetrainingPolicy
from mlops.registry.feedback_exports import FeedbackExports
from mlops.registry.models import ModelRegistry
from mlops.serving.signature import ServedSignature
from mlops.training.start import start_training

MODEL = DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack, pd.DataFrame]


@pytest.fixture
def platform(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    """The platform with the breast-cancer set ingested under a contract that trains every accepted
    version, and a training config whose retraining section lets a performance drop retrain."""
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        contract = draft_contract(frame, dataset=DATASET, label="target")
        contract = contract.model_copy(update={"policy": contract.policy.model_copy(update={"auto_train": True})})
        s3 = boto3.client("s3")
        s3.put_object(
            Bucket=stack.outputs["ArtifactsBucketName"],
            Key=f"contracts/{DATASET}.yaml",
            Body=render_contract_yaml(contract).encode(),
        )
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=frame.to_csv(index=False)
        )
        config = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "target",
            "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
            "retraining": {"cooldown_hours": 24, "max_runs_per_day": 2},
        }
        s3.put_object(
            Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config)
        )
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=frame.to_csv(index=False)
        )
        cloud.settle()
        yield cloud, stack, frame


def _finished(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    return dict(execution)


def _window(frame: pd.DataFrame, rows: int, hour: datetime) -> JoinedHour:
    """`rows` patients predicted in `hour` (v1 answering, every third request also scored by a shadow
    v2) and labelled an hour later, as the join leaves them."""
    features = [c for c in frame.columns if c != "target"]
    picked = frame.sample(rows, random_state=19)
    base = int(hour.timestamp() * 1000)
    answered = np.arange(rows, dtype=np.int64) + base
    shadow = np.arange(rows) % 3 == 0
    index = np.r_[np.arange(rows), np.flatnonzero(shadow)]  # the shadow's copies of the same rows
    n = len(index)
    return JoinedHour(
        model=MODEL,
        hour=hour,
        request_ids=np.array([f"req-{i:04d}" for i in index]),
        rows=np.zeros(n, dtype=np.int64),
        versions=np.r_[np.ones(rows, dtype=np.int64), np.full(int(shadow.sum()), 2)],
        variants=np.array(["champion"] * rows + ["shadow"] * int(shadow.sum())),
        predictions=np.array(["1"] * n),
        probabilities=None,
        labels=picked["target"].astype(str).to_numpy()[index],
        answered_ms=answered[index],
        labelled_ms=answered[index] + 3_600_000,
        classes=["0", "1"],
        fields=dict.fromkeys(features, "numeric"),
        inputs={name: picked[name].to_numpy(dtype=np.float64)[index] for name in features},
        missing={},
    )


def test_a_performance_drop_writes_a_dataset_version_and_retrains_on_it_once(platform: Platform) -> None:
    cloud, stack, frame = platform
    sfn = boto3.client("stepfunctions")
    machine = stack.outputs["TrainingStateMachineArn"]
    [first_run] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert first_run["name"].startswith("ingest-"), "the team's upload started the contract's auto_train run"

    now = datetime.now(UTC).replace(microsecond=0)
    hour = (now - timedelta(hours=3)).replace(minute=0, second=0)
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    feedback = FeedbackServices(RawBucket(boto3.client("s3"), stack.outputs["RawBucketName"]), FeedbackExports(table))
    services = DropServices(feedback, partial(start_training, sfn, machine), now=lambda: now)
    assert _finished(sfn, first_run["executionArn"])["status"] == "SUCCEEDED"
    champion = ModelRegistry(table).model_version(MODEL, 1)  # what serving answers with, and its signature
    assert champion is not None and champion.signature_key is not None
    artifacts = boto3.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=champion.signature_key)
    schema = FeedbackSchema.from_signature(ServedSignature.from_json(json.loads(artifacts["Body"].read())), model=MODEL)
    assert schema.label == "target" and schema.classes == (0, 1)
    # 300 rows: the drafted contract asks for at least half its sample's 569 rows (row_count.min 280).
    source = FeedbackSource(_window(frame, 300, hour), schema, FeedbackConfig(min_rows=50), now)
    drop = PerformanceDrop(MODEL, DATASET, now.isoformat(), "roc_auc", 0.81, 0.9, hour, now, (1, 2), 300)
    outcome = retrain_on_drop(services, drop, policy=RetrainingPolicy(), runs=[], no_new_data=None, source=source)
    assert outcome.feedback is not None and outcome.feedback.rows == 300, outcome.feedback
    key = str(outcome.feedback.key)
    assert key.startswith(f"raw/{DATASET}/feedback-{MODEL}-") and outcome.requested is not None
    cloud.settle()  # the ingest function takes the upload

    versions = DatasetRecords(table).all_dataset_versions(DATASET)
    assert [v.source_key for v in versions] == [f"raw/{DATASET}/patients.csv", key]
    feedback_version = versions[-1]
    assert feedback_version.rows == 300
    runs = {e["name"]: e for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    retrain = f"retrain-{MODEL}-{now:%Y%m%dT%H}"
    assert set(runs) == {first_run["name"], retrain}, "one run for the feedback version: the drop's, no auto_train"
    request = json.loads(sfn.describe_execution(executionArn=runs[retrain]["executionArn"])["input"])
    assert request["reason"].startswith("performance: roc_auc 0.81 past its floor 0.9 over ")
    assert f"(300 labels; v1, v2; check {now.isoformat()}); feedback {key} (300 rows)" in request["reason"]
    assert request["reason"].endswith(f"; dataset version {feedback_version.version[:12]}")
    assert request["cause"]["dataset_version"] == feedback_version.version and request["cause"]["feedback_key"] == key

    again = export_feedback(feedback, source)
    assert again.status == "nothing_new", "the watermark: each labelled row is written once"

    assert _finished(sfn, runs[retrain]["executionArn"])["status"] == "SUCCEEDED"
    record = ModelRegistry(table).get_run(retrain)
    assert record is not None and record["cause"]["feedback_key"] == key
    trained_on = [v["version"] for v in record["training_data"]["versions"]]
    assert trained_on == [versions[0].version, feedback_version.version], "the retraining used the feedback rows"
