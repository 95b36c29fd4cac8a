"""The default front door as a machine client meets it: predictions at the predict function URL, signed
with SigV4 for service `lambda` by an IAM principal allowed to call it, and what the URL refuses.

AWS's answers emulated (tests/localcloud/test_function_urls.py cites where each is documented): an
unsigned request, or a caller whose policies lack lambda:InvokeFunctionUrl and lambda:InvokeFunction,
gets 403 `{"Message":"Forbidden. ..."}`; an event over Lambda's 6 MB synchronous payload gets 413
before the function runs. The function's own refusals (400, 404, 415) come in the platform's error
shape, as through the REST API; an unknown path is the function's 404 (the REST API answers 401).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack
from localcloud.iam import OPERATOR_USER, role_credentials
from mlops.monitoring.label_store import read_labels
from tests.local.conftest import DATASET, FrontDoor, Platform, front_door, send
from tests.local.test_feedback import _train_monitored

MODEL = DATASET
ACCOUNT = "123456789012"
FORBIDDEN = {
    "Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
}
Served = tuple[LocalCloud, DeployedStack, FrontDoor, list[dict[str, Any]]]


@pytest.fixture
def served(breast_cancer_platform: Platform) -> Iterator[Served]:
    cloud, stack = breast_cancer_platform
    _train_monitored(breast_cancer_platform)
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    yield cloud, stack, front_door(cloud, stack), frame.drop(columns=["target"]).head(5).to_dict(orient="records")


def _role(
    name: str, managed_policy_arn: str | None = None, statements: list[dict[str, Any]] | None = None
) -> Credentials:
    """A client role as a team would make one: the stack's client policy attached, or its own statements."""
    iam = boto3.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    if managed_policy_arn:
        iam.attach_role_policy(RoleName=name, PolicyArn=managed_policy_arn)
    if statements:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=json.dumps(document))
    return role_credentials(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/{name}", name)


def test_a_signed_client_predicts_and_its_labels_name_it_as_their_source(served: Served) -> None:
    _, stack, door, rows = served
    status, answer = door.post(f"/v1/models/{MODEL}/predict", {"instances": rows[:3]})
    assert status == 200, answer
    assert answer["model"] == MODEL and len(answer["predictions"]) == 3 and answer["request_id"]
    status, signature = door.request("GET", f"/v1/models/{MODEL}/signature")
    assert status == 200 and {f["name"] for f in signature["inputs"]} == set(rows[0])
    labels = [{"request_id": answer["request_id"], "row": r, "label": "1"} for r in range(3)]
    status, accepted = door.post(f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200 and accepted["accepted"] == 3, accepted
    [key] = accepted["stored"]
    body = boto3.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=key)["Body"].read()
    assert read_labels(body).source == f"iam arn:aws:iam::{ACCOUNT}:user/{OPERATOR_USER}"


def test_only_principals_allowed_to_invoke_the_url_get_an_answer(served: Served) -> None:
    """Unsigned, or signed by a role without both invoke actions: 403 Forbidden. A role holding the
    stack's PredictionClientPolicy (what a team attaches to its client's role) is answered."""
    _, stack, door, rows = served
    predict = stack.outputs["PredictFunctionUrl"]
    body = {"instances": rows[:1]}
    url_only = [{"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": "*"}]
    callers = {
        "unsigned": None,
        "no grant": _role("analyst", statements=[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
        "url action only": _role("half-granted", statements=url_only),
        "client policy": _role("clinic-client", managed_policy_arn=stack.outputs["PredictionClientPolicyArn"]),
    }
    answers = {
        who: FrontDoor(door.url, door.api_url, deployed=predict, credentials=credentials).post(
            f"/v1/models/{MODEL}/predict", body, signed=credentials is not None
        )
        for who, credentials in callers.items()
    }
    assert {who: status for who, (status, _) in answers.items()} == {
        "unsigned": 403,
        "no grant": 403,
        "url action only": 403,
        "client policy": 200,
    }
    assert answers["unsigned"][1] == FORBIDDEN and answers["no grant"][1] == FORBIDDEN


def test_what_the_url_and_the_function_refuse_comes_as_documented(served: Served) -> None:
    _, _, door, rows = served
    path = f"/v1/models/{MODEL}/predict"
    answers = {
        "over 6 MB": door.request("POST", path, raw=b'{"instances": [' + b" " * (6 * 1024 * 1024) + b"]}"),
        "csv": door.request("POST", path, raw=b"a,b\n1,2", content_type="text/csv"),
        "not an object": door.request("POST", path, raw=b"[1, 2]"),
        "broken json": door.request("POST", path, raw=b'{"instances": ['),
        "too many rows": door.post(path, {"instances": (rows * 201)[:1001]}),
        "unknown model": door.post("/v1/models/no-such-model/predict", {"instances": rows[:1]}),
        "no route": door.request("GET", "/v1/nowhere"),
    }
    assert {why: status for why, (status, _) in answers.items()} == {
        "over 6 MB": 413,
        "csv": 415,
        "not an object": 400,
        "broken json": 400,
        "too many rows": 413,
        "unknown model": 404,
        "no route": 404,
    }
    assert set(answers["over 6 MB"][1]) == {"Message"}  # Lambda's own refusal, before the function
    for why, (_, body) in answers.items():
        if why != "over 6 MB":
            assert {"code", "message"} <= set(body["error"]), why
    assert answers["csv"][1]["error"]["code"] == "unsupported_media_type"
    assert answers["broken json"][1]["error"]["code"] == "invalid_json"
    assert answers["no route"][1]["error"]["code"] == "not_found"


def test_a_deployed_model_explains_its_answer_when_asked(served: Served) -> None:
    """`"explain": true` through the front door: the predict function reads the version's
    explanation.npz (granted to it beside model.onnx, checked against the sha256 registered) and
    answers each field's contribution to the log-odds behind the probability it serves; the model
    card lists the fields' permutation importance."""
    _, _, door, rows = served
    status, answer = door.post(f"/v1/models/{MODEL}/predict", {"instances": rows[:3], "explain": True})
    assert status == 200, answer
    explanation = answer["explanation"]
    assert (explanation["method"], explanation["score"]) == ("linear", "log_odds")
    for row, probabilities in zip(explanation["rows"], answer["probabilities"], strict=True):
        assert set(row["contributions"]) == set(rows[0])
        assert abs(row["base"] + sum(row["contributions"].values()) - row["score"]) < 1e-6 * max(1, abs(row["score"]))
        # The log-odds explained is the one the served probability comes from (float32, 7 places).
        score = row["score"]
        positive = 1 / (1 + math.exp(-score)) if score >= 0 else math.exp(score) / (1 + math.exp(score))
        assert abs(positive - probabilities[1]) < 1e-5
    status, refused = door.post(f"/v1/models/{MODEL}/predict", {"instances": rows[:1] * 101, "explain": True})
    assert status == 400 and refused["error"]["problems"][0]["field"] == "explain"
    status, version = send(
        "GET",
        f"{door.api_url}/v1/models/{MODEL}/versions/{answer['version']}",
        None,
        {},
        credentials=door.credentials,
        service="execute-api",
    )
    assert status == 200, version
    assert version["version"]["artifacts"]["explanation.npz"]["sha256"]
    importance = version["model_card"]["feature_importance"]
    assert {f["feature"] for f in importance["top"]} <= set(rows[0]) and importance["fields"] == len(rows[0])
