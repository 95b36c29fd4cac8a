"""A date through the whole platform: a churn-like CSV (an id, an ISO signup date-time, plans, gaps)
ingested under its drafted contract, trained by the Step Functions pipeline, and served over HTTP to
a client that sends the raw date text."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import yaml

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from tests.local.conftest import front_door
from tests.unit.training.support import churn_table

DATASET = "churn"


def test_a_model_trained_on_a_date_column_answers_a_client_sending_iso_text(
    platform_synth: Synthesized, tmp_path: Path
) -> None:
    frame = churn_table()
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        s3 = boto3.client("s3")
        artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
        contract = render_contract_yaml(draft_contract(frame, dataset=DATASET, label="churned"))
        assert "name: signup_at\n  type: datetime" in contract
        s3.put_object(Bucket=artifacts, Key=f"contracts/{DATASET}.yaml", Body=contract.encode())
        config = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "churned",
            "split": {"seed": 7},
            "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 500}}],
            "promotion": "auto",
        }
        s3.put_object(Bucket=artifacts, Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode())
        s3.put_object(Bucket=raw, Key=f"raw/{DATASET}/customers.csv", Body=frame.to_csv(index=False).encode())
        cloud.settle()
        sfn = boto3.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["TrainingStateMachineArn"],
            name="dates",
            input=json.dumps({"dataset": DATASET}),
        )["executionArn"]
        deadline = time.monotonic() + 240
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() < deadline, "training did not finish in 240 s"
            time.sleep(0.2)
        assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"

        api = front_door(cloud, stack)
        status, described = api.request("GET", f"/v1/models/{DATASET}/signature")
        assert status == 200, described
        fields = {f["name"]: f for f in described["inputs"]}
        assert "customer_id" not in fields  # an identifier: not a feature
        signup = fields["signup_at"]
        assert signup["type"] == "datetime" and "ISO 8601" in signup["format"]
        assert signup["model_inputs"] == [
            f"signup_at__{p}" for p in ("year", "month", "day_of_week", "hour", "days_since")
        ]

        row = {"signup_at": "2024-12-20T09:30:00", "plan": "basic", "monthly_charges": 42.5, "support_calls": 2}
        status, body = api.request("POST", f"/v1/models/{DATASET}/predict", {"instances": [row]})
        assert status == 200, body
        same_instant = {**row, "signup_at": "2024-12-20T11:30:00+02:00"}
        missing = {**row, "signup_at": None}
        status, both = api.request("POST", f"/v1/models/{DATASET}/predict", {"instances": [same_instant, missing]})
        assert status == 200, both
        assert both["probabilities"][0] == body["probabilities"][0]
        status, refused = api.request(
            "POST", f"/v1/models/{DATASET}/predict", {"instances": [{**row, "signup_at": "20/12/2024"}]}
        )
        assert status == 400
        (problem,) = refused["error"]["problems"]
        assert (problem["field"], problem["code"]) == ("signup_at", "wrong_format") and "ISO 8601" in problem["message"]
