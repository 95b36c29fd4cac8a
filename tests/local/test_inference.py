"""The predict API in the local cloud, over real HTTP as a client would call it, through the REST front
door (`serving.front_door: rest`, the option for per-key quotas): the API key and its usage plan's
throttle, valid and invalid bodies, batches, the signature route, promotion and rollback switching the
answering version within the alias cache time, a canary's share of traffic, a shadow, and captured
traffic in S3. The default front door, the function URL, is tested in test_front_door.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.registry.models import ModelRegistry
from mlops.serving.capture import read_capture
from tests.local.conftest import send

MODEL = DATASET = "breast-cancer"
AT = "2026-11-23T12:00:00+00:00"
CACHE_SECONDS = 5  # the local synth's serving.alias_cache_seconds (localcloud.deploy.LOCAL_SYNTH_CONTEXT)


class Api:
    """The stage URL and the prediction key, as a client holds them."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url.rstrip("/"), key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "default",
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"content-type": content_type, **(headers or {})}
        if key is not None:
            sent["x-api-key"] = self.key if key == "default" else key
        return send(method, f"{self.url}{path}", data, sent, credentials=None, service="execute-api")

    def predict(self, rows: list[dict[str, Any]], **kwargs: Any) -> tuple[int, Any]:
        return self.request("POST", f"/v1/models/{MODEL}/predict", {"instances": rows}, **kwargs)


Served = tuple[LocalCloud, DeployedStack, Api, list[dict[str, Any]]]


def _train(stack: DeployedStack, name: str, candidates: list[dict[str, Any]], promotion: str, **overrides: Any) -> None:
    config = {
        "dataset": DATASET,
        "problem_type": "binary",
        "label": "target",
        "split": {"seed": 7},
        "candidates": candidates,
        "quality_gates": {"absolute": {"roc_auc": {"min": 0.9}}},
        "promotion": promotion,
        "serving": {"capture_sample_rate": 1.0},
        **overrides,
    }
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode()
    )
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"], name=name, input=json.dumps({"dataset": DATASET})
    )["executionArn"]
    deadline = time.monotonic() + 240
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


