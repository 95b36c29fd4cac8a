"""Local-cloud fixtures: the probe stack (tiny handlers, one of each resource) deployed into moto, and
the platform with the breast-cancer set ingested, which the training tests start from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized, synthesize
from localcloud.eventbridge import ManualClock
from mlops.contracts import draft_contract, render_contract_yaml

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]


@pytest.fixture(scope="session")
def probe_synth() -> Synthesized:
    from tests.local.probe_stack.stack import build_probe_app

    return synthesize(build_probe_app)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC))


@pytest.fixture
def probe_cloud(
    probe_synth: Synthesized, tmp_path: Path, clock: ManualClock
) -> Iterator[tuple[LocalCloud, DeployedStack]]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl", clock=clock) as cloud:
        yield cloud, cloud.deploy(probe_synth)


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
