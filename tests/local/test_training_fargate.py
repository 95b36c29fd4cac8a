"""Training past Lambda in the local cloud: with the Fargate threshold forced low, one candidate is
fitted in an ECS Fargate task (`ecs:runTask.sync`, the task's bootstrap fetching the code from the
asset bucket and running the fit as a process) and the other in the fit Lambda; both are evaluated,
the best is exported and registered, and the run record says where each ran. A task that exits
non-zero fails its candidate with the task's last log lines in the run record."""

from __future__ import annotations

from typing import Any

import boto3

from tests.local.test_training import DATASET, Platform, _config, _item, _train

LOGISTIC = {"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}
FOREST = {"name": "forest", "estimator": "random_forest", "params": {"n_estimators": 30, "max_depth": 6}}
# Between the two candidates' fit-time estimates on the breast-cancer training rows (about 0.0001 and
# 0.001 minutes; tests/unit/training/test_fit_placement.py keeps them apart): the forest leaves Lambda.
SPLITTING_THRESHOLD = {"above_minutes": 5e-4, "cpu": 1024, "memory": 4096}


def _fits(stack: Any, run_id: str) -> dict[str, dict[str, Any]]:
    run = _item(stack, f"RUN#{run_id}", "META")
    assert run is not None
    return {f["name"]: f for f in run["fits"]}


def test_one_candidate_fits_on_fargate_one_in_lambda_and_the_best_is_registered(
    breast_cancer_platform: Platform,
) -> None:
    _, stack = breast_cancer_platform
    config = _config(candidates=[LOGISTIC, FOREST], fargate=SPLITTING_THRESHOLD)
    execution = _train(stack, config, "fargate-run")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    fits = _fits(stack, "fargate-run")
    assert fits["logistic"]["runs_on"] == "lambda" and fits["logistic"]["task_arn"] is None
    forest = fits["forest"]
    assert forest["runs_on"] == "fargate" and forest["status"] == "succeeded"
    assert "over fargate.above_minutes" in forest["reason"]
    assert forest["task_arn"].startswith("arn:aws:ecs:") and float(forest["seconds"]) > 0
    task = boto3.client("ecs").describe_tasks(cluster=forest["task_arn"].split("/")[1], tasks=[forest["task_arn"]])
    (described,) = task["tasks"]
    assert described["lastStatus"] == "STOPPED" and described["containers"][0]["exitCode"] == 0
    assert described["overrides"]["memory"] == "4096", "the config's task size, as RunTask's override"
    run = _item(stack, "RUN#fargate-run", "META")
    assert run is not None and run["status"] == "succeeded"
    assert {c["name"]: c["status"] for c in run["candidates"]} == {"logistic": "succeeded", "forest": "succeeded"}
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000001")
    assert version is not None and version["status"] == "registered"
    assert version["tags"]["selected_candidate"] in ("logistic", "forest")
    stored = boto3.client("s3").get_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"{run['prefix']}candidates/forest.model"
    )
    assert stored["ContentLength"] > 0, "the task stored its fitted model where evaluate reads it"


def test_a_task_that_exits_non_zero_fails_its_candidate_with_its_last_log_lines(
    breast_cancer_platform: Platform,
) -> None:
    _, stack = breast_cancer_platform
    # The task cannot fetch its code: the fit function's code asset is gone from the asset bucket (as
    # after a cleanup of the bootstrap bucket). The Lambda functions here run from source and go on.
    code_key = next(
        r["Properties"]["Code"]["S3Key"]
        for logical, r in stack.template["Resources"].items()
        if logical.startswith("TrainingFitCandidateFunction") and r["Type"] == "AWS::Lambda::Function"
    )
    s3 = boto3.client("s3")
    (assets,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("cdk-hnb659fds-assets-")]
    s3.delete_object(Bucket=assets, Key=code_key)
    config = _config(candidates=[LOGISTIC, FOREST], fargate=SPLITTING_THRESHOLD)
    execution = _train(stack, config, "broken-task")
    assert execution["status"] == "SUCCEEDED", "the other candidate goes on"
    run = _item(stack, "RUN#broken-task", "META")
    assert run is not None
    by_name = {c["name"]: c for c in run["candidates"]}
    assert by_name["logistic"]["status"] == "succeeded"
    failed = by_name["forest"]
    assert failed["status"] == "failed"
    reason = failed["error"]
    fits = _fits(stack, "broken-task")
    assert reason.startswith(
        f"the Fargate task {fits['forest']['task_arn']} stopped: Essential container in task exited"
    )
    assert "its container exited with code 1" in reason
    assert "Its last log lines:" in reason and "NoSuchKey" in reason, reason
    assert fits["forest"]["status"] == "failed"
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000001")
    assert version is not None and version["tags"]["selected_candidate"] == "logistic"


def test_a_candidate_too_big_for_its_task_fails_without_a_task_and_the_others_go_on(
    breast_cancer_platform: Platform,
) -> None:
    _, stack = breast_cancer_platform
    # 2,000 unbounded trees on the breast-cancer rows: about 580 MiB estimated, past a 512 MiB task.
    hog = {"name": "hog", "estimator": "random_forest", "params": {"n_estimators": 2000}}
    config = _config(candidates=[LOGISTIC, hog], fargate={"above_minutes": 5e-4, "cpu": 256, "memory": 512})
    execution = _train(stack, config, "too-big")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    fits = _fits(stack, "too-big")
    assert fits["hog"]["runs_on"] == "fargate" and fits["hog"]["status"] == "failed"
    assert fits["hog"]["task_arn"] is None, "no task was started"
    run = _item(stack, "RUN#too-big", "META")
    assert run is not None
    failed = {c["name"]: c for c in run["candidates"]}["hog"]
    assert failed["estimator"] == "random_forest"
    assert "is over the Fargate task's 512 MiB (fargate.memory, with cpu 256)" in failed["error"]
    assert "the smallest size that holds it: fargate: {cpu: 256, memory: 1024}" in failed["error"]
    ecs = boto3.client("ecs")
    for cluster in ecs.list_clusters()["clusterArns"]:
        for status in ("RUNNING", "STOPPED"):
            assert not ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"], "no task was started"
