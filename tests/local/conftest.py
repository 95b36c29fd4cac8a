"""Platform fixtures: the platform deployed into the local cloud with the breast-cancer set ingested,
which the training tests start from. (The emulator's own fixtures, the probe stack among them, are in
tests/localcloud/conftest.py.)"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]


# The keys the harness signs with: the local cloud's operator, an administrator (localcloud.iam).
OPERATOR = Credentials("testing", "testing")


class FrontDoor:
    """The platform's default front door as a machine client calls it: prediction routes at the predict
    function URL, SigV4-signed for service `lambda` (README, "Calling predict"); `api_url` is the REST
    API's stage (registry routes, health), for commands that need it."""

    def __init__(
        self, url: str, api_url: str, *, deployed: str = "", credentials: Credentials | None = OPERATOR
    ) -> None:
        self.url, self.api_url, self.credentials = url.rstrip("/"), api_url.rstrip("/"), credentials
        self.deployed = deployed  # the function URL CloudFormation gave, which `url` answers for

    def outputs_file(self, cloud: LocalCloud, path: Path) -> Path:
        """The stack outputs as `make up` writes them (the mlops commands read them): the REST API and
        the function URL where they answer here."""
        return cloud.outputs_file(path, api_url=self.api_url + "/", function_urls={self.deployed: self.url + "/"})

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> tuple[int, Any]:
        """Status and JSON answer (text where it is not JSON); a refusal is returned, not raised."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"content-type": content_type, **(headers or {})}
        credentials = self.credentials if signed else None
        return send(method, f"{self.url}{path}", data, sent, credentials=credentials, service="lambda")

    def health(self, *, signed: bool = True) -> tuple[int, Any]:
        """GET /v1/health on the REST API: IAM-authorized (SigV4, service execute-api) under this front door."""
        credentials = self.credentials if signed else None
        return send("GET", f"{self.api_url}/v1/health", None, {}, credentials=credentials, service="execute-api")

    def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        return self.request("POST", path, body, **kwargs)

    def predict(self, rows: list[dict[str, Any]], model: str = DATASET, **kwargs: Any) -> dict[str, Any]:
        """The answer to a prediction the client expects to succeed."""
        status, body = self.post(f"/v1/models/{model}/predict", {"instances": rows}, **kwargs)
        assert status == 200, (status, body)
        return dict(body)


def send(
    method: str,
    url: str,
    data: bytes | None,
    headers: dict[str, str],
    *,
    credentials: Credentials | None,
    service: str,
) -> tuple[int, Any]:
    """One HTTP request, SigV4-signed for `service` when credentials are given; status and JSON answer."""
    if credentials is not None:
        signing = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials, service, "us-east-1").add_auth(signing)
        headers = dict(signing.headers.items())
    prepared = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            return error.code, json.loads(payload)
        except json.JSONDecodeError:
            return error.code, payload.decode()


def front_door(cloud: LocalCloud, stack: DeployedStack) -> FrontDoor:
    """Serve the deployed stack's REST API and predict function URL; the client that calls them."""
    api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
    gateway = cloud.gateways.get(api_id) or cloud.serve_api(api_id)
    deployed = stack.outputs["PredictFunctionUrl"]
    served = cloud.function_urls.get(deployed) or cloud.serve_function_url(deployed)
    return FrontDoor(served.url, gateway.url("prod"), deployed=deployed)


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