@pytest.fixture(scope="module")
def served(platform_rest_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two versions of a breast-cancer model: v1 (logistic regression) is champion, v2 (a forest) is
    registered and approved but serves nothing until promoted."""
    tmp = tmp_path_factory.mktemp("inference")
    with LocalCloud.in_process(inbox_path=tmp / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_rest_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="ml-team@example.com"
        )
        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3 = boto3.client("s3")
        contract = draft_contract(frame, dataset=DATASET, label="target")
        s3.put_object(
            Bucket=stack.outputs["ArtifactsBucketName"],
            Key=f"contracts/{DATASET}.yaml",
            Body=render_contract_yaml(contract).encode(),
        )
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=frame.to_csv(index=False)
        )
        cloud.settle()
        _train(stack, "v1", [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}], "auto")
        forest = [{"name": "forest", "estimator": "random_forest", "params": {"n_estimators": 20, "max_depth": 4}}]
        _train(stack, "v2", forest, "manual")
        table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
        ModelRegistry(table).approve(MODEL, 2, reason="reviewed", actor="test", at=AT)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id)
        apigw = boto3.client("apigateway")
        key = apigw.get_api_key(apiKey=stack.outputs["PredictionApiKeyId"], includeValue=True)["value"]
        for plan in apigw.get_usage_plans()["items"]:  # an operator raising the throttle for a load test
            apigw.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[
                    {"op": "replace", "path": "/throttle/rateLimit", "value": "100000"},
                    {"op": "replace", "path": "/throttle/burstLimit", "value": "100000"},
                ],
            )
        rows = frame.drop(columns=["target"]).head(200).to_dict(orient="records")
        yield cloud, stack, Api(gateway.url("prod"), key), rows


def _registry(stack: DeployedStack) -> ModelRegistry:
    return ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))


def _wait_for_version(api: Api, rows: list[dict[str, Any]], version: int) -> float:
    """Seconds until the API answers with `version` (it must within the alias cache time)."""
    started = time.monotonic()
    while True:
        status, body = api.predict(rows[:1])
        assert status == 200, body
        if body["version"] == version:
            return time.monotonic() - started
        assert time.monotonic() - started < CACHE_SECONDS + 3, f"still version {body['version']}"
        time.sleep(0.2)


def test_predictions_need_the_api_key_and_answer_with_probabilities(served: Served) -> None:
    _, _, api, rows = served
    assert api.predict(rows[:1], key=None)[0] == 403
    assert api.predict(rows[:1], key="not-the-key")[0] == 403
    status, body = api.predict(rows[:3])
    assert status == 200, body
    assert (body["model"], body["version"], body["variant"]) == (MODEL, 1, "champion")
    assert body["classes"] == [0, 1] and len(body["probabilities"]) == 3
    assert all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    assert body["predictions"] == [int(p[1] >= 0.5) for p in body["probabilities"]]
    assert body["request_id"]


def test_a_batch_of_1000_rows_in_the_columnar_form_answers_like_instances(served: Served) -> None:
    _, _, api, rows = served
    batch = (rows * 5)[:1000]
    columns = list(batch[0])
    columnar = {"columns": columns, "data": [[r[c] for c in columns] for r in batch]}
    status, by_columns = api.request("POST", f"/v1/models/{MODEL}/predict", columnar)
    assert status == 200 and len(by_columns["predictions"]) == 1000
    status, by_instances = api.predict(batch)
    assert by_instances["probabilities"] == by_columns["probabilities"]
    status, body = api.predict((rows * 6)[:1001])
    assert status == 413 and "limit is 1000" in body["error"]["message"]
    assert "batch/breast-cancer/" in body["error"]["message"]  # where a bigger set is scored


def test_invalid_requests_list_every_problem_by_row_and_field(served: Served) -> None:
    _, _, api, rows = served
    bad = [dict(r) for r in rows[:3]]
    bad[0]["mean_radius"] = "large"
    bad[1]["colour"] = "red"
    del bad[2]["mean_texture"]
    status, body = api.predict(bad)
    assert status == 400
    problems = {(p["row"], p["field"], p["code"]) for p in body["error"]["problems"]}
    assert problems == {
        (0, "mean_radius", "wrong_type"),
        (1, "colour", "unknown_field"),
        (2, "mean_texture", "missing_field"),
    }
    assert api.request("POST", f"/v1/models/{MODEL}/predict", raw=b"{not json")[0] == 400
    status, body = api.request("POST", f"/v1/models/{MODEL}/predict", raw=b"a,b\n1,2", content_type="text/csv")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    nan = json.dumps({"instances": [rows[0]]}).replace(str(rows[0]["mean_area"]), "NaN", 1).encode()
    status, body = api.request("POST", f"/v1/models/{MODEL}/predict", raw=nan)
    assert status == 400 and body["error"]["problems"][0]["code"] == "not_finite"
    status, body = api.request("POST", "/v1/models/no-such-model/predict", {"instances": rows[:1]})
    assert status == 404 and body["error"]["code"] == "not_found"


def test_what_the_gateway_refuses_comes_in_the_error_shape_and_hostile_bodies_are_4xx(served: Served) -> None:
    """API Gateway's own refusals use the template's gateway responses; a body nested ~5,000 deep or
    holding a 4,301-digit integer is a client's mistake: 400 (the validator, or the handler), never 5xx."""
    _, _, api, rows = served
    path = f"/v1/models/{MODEL}/predict"
    answers = {
        "no key": api.predict(rows[:1], key=None),
        "not an object": api.request("POST", path, raw=b"[1, 2]"),
        "no route": api.request("GET", "/v1/nowhere"),
        "nested": api.request("POST", path, raw=b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        "digits": api.request("POST", path, raw=b'{"instances": [{"mean_radius": ' + b"9" * 4301 + b"}]}"),
    }
    assert {why: status for why, (status, _) in answers.items()} == {
        "no key": 403,
        "not an object": 400,
        "no route": 401,  # the template's MISSING_AUTHENTICATION_TOKEN response: 401, not AWS's 403
        "nested": 400,
        "digits": 400,
    }
    for why, (_, body) in answers.items():
        assert set(body) == {"error", "request_id"} and {"code", "message"} <= set(body["error"]), why
    assert answers["no key"][1]["error"]["code"] == "invalid_api_key"
    assert answers["not an object"][1]["error"]["code"] == "invalid_body"
    assert answers["no route"][1]["error"]["code"] == "missing_authentication_token"
    assert answers["digits"][1]["error"]["code"] == "invalid_json"
    assert answers["digits"][1]["error"]["message"] == "the body holds a number with more than 4,300 digits"


def test_the_usage_plan_throttles_each_key_with_a_429_in_the_error_shape(served: Served) -> None:
    """What the REST front door gives that a function URL does not: a per-key rate. Past the plan's burst
    a key gets API Gateway's 429 (the template's THROTTLED response) and the function is not invoked."""
    _, _, api, rows = served
    apigw = boto3.client("apigateway")
    [plan] = apigw.get_usage_plans()["items"]

    def throttle(rate: str, burst: str) -> None:
        apigw.update_usage_plan(
            usagePlanId=plan["id"],
            patchOperations=[
                {"op": "replace", "path": "/throttle/rateLimit", "value": rate},
                {"op": "replace", "path": "/throttle/burstLimit", "value": burst},
            ],
        )

    throttle("1", "1")  # one request at once, one more a second
    try:
        answers = [api.predict(rows[:1]) for _ in range(3)]
    finally:
        throttle("100000", "100000")
    assert [status for status, _ in answers] == [200, 429, 429]
    assert answers[1][1]["error"]["code"] == "throttled" and answers[1][1]["request_id"]


def test_the_signature_says_what_the_champion_expects(served: Served) -> None:
    _, _, api, _ = served
    status, body = api.request("GET", f"/v1/models/{MODEL}/signature")
    assert status == 200, body
    assert body["version"] == 1 and body["classes"] == [0, 1] and body["limits"]["max_rows"] == 1000
    radius = next(i for i in body["inputs"] if i["name"] == "mean_radius")
    assert radius["type"] == "float" and radius["range"]["min"] is not None
    assert api.request("GET", f"/v1/models/{MODEL}/signature", key=None)[0] == 403


def test_promotion_and_rollback_switch_the_answering_version_within_the_cache_time(served: Served) -> None:
    _, stack, api, rows = served
    registry = _registry(stack)
    registry.set_alias(MODEL, "champion", 2, reason="forest is better", actor="test", at=AT)
    assert _wait_for_version(api, rows, 2) <= CACHE_SECONDS + 3
    registry.rollback(MODEL, reason="forest misbehaves", actor="test", at=AT)
    assert _wait_for_version(api, rows, 1) <= CACHE_SECONDS + 3


def test_a_10_percent_canary_answers_10_percent_of_10000_requests(served: Served) -> None:
    _, stack, api, rows = served
    registry = _registry(stack)
    registry.set_alias(
        MODEL, "challenger", 2, reason="canary", actor="test", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    time.sleep(CACHE_SECONDS + 0.5)

    def one(i: int) -> tuple[int, str]:
        status, body = api.predict([rows[i % len(rows)]], headers={"x-request-key": f"customer-{i}"})
        assert status == 200, body
        return body["version"], body["variant"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(10_000)))
    share = sum(v == "challenger" for _, v in answers) / len(answers)
    assert abs(share - 0.1) <= 0.02, share
    assert {version for version, v in answers if v == "challenger"} == {2}
    # Sticky: the same key lands on the same side.
    assert [one(i)[1] for i in range(50)] == [v for _, v in answers[:50]]
    registry.set_alias(MODEL, "challenger", 2, reason="end canary", actor="test", at=AT)


def test_a_shadow_is_scored_and_captured_but_the_champion_answers(served: Served) -> None:
    _, stack, api, rows = served
    registry = _registry(stack)
    registry.set_alias(MODEL, "challenger", 2, reason="shadow", actor="test", at=AT, rollout={"mode": "shadow"})
    time.sleep(CACHE_SECONDS + 0.5)
    for i in range(20):
        status, body = api.predict(rows[i : i + 2])
        assert status == 200 and body["variant"] == "champion" and body["version"] == 1
    time.sleep(5.5)  # the capture batch's age limit in the local synth
    api.predict(rows[:1])  # a request flushes batches that are due
    s3 = boto3.client("s3")
    bucket = stack.outputs["ArtifactsBucketName"]
    deadline = time.monotonic() + 10
    variants: dict[int, set[str]] = {}
    while time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{MODEL}/").get("Contents", [])]
        variants = {}
        for key in keys:
            meta, arrays = read_capture(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            variants.setdefault(meta["version"], set()).update(str(v) for v in arrays["variant"])
        if "shadow" in variants.get(2, set()):
            break
        time.sleep(0.3)
    assert "shadow" in variants.get(2, set()) and "champion" in variants.get(1, set()), variants
    key = next(k for k in keys if "/version=1/" in k)
    assert "/date=" in key and "/hour=" in key
    registry.set_alias(MODEL, "challenger", 2, reason="end shadow", actor="test", at=AT)


def test_a_corrupted_model_keeps_the_last_good_version_answering_and_raises_an_alarm(served: Served) -> None:
    cloud, stack, api, rows = served
    registry = _registry(stack)
    assert api.predict(rows[:1])[1]["version"] == 1
    bucket = stack.outputs["ArtifactsBucketName"]
    good = registry.get_version(MODEL, 2)
    assert good is not None
    s3 = boto3.client("s3")
    onnx = s3.get_object(Bucket=bucket, Key=good["artifacts"]["model.onnx"]["key"])["Body"].read()
    # Version 3: v2's record, but its model.onnx damaged in S3 after registration (same registered hash).
    damaged = f"models/{MODEL}/runs/v3/model.onnx"
    s3.put_object(Bucket=bucket, Key=damaged, Body=onnx[:-16] + b"\x00" * 16)
    registry.start_run("v3", {"dataset": DATASET, "started_at": AT})
    record = {
        k: v for k, v in good.items() if k not in ("pk", "sk", "version", "run_id", "created_at", "gsi1pk", "gsi1sk")
    }
    record["artifacts"] = {**good["artifacts"], "model.onnx": {"key": damaged, "sha256": good["onnx_sha256"]}}
    assert registry.register_version(MODEL, record, run_id="v3", at=AT) == 3
    registry.set_alias(MODEL, "champion", 3, reason="promote a damaged artifact", actor="test", at=AT)
    time.sleep(CACHE_SECONDS + 0.5)
    for _ in range(5):
        status, body = api.predict(rows[:1])
        assert status == 200 and body["version"] == 1, body
    cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))  # CloudWatch's next evaluation
    alarms = boto3.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
    assert any(a["MetricName"] == "ModelLoadFailures" for a in alarms), [a["AlarmName"] for a in alarms]
    registry.rollback(MODEL, reason="back to the good one", actor="test", at=AT)
    mail = [m for m in cloud.inbox.messages() if "ModelLoadFailures" in m.subject + m.body]
    assert mail, "the alerts topic got no notification"


FIVE_FEATURES = ["mean_radius", "mean_texture", "mean_perimeter", "mean_area", "mean_smoothness"]


def test_a_canary_between_versions_with_different_inputs_is_refused_naming_the_fields(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version trained on 5 of the 30 inputs would refuse the champion's requests as carrying unknown
    fields: as a 50 % canary it would fail half the traffic. The registry refuses it, names the
    fields, and rolls it out only when told to, recording why."""
    from mlopsctl.main import EXIT_OK, EXIT_REJECTED, main

    cloud, stack, api, rows = served
    registry = _registry(stack)
    logistic = [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}]
    _train(stack, "five-inputs", logistic, "manual", features=FIVE_FEATURES)
    versions, _ = registry.list_versions(MODEL, limit=100)
    (small,) = [int(v["version"]) for v in versions if v.get("run_id") == "five-inputs"]
    registry.approve(MODEL, small, reason="reviewed", actor="test", at=AT)
    outputs = cloud.outputs_file(tmp_path / "outputs.json", api_url=api.url + "/")
    promote = [
        *("promote", MODEL, str(small), "--canary", "0.5", "--reason", "try the small model"),
        *("--outputs", str(outputs)),
    ]
    before = registry.get_alias(MODEL, "challenger")
    assert main(promote) == EXIT_REJECTED
    refused = capsys.readouterr().err
    assert "would refuse requests the champion accepts" in refused
    assert "field 'worst_area': the champion takes it, the challenger refuses it as unknown" in refused
    assert "--allow-signature-change" in refused
    assert registry.get_alias(MODEL, "challenger") == before, "a refused promotion changes nothing"

    assert main([*promote, "--allow-signature-change"]) == EXIT_OK
    capsys.readouterr()
    (event,) = [e for e in registry.audit(MODEL, limit=5) if e.get("action") == "set_alias:challenger"][:1]
    assert "signature change allowed: field 'area_error'" in event["reason"]
    time.sleep(CACHE_SECONDS + 0.5)
    reached_versions = set()
    for key in ("customer-1", "customer-2", "customer-3", "customer-4", "customer-5", "customer-6"):
        status, described = api.request("GET", "/v1/models/" + MODEL + "/signature", headers={"x-request-key": key})
        assert status == 200
        assert [(v["version"], v["alias"], v["share"], len(v["inputs"])) for v in described["versions"]] == [
            (1, "champion", 0.5, 30),
            (small, "challenger", 0.5, 5),
        ]
        reached = described["request_key"]["answered_by"]
        reached_versions.add(reached)
        status, answer = api.predict(rows[:1], headers={"x-request-key": key})
        assert (status, answer.get("version")) == ((200, 1) if reached == 1 else (400, None)), answer
    assert reached_versions == {1, small}, "the keys reach both sides: the 400s are what the refusal prevents"
    registry.remove_alias(MODEL, "challenger", reason="end the experiment", actor="test", at=AT)
