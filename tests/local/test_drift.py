"""Drift monitoring in the local cloud, end to end as it runs in AWS: predictions captured through
the HTTP API, the drift schedule fires, a report is written, the DatasetDrift metric raises its
alarm, the alerts topic mails the team, and retraining starts once; a second shift inside the
cooldown starts nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
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
from mlopsctl.main import main
from tests.local.conftest import FrontDoor, front_door

MODEL = DATASET = "breast-cancer"
CAPTURE_AGE_SECONDS = 5  # the local synth's serving.capture_max_age_seconds


Platform = tuple[LocalCloud, DeployedStack, FrontDoor, list[dict[str, Any]]]


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    return dict(execution)


@pytest.fixture(scope="module")
def platform(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("drift")
    with LocalCloud.in_process(inbox_path=tmp / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="ml-team@example.com"
        )
        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3 = boto3.client("s3")
        artifacts = stack.outputs["ArtifactsBucketName"]
        contract = render_contract_yaml(draft_contract(frame, dataset=DATASET, label="target"))
        s3.put_object(Bucket=artifacts, Key=f"contracts/{DATASET}.yaml", Body=contract.encode())
        config = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "target",
            "split": {"seed": 7},
            "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0}}],
            "promotion": "auto",
            # Out-of-range values are answered (with warnings) so shifted traffic is served and captured.
            "serving": {"capture_sample_rate": 1.0, "out_of_range": "warn"},
            # 10 of the 30 features describe size: a shift in all of them is dataset drift here.
            "monitoring": {"every_hours": 0, "drift": {"min_rows": 200, "dataset_drift_share": 0.25}},
            "retraining": {"on_drift": True, "cooldown_hours": 24, "max_runs_per_day": 2},
        }
        s3.put_object(Bucket=artifacts, Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode())
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=frame.to_csv(index=False)
        )
        cloud.settle()
        sfn = boto3.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["TrainingStateMachineArn"],
            name="first",
            input=json.dumps({"dataset": DATASET}),
        )["executionArn"]
        assert _wait(sfn, arn)["status"] == "SUCCEEDED"
        rows = frame.drop(columns=["target"]).to_dict(orient="records")
        yield cloud, stack, front_door(cloud, stack), rows


def _send(client: FrontDoor, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 50):
        client.predict(rows[start : start + 50])
    time.sleep(CAPTURE_AGE_SECONDS + 0.5)
    client.predict(rows[:1])  # a request after the age limit hands the due batch to the writer
    time.sleep(1.0)


def _latest(stack: DeployedStack) -> dict[str, Any]:
    registry = ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))
    return registry.drift_results(MODEL, limit=1)[0]


def _shifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Larger tumours across every size feature: the kind of shift a new scanner or population brings."""
    return [
        {k: v * 1.6 if ("radius" in k or "area" in k or "perimeter" in k) else v for k, v in r.items()} for r in rows
    ]


