"""Platform fixtures: the platform deployed into the local cloud with the breast-cancer set ingested,
which the training tests start from. (The emulator's own fixtures, the probe stack among them, are in
tests/localcloud/conftest.py.)"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]


class Client:
    """A client of the predict API with the prediction key, for the breast-cancer model."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def predict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/v1/models/{DATASET}/predict",
            data=json.dumps({"instances": rows}).encode(),
            method="POST",
            headers={"content-type": "application/json", "x-api-key": self.key},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))


@pytest.fixture
def breast_cancer_platform(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    """The platform deployed, the team subscribed to its alerts, the breast-cancer set ingested as a
    dataset version: where the training tests start."""
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="ml-team@example.com"
        )
        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3 = boto3.client("s3")
        contract = render_contract_yaml(draft_contract(frame, dataset=DATASET, label="target"))
        s3.put_object(
            Bucket=stack.outputs["ArtifactsBucketName"], Key=f"contracts/{DATASET}.yaml", Body=contract.encode()
        )
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"],
            Key=f"raw/{DATASET}/patients.csv",
            Body=frame.to_csv(index=False).encode(),
        )
        cloud.settle()
        yield cloud, stack
