"""The training pipeline in the local cloud: from an accepted dataset version to a gated, registered
ONNX model, started and watched through Step Functions as a user would."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import onnxruntime as ort
import yaml

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "dataset": DATASET,
        "problem_type": "binary",
        "label": "target",
        "split": {"seed": 7},
        "candidates": [
            {"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}},
            {"name": "forest", "estimator": "random_forest", "params": {"n_estimators": 30, "max_depth": 6}},
        ],
        "selection_metric": "roc_auc",
        "quality_gates": {"absolute": {"roc_auc": {"min": 0.9}}, "latency_budget_ms_per_row": 50},
        "promotion": "auto",
    }
    config.update(overrides)
    return config


def _train(stack: DeployedStack, config: dict[str, Any], name: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode()
    )
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"],
        name=name,
        input=json.dumps({"dataset": DATASET, "reason": "test"}),
    )["executionArn"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        time.sleep(0.2)
    raise AssertionError("the training execution did not finish in 240 s")


def _item(stack: DeployedStack, pk: str, sk: str) -> dict[str, Any] | None:
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    item = table.get_item(Key={"pk": pk, "sk": sk}).get("Item")
    return dict(item) if item else None


def test_a_run_registers_a_gated_onnx_model_and_promotes_it(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    execution = _train(stack, _config(), "first-run")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000001")
    assert version is not None and version["status"] == "registered"
    assert float(version["metrics"]["roc_auc"]) > 0.9
    assert version["dataset_version"] and version["run_id"] == "first-run"
    champion = _item(stack, f"MODEL#{DATASET}", "ALIAS#champion")
    assert champion is not None and champion["version"] == 1
    run = _item(stack, "RUN#first-run", "META")
    assert run is not None and run["status"] == "succeeded"
    assert {c["name"] for c in run["candidates"]} == {"logistic", "forest"}
    artifacts = stack.outputs["ArtifactsBucketName"]
    s3 = boto3.client("s3")
    onnx_key = version["artifacts"]["model.onnx"]["key"]
    model = s3.get_object(Bucket=artifacts, Key=onnx_key)["Body"].read()
    import hashlib

    assert hashlib.sha256(model).hexdigest() == version["onnx_sha256"]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    report = s3.get_object(Bucket=artifacts, Key=version["artifacts"]["report.html"]["key"])["Body"].read()
    assert b"roc_auc" in report and b"<html" in report.lower()
    assert any("registered and promoted" in m.body for m in cloud.inbox.messages())


def test_a_failing_gate_records_a_rejection_and_leaves_the_champion(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    assert _train(stack, _config(), "champion-run")["status"] == "SUCCEEDED"
    strict = _config(quality_gates={"absolute": {"roc_auc": {"min": 0.99999}}})
    execution = _train(stack, strict, "strict-run")
    assert execution["status"] == "SUCCEEDED"  # the pipeline worked; the model did not pass
    rejected = _item(stack, f"MODEL#{DATASET}", "VERSION#000000002")
    assert rejected is not None and rejected["status"] == "rejected"
    assert not rejected["gates"]["passed"]
    champion = _item(stack, f"MODEL#{DATASET}", "ALIAS#champion")
    assert champion is not None and champion["version"] == 1
    assert any("REJECTED" in m.body for m in cloud.inbox.messages())


def test_a_parity_failure_on_every_candidate_fails_the_run_naming_each(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    config = _config(parity={"max_abs_probability_diff": 0.0, "min_label_agreement": 1.0})
    execution = _train(stack, config, "parity-run")
    assert execution["status"] == "FAILED"
    run = _item(stack, "RUN#parity-run", "META")
    assert run is not None and run["status"] == "failed"
    reason = run["failure_reason"]
    assert "2 tried" in reason and "logistic (logistic_regression)" in reason and "forest (random_forest)" in reason
    assert "parity.max_abs_probability_diff" in reason, "the failure names the config field that relaxes it"
    assert _item(stack, f"MODEL#{DATASET}", "VERSION#000000001") is None, "nothing registered"
    assert any("parity-run" in m.body for m in cloud.inbox.messages())


def test_a_parity_failure_falls_back_to_the_next_ranked_candidate(breast_cancer_platform: Platform) -> None:
    """The logistic regression ranks first but its float32 ONNX graph differs from scikit-learn by
    ~1e-7; a single fully grown tree (leaf probabilities 0 or 1) matches exactly. With a zero
    tolerance the run must register the tree, not fail."""
    cloud, stack = breast_cancer_platform
    one_tree = {"n_estimators": 1, "bootstrap": False, "max_features": None}
    config = _config(
        parity={"max_abs_probability_diff": 0.0, "min_label_agreement": 1.0},
        candidates=[
            {"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 500}},
            {"name": "one-tree", "estimator": "random_forest", "params": one_tree},
        ],
        quality_gates={"absolute": {"roc_auc": {"min": 0.8}}},
    )
    execution = _train(stack, config, "fallback-run")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000001")
    assert version is not None and version["status"] == "registered"
    assert version["tags"]["selected_candidate"] == "one-tree"
    tried = [(int(a["rank"]), a["candidate"], a["passed"]) for a in version["parity"]["candidates_tried"]]
    assert tried == [(1, "logistic", False), (2, "one-tree", True)]
    s3 = boto3.client("s3")
    report = s3.get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=version["artifacts"]["report.html"]["key"])
    assert b"Candidates tried, best first" in report["Body"].read()
    assert any("Passed over: logistic" in m.body for m in cloud.inbox.messages())


def test_a_failing_candidate_does_not_sink_the_run(breast_cancer_platform: Platform) -> None:
    _, stack = breast_cancer_platform
    config = _config(
        candidates=[
            {"name": "broken", "estimator": "random_forest", "params": {"n_estimators": -3}},
            {"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 500}},
        ]
    )
    execution = _train(stack, config, "one-broken")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    run = _item(stack, "RUN#one-broken", "META")
    assert run is not None
    by_name = {c["name"]: c for c in run["candidates"]}
    assert by_name["broken"]["status"] == "failed" and "n_estimators" in by_name["broken"]["error"]
    assert by_name["logistic"]["status"] == "succeeded"


def test_a_regressed_model_is_measured_against_the_champion_on_its_own_test_rows(
    breast_cancer_platform: Platform,
) -> None:
    """max_regression compares the challenger with the serving champion's ONNX model scored on the
    challenger's test rows (the score-champion step), not with a figure from another split. Same
    data and seed: the same split, so no test row is one the champion was fitted on."""
    _, stack = breast_cancer_platform
    assert _train(stack, _config(), "strong-run")["status"] == "SUCCEEDED"
    stump = {"name": "stump", "estimator": "random_forest", "params": {"n_estimators": 1, "max_depth": 1}}
    weaker = _config(
        candidates=[stump],
        quality_gates={"max_regression": {"roc_auc": 0.01}, "absolute": {"roc_auc": {"min": 0.5}}},
    )
    assert _train(stack, weaker, "weaker-run")["status"] == "SUCCEEDED"
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000002")
    assert version is not None and version["status"] == "rejected"
    (gate,) = [r for r in version["gates"]["results"] if r["name"] == "max_regression.roc_auc"]
    assert not gate["passed"]
    run = _item(stack, "RUN#weaker-run", "META")
    assert run is not None
    test_rows = int(run["rows"]["test"])
    assert f"champion v1 on {test_rows:,} of this run's {test_rows:,} test rows" in gate["message"]
    # The champion's fingerprints were registered and read (under the step's own IAM role).
    assert "cannot be told apart" not in gate["message"] and "own test split" not in gate["message"]
    s3 = boto3.client("s3")
    evaluation = json.loads(
        s3.get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=version["artifacts"]["evaluation.json"]["key"])[
            "Body"
        ].read()
    )
    champion = evaluation["champion"]
    assert champion["version"] == 1 and champion["rows"] == test_rows
    assert float(gate["threshold"]) == champion["champion_metrics"]["roc_auc"] - 0.01
    assert champion["champion_metrics"]["roc_auc"] > champion["metrics"]["roc_auc"]
    assert _item(stack, f"MODEL#{DATASET}", "ALIAS#champion")["version"] == 1  # type: ignore[index]