def test_a_shift_raises_the_alarm_mails_the_team_and_retrains_once(platform: Platform) -> None:
    cloud, stack, client, rows = platform
    sfn = boto3.client("stepfunctions")
    rule = cloud.schedule_targeting("DriftChecker")

    _send(client, rows[:300])  # traffic like training's
    cloud.fire_schedule(rule)
    calm = _latest(stack)
    assert calm["status"] == "ok" and not calm["dataset_drift"] and int(calm["rows"]) >= 250, calm
    assert not calm["retraining"]["started"]

    # Newly labelled rows arrive (a new dataset version): without them a retraining would only
    # reproduce the champion from its own data, and none starts. New rows, not copies of the first
    # upload's (a copy would count once, and add nothing).
    labelled = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    newcomers = labelled.sample(n=400, random_state=11).assign(mean_texture=lambda f: f.mean_texture * 1.001)
    boto3.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"],
        Key=f"raw/{DATASET}/more-labels.csv",
        Body=newcomers.to_csv(index=False).encode(),
    )
    cloud.settle()
    _send(client, _shifted(rows[:300]))
    cloud.fire_schedule(rule)
    drift = _latest(stack)
    assert drift["status"] == "drift" and drift["dataset_drift"], {
        k: drift[k] for k in ("rows", "drift_share", "drifted_features", "window_start", "window_end")
    }
    assert {"mean_radius", "mean_area", "worst_perimeter"} <= set(drift["drifted_features"])
    s3 = boto3.client("s3")
    bucket = stack.outputs["ArtifactsBucketName"]
    report = json.loads(s3.get_object(Bucket=bucket, Key=drift["report_key"])["Body"].read())
    assert report["dataset_drift"] and len(report["features"]) == 30
    page = s3.get_object(Bucket=bucket, Key=drift["report_page"])["Body"].read().decode()
    assert "mean_radius" in page and "<svg" in page

    cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    alarms = boto3.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
    assert any(a["MetricName"] == "DatasetDrift" for a in alarms), [a["AlarmName"] for a in alarms]
    mail = cloud.inbox.messages()
    assert any("DatasetDrift" in m.subject for m in mail), [m.subject for m in mail]
    assert any(m.subject.startswith(f"Drift: {MODEL}") and "mean_radius" in m.body for m in mail)

    assert drift["retraining"]["started"] and drift["retraining"]["reason"].startswith("drift: dataset drift")
    retraining = _wait(sfn, drift["execution_arn"])
    assert retraining["status"] == "SUCCEEDED"
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    run = table.get_item(Key={"pk": f"RUN#{retraining['name']}", "sk": "META"})["Item"]
    assert str(run["reason"]).startswith("drift: dataset drift")
    # The version it registered names the champion it was compared with, and why it was trained (issue #22).
    retrained = ModelRegistry(table).model_version(MODEL, int(str(run["registered_version"])))
    assert retrained is not None and (retrained.parent_version, retrained.trigger) == (1, "drift")
    # It learnt from both accepted versions (data: all, the default), the new one newest.
    training_data: Any = run["training_data"]
    used = training_data["versions"]
    assert [(int(v["rows"]), int(v["duplicates"])) for v in used] == [(569, 0), (400, 0)]
    assert run["dataset_version"] == used[-1]["version"]

    _send(client, _shifted(rows[300:569]))  # a second shift inside the cooldown
    cloud.fire_schedule(rule)
    again = _latest(stack)
    assert again["dataset_drift"] and not again["retraining"]["started"], {
        k: again[k] for k in ("version", "rows", "status", "drift_share", "retraining", "window_start")
    }
    assert again["retraining"]["reason"].startswith("cooldown")
    executions = sfn.list_executions(stateMachineArn=stack.outputs["TrainingStateMachineArn"])["executions"]
    assert sorted(e["name"] for e in executions if e["name"].startswith("retrain-")) == [retraining["name"]]


def test_a_check_with_no_captured_traffic_reports_too_few_rows_and_alarms_nothing(platform: Platform) -> None:
    cloud, stack, _, _ = platform
    cloud.fire_schedule(cloud.schedule_targeting("DriftChecker"))
    quiet = _latest(stack)
    assert quiet["status"] == "insufficient_data" and int(quiet["rows"]) == 0
    # GET /v1/models/{name}/drift says what was seen and what is needed, not only the status
    assert int(quiet["rows_needed"]) == 200 and "0 rows captured, 200 needed" in quiet["message"]
    assert not quiet["dataset_drift"] and not quiet["retraining"]["started"]


def test_mlops_drift_lists_checks_and_runs_one_on_demand(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, _, client, _ = platform
    outputs = client.outputs_file(cloud, tmp_path / "outputs.json")
    before = len(json.loads(_cli(capsys, outputs, "drift", MODEL)[1])["checks"])
    code, text = _cli(capsys, outputs, "drift", MODEL, "--run", "--limit", "50")
    checks = json.loads(text)["checks"]
    assert code == 0 and len(checks) == before + 1  # the on-demand check found no traffic: no drift
    assert checks[0]["status"] == "insufficient_data"
    assert any(c["dataset_drift"] for c in checks)
    capsys.readouterr()
    assert main(["drift", MODEL, "--outputs", str(outputs)]) == 0
    assert "/reports/drift/breast-cancer/" in capsys.readouterr().out.split("report: s3://", 1)[1]


def _cli(capsys: pytest.CaptureFixture[str], outputs: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*args, "--outputs", str(outputs), "--json"])
    return code, capsys.readouterr().out


CONFIG_CACHE_SECONDS = 5  # the local synth's serving.config_cache_seconds


