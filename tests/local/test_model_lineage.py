"""`mlops models lineage` and `mlops models download` against the deployed registry API (server mode),
after a first model and a retraining on newly uploaded rows: the lineage names the champion the
retraining was compared with, why it started, the code and config, back to the uploaded files; a
download writes four files that load, through presigned URLs plain HTTP fetches."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnxruntime as ort
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from localcloud.iam import role_credentials
from mlops.contracts import draft_contract, render_contract_yaml
from mlopsctl.main import EXIT_ERROR, EXIT_OK, main
from tests.local.conftest import send

MODEL = "breast-cancer"
DRIFT = "drift: dataset drift in 3 features (mean_radius, mean_area, worst_perimeter)"
CONFIG = {
    "dataset": MODEL,
    "problem_type": "binary",
    "label": "target",
    "split": {"seed": 7},
    "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}],
    "promotion": "auto",
}


@dataclass
class Deployment:
    cloud: LocalCloud
    stack: DeployedStack
    outputs: Path
    endpoint: str
    config: bytes

    def client(self, service: str) -> Any:
        factory: Any = boto3.client  # the stubs type client() per service literal
        return factory(service, endpoint_url=self.endpoint)

    def train(self, name: str, reason: str) -> None:
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.stack.outputs["TrainingStateMachineArn"],
            name=name,
            input=json.dumps({"dataset": MODEL, "reason": reason}),
        )["executionArn"]
        deadline = time.monotonic() + 240
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "training did not finish in 240 s"
            time.sleep(0.2)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def deployment(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """v1 trained by hand on the first 400 patients, then v2 by a drift retraining after 169 more arrived."""
    state = tmp_path_factory.mktemp("lineage")
    port = _free_port()
    with LocalCloud.server(port=port, inbox_path=state / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id)
        outputs = cloud.outputs_file(
            state / "outputs.json",
            api_url=gateway.url("prod") + "/",
            function_urls=cloud.serve_stack_function_urls(stack),
        )
        config = yaml.safe_dump(CONFIG).encode()
        deployed = Deployment(cloud, stack, outputs, f"http://127.0.0.1:{port}", config)
        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3 = deployed.client("s3")
        artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
        drafted = draft_contract(frame, dataset=MODEL, label="target")  # its row floor: half the sample
        assert drafted.row_count is not None
        rows = drafted.row_count.model_copy(update={"min": 100})  # so that 169 newly labelled rows pass
        contract = render_contract_yaml(drafted.model_copy(update={"row_count": rows}))
        s3.put_object(Bucket=artifacts, Key=f"contracts/{MODEL}.yaml", Body=contract.encode())
        s3.put_object(Bucket=artifacts, Key=f"configs/{MODEL}.yaml", Body=config)
        s3.put_object(Bucket=raw, Key=f"raw/{MODEL}/patients.csv", Body=frame[:400].to_csv(index=False).encode())
        cloud.settle()
        deployed.train("first", "requested from the command line")
        s3.put_object(Bucket=raw, Key=f"raw/{MODEL}/more-labels.csv", Body=frame[400:].to_csv(index=False).encode())
        cloud.settle()
        deployed.train("retrain-after-drift", DRIFT)  # what the drift function starts (TrainingRequest)
        yield deployed


def _cli(*argv: str, outputs: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--outputs", str(outputs)])
    return code, out.getvalue(), err.getvalue()


def test_the_retrainings_lineage_names_the_champion_it_was_compared_with_and_the_uploaded_files(
    deployment: Deployment, platform_synth: Synthesized
) -> None:
    code, out, _ = _cli("models", "lineage", MODEL, "2", "--json", outputs=deployment.outputs)
    assert code == EXIT_OK
    lineage = json.loads(out)["lineage"]
    assert (lineage["parent_version"], lineage["trigger"], lineage["reason"]) == (1, "drift", DRIFT)
    code_keys = {
        r["Properties"]["Code"]["S3Key"]
        for r in platform_synth.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "handlers.training.register"
    }
    assert code_keys == {f"{lineage['code_asset_hash']}.zip"}, "the hash of the code asset that trained it"
    assert lineage["config_key"] == f"configs/{MODEL}.yaml"
    assert lineage["config_sha256"] == hashlib.sha256(deployment.config).hexdigest()
    uploads = [[u["key"] for u in v["uploads"]] for v in lineage["dataset_versions"]]
    assert uploads == [[f"raw/{MODEL}/patients.csv"], [f"raw/{MODEL}/more-labels.csv"]]
    assert [(v["rows"], v["contract_version"]) for v in lineage["dataset_versions"]] == [(400, 1), (169, 1)]
    assert sum(lineage["split_rows"].values()) == 569

    code, text, _ = _cli("models", "lineage", MODEL, "2", outputs=deployment.outputs)
    raw = deployment.stack.outputs["RawBucketName"]
    assert code == EXIT_OK and f"  started by: {DRIFT}\n" in text
    assert "  compared with: v1, the champion when it was gated\n" in text
    assert f"      upload s3://{raw}/raw/{MODEL}/patients.csv (S3 version " in text
    assert text.rstrip().splitlines()[-1].startswith(f"      upload s3://{raw}/raw/{MODEL}/more-labels.csv")
    code, first, _ = _cli("models", "lineage", MODEL, "1", outputs=deployment.outputs)
    assert "  started by: manual: requested from the command line\n" in first and "compared with: no champion" in first


def test_a_download_writes_the_model_signature_profile_and_card_and_they_load(
    deployment: Deployment, tmp_path: Path
) -> None:
    out = tmp_path / "champion"
    code, text, _ = _cli("models", "download", MODEL, "--out", str(out), outputs=deployment.outputs)
    assert code == EXIT_OK and text.startswith(f"{MODEL} v2 -> {out}/"), text  # the champion by default
    assert sorted(p.name for p in out.iterdir()) == ["model-card.json", "model.onnx", "profile.json", "signature.json"]
    assert text.count("verified") == 4
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[1]
    labels = session.run(None, {session.get_inputs()[0].name: np.zeros((2, width), dtype=np.float32)})[0]
    assert len(labels) == 2
    signature = json.loads((out / "signature.json").read_text())
    assert len(signature["feature_names"]) == width == 30 and len(signature["inputs"]) == 30
    assert json.loads((out / "model-card.json").read_text())["version"] == 2
    assert json.loads((out / "profile.json").read_text())["features"]

    code, _, err = _cli("models", "download", MODEL, "--out", str(out), outputs=deployment.outputs)
    assert code == EXIT_ERROR and "already holds model.onnx" in err and "--force" in err
    assert _cli("models", "download", MODEL, "--out", str(out), "--force", outputs=deployment.outputs)[0] == EXIT_OK


def test_the_artifacts_urls_are_plain_http_gets_until_they_expire(deployment: Deployment) -> None:
    from mlopsctl.api import call
    from mlopsctl.target import find_target

    target = find_target(deployment.outputs, None, None)
    answer = call(target, "GET", f"/v1/models/{MODEL}/versions/2/artifacts")  # v1's signature is tampered with
    assert answer["expires_in"] == 300
    for link in answer["artifacts"]:  # no credentials of the caller's: the URL carries the signature
        assert link["url"].startswith(deployment.endpoint) and "X-Amz-Credential=" in link["url"]
        status, body = _get(link["url"])
        assert status == 200 and hashlib.sha256(body).hexdigest() == link["sha256"], link["name"]
    deployment.cloud.advance_clock(timedelta(seconds=301))
    status, body = _get(answer["artifacts"][0]["url"])
    assert status == 403 and b"Request has expired" in body


def test_a_file_that_does_not_match_its_digest_is_refused_and_nothing_is_written(
    deployment: Deployment, tmp_path: Path
) -> None:
    from mlopsctl.api import call
    from mlopsctl.target import find_target

    version = call(find_target(deployment.outputs, None, None), "GET", f"/v1/models/{MODEL}/versions/1")["version"]
    key = version["artifacts"]["signature.json"]["key"]
    deployment.client("s3").put_object(Bucket=deployment.stack.outputs["ArtifactsBucketName"], Key=key, Body=b"{}")
    out = tmp_path / "v1"
    code, _, err = _cli("models", "download", MODEL, "--version", "1", "--out", str(out), outputs=deployment.outputs)
    assert code == EXIT_ERROR
    assert f"signature.json: its sha256 is {hashlib.sha256(b'{}').hexdigest()}, the registry recorded " in err
    assert not out.exists(), "neither the partial file, nor the files fetched before it, nor the directory it made"


def test_a_caller_without_the_registry_api_permission_is_refused(deployment: Deployment) -> None:
    iam = deployment.client("iam")
    arn = iam.create_role(RoleName="data-scientist", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_role_policy(RoleName="data-scientist", PolicyName="reads", PolicyDocument=policy)
    credentials = role_credentials("123456789012", arn, "data-scientist")
    url = json.loads(deployment.outputs.read_text())[deployment.stack.stack_name]["ApiUrl"]
    status, body = send(
        "GET", f"{url}v1/models/{MODEL}/versions/2/artifacts", None, {}, credentials=credentials, service="execute-api"
    )
    # API Gateway's ACCESS_DENIED, in the error shape the platform gives every gateway response.
    assert status == 403 and body["error"]["code"] == "access_denied", body
    assert body["error"]["message"].startswith(
        "User: arn:aws:sts::123456789012:assumed-role/data-scientist/data-scientist is not authorized to perform: "
        "execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:"
    )


def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