def _post(client: FrontDoor, rows: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    return client.post(f"/v1/models/{MODEL}/predict", {"instances": rows})


def _signature_policy(client: FrontDoor) -> dict[str, Any]:
    status, body = client.request("GET", f"/v1/models/{MODEL}/signature")
    assert status == 200, body
    return dict(body["policy"])


def _deploy_serving(
    capsys: pytest.CaptureFixture[str], outputs: Path, bucket: str, tmp_path: Path, **serving: Any
) -> dict[str, Any]:
    """`mlops config deploy` of the deployed config with its serving section changed, as an operator does."""
    s3 = boto3.client("s3")
    config = yaml.safe_load(s3.get_object(Bucket=bucket, Key=f"configs/{DATASET}.yaml")["Body"].read())
    config["serving"].update(serving)
    path = tmp_path / f"{DATASET}.yaml"
    path.write_text(yaml.safe_dump(config))
    capsys.readouterr()
    assert main(["config", "deploy", str(path), "--outputs", str(outputs)]) == 0
    text = capsys.readouterr().out
    assert "the live version applies it within the predict function's policy cache time" in text, text
    return dict(json.loads(_cli(capsys, outputs, "models", "audit", MODEL)[1])["events"][0])


def test_refused_rows_are_captured_and_counted_and_config_deploy_changes_the_live_policy(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #16, item 3: under `out_of_range: reject` shifted rows get a 400 naming the field, are
    captured with why, and the next drift check reports the refused share and raises its alarm;
    `mlops config deploy` switches the live version's policy within the cache time, audited."""
    cloud, stack, client, rows = platform
    outputs = client.outputs_file(cloud, tmp_path / "outputs.json")
    bucket = stack.outputs["ArtifactsBucketName"]
    audit = _deploy_serving(capsys, outputs, bucket, tmp_path, out_of_range="reject")
    # The first deploy through the registry: before it, each version answered under its own policy.
    assert audit["action"] == "deploy_serving_policy" and audit["before"]["serving"] is None
    assert audit["after"]["serving"]["out_of_range"] == "reject" and f"configs/{DATASET}.yaml" in audit["reason"]
    assert audit["actor"], "who deployed it, as the signed request says (the local gateway names the access key)"
    time.sleep(CONFIG_CACHE_SECONDS + 0.5)
    assert _signature_policy(client)["source"].endswith(f"(configs/{DATASET}.yaml)")

    shifted = _shifted(rows[:200])
    statuses = []
    for start in range(0, 200, 20):
        status, body = _post(client, shifted[start : start + 20])
        statuses.append(status)
        if status == 400:
            error = body["error"]
            assert error["code"] == "invalid_input" and "serving policy (out_of_range: reject)" in error["message"]
            assert {p["code"] for p in error["problems"]} == {"out_of_range"} and all(
                p["field"] for p in error["problems"]
            )
    assert statuses.count(400) >= 8, statuses
    _send(client, rows[200:400])  # in range: answered, and the capture batch is written
    cloud.fire_schedule(cloud.schedule_targeting("DriftChecker"))
    check = _latest(stack)
    refused = 20 * statuses.count(400)
    assert int(check["refused_rows"]) == refused and int(check["rows"]) >= refused + 200, check
    assert check["refused_share_exceeded"] and float(check["refused_share"]) >= 0.25
    assert set(check["refused_by_reason"]) == {"out_of_range"}
    s3 = boto3.client("s3")
    report = json.loads(s3.get_object(Bucket=bucket, Key=check["report_key"])["Body"].read())
    assert report["refused"]["rows"] == refused and "mean_area" in report["refused"]["by_field"], report["refused"]
    assert "mean_area" in report["drifted_features"]  # the refused shift is seen by the drift scores too
    capsys.readouterr()
    assert main(["drift", MODEL, "--limit", "1", "--outputs", str(outputs)]) == 1  # drift found: exit 1
    assert f"refused by the serving policy: {refused} rows" in capsys.readouterr().out

    cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    alarms = boto3.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
    assert any(a["MetricName"] == "RefusedShareExceeded" for a in alarms), [a["AlarmName"] for a in alarms]
    assert any("RefusedShare" in m.subject for m in cloud.inbox.messages())

    audit = _deploy_serving(capsys, outputs, bucket, tmp_path, out_of_range="warn")
    assert audit["before"]["serving"]["out_of_range"] == "reject"
    assert audit["after"]["serving"]["out_of_range"] == "warn"
    time.sleep(CONFIG_CACHE_SECONDS + 0.5)
    status, answered = _post(client, shifted[:20])
    assert status == 200 and {w["code"] for w in answered["warnings"]} == {"out_of_range"}
