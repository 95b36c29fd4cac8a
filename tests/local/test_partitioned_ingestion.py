"""A multi-file upload as a data team makes one: its files under raw/<dataset>/<upload>/, then the
commit marker. The validation state machine (two Distributed Maps) turns it into a partitioned
dataset version whose report is the single-file report of the same rows, training reads it; a bad
file quarantines the whole upload, naming the file and line."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, load_contract, render_contract_yaml, validate
from mlops.contracts.reading import read_table
from tests.local.test_access_control import _revoke, _role_of

DATASET = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]
# Small parts and slices, so 569 rows make several of each (the deployed defaults are 128 MB).
PART_BYTES = 20_000
SLICE_BYTES = 30_000


def _frame() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))


@pytest.fixture
def platform(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Platform]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        boto3.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="data-team@example.com"
        )
        contract = render_contract_yaml(draft_contract(_frame(), dataset=DATASET, label="target"))
        boto3.client("s3").put_object(
            Bucket=stack.outputs["ArtifactsBucketName"], Key=f"contracts/{DATASET}.yaml", Body=contract.encode()
        )
        lambda_client = boto3.client("lambda")
        for listed in lambda_client.list_functions()["Functions"]:
            if "Validation" in listed["FunctionName"]:
                function = lambda_client.get_function_configuration(FunctionName=listed["FunctionName"])
                variables = dict(function["Environment"]["Variables"])
                variables |= {"PART_BYTES": str(PART_BYTES), "SLICE_BYTES": str(SLICE_BYTES)}
                lambda_client.update_function_configuration(
                    FunctionName=listed["FunctionName"], Environment={"Variables": variables}
                )
        yield cloud, stack


def _upload_folder(cloud: LocalCloud, stack: DeployedStack, name: str, files: dict[str, bytes]) -> dict[str, Any]:
    """The files, then the marker, as `mlops upload` of a folder writes them; the validation's end."""
    s3, bucket = boto3.client("s3"), stack.outputs["RawBucketName"]
    for file, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"raw/{DATASET}/{name}/{file}", Body=body)
    cloud.settle()
    sfn = boto3.client("stepfunctions")
    assert not sfn.list_executions(stateMachineArn=stack.outputs["ValidationStateMachineArn"])["executions"]
    marker = s3.put_object(Bucket=bucket, Key=f"raw/{DATASET}/{name}/_COMMIT", Body=b"")
    cloud.settle()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        [execution] = sfn.list_executions(stateMachineArn=stack.outputs["ValidationStateMachineArn"])["executions"]
        if execution["status"] != "RUNNING":
            return {**sfn.describe_execution(executionArn=execution["executionArn"]), "marker": marker["VersionId"]}
        time.sleep(0.2)
    raise AssertionError("the validation did not finish in 300 s")


def _csv(frame: pd.DataFrame) -> bytes:
    return str(frame.to_csv(index=False)).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, row_group_size=100)
    return buffer.getvalue()


def _read(bucket: str, key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _without_source(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("source", "file_name", "created_at", "validated_at")}


def test_a_multi_file_upload_becomes_a_partitioned_version_that_trains(platform: Platform) -> None:
    cloud, stack = platform
    frame = _frame()
    files = {  # a CSV past the slice size (cut in byte ranges), a Parquet file in row groups, a small CSV
        "a.csv": _csv(frame.iloc[:300]),
        "b.parquet": _parquet(frame.iloc[300:500]),
        "c.csv": _csv(frame.iloc[500:]),
    }
    execution = _upload_folder(cloud, stack, "2026-12", files)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")

    artifacts, curated = stack.outputs["ArtifactsBucketName"], stack.outputs["CuratedBucketName"]
    report = _read(artifacts, f"reports/validation/{DATASET}/2026-12/{execution['marker']}.json")
    assert report["accepted"] is True and report["rows"] == len(frame)
    contract_text = boto3.client("s3").get_object(Bucket=artifacts, Key=f"contracts/{DATASET}.yaml")["Body"].read()
    contract = load_contract(contract_text, source="contract.yaml")
    single = json.loads(validate(read_table(_csv(frame), filename="all.csv", contract=contract), contract).to_json())
    assert _without_source(report) == _without_source(single)

    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    [version] = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": f"DATASET#{DATASET}", ":v": "VERSION#"},
    )["Items"]
    manifest = _read(curated, str(version["manifest_key"]))
    assert manifest["layout"] == "parquet-parts/1" and manifest["rows"] == len(frame)
    assert len(manifest["parts"]) > 3 and sum(p["rows"] for p in manifest["parts"]) == len(frame)
    assert [p["row_offset"] for p in manifest["parts"]] == [
        sum(p["rows"] for p in manifest["parts"][:i]) for i in range(len(manifest["parts"]))
    ]
    assert [s["key"].rsplit("/", 1)[-1] for s in manifest["sources"]] == ["a.csv", "b.parquet", "c.csv"]
    # The report page, drawn from the merged report and the parts' column profiles.
    page_key = f"reports/validation/{DATASET}/2026-12/{execution['marker']}.html"
    stored = boto3.client("s3").get_object(Bucket=artifacts, Key=page_key)
    assert stored["ContentType"] == "text/html; charset=utf-8"
    page = stored["Body"].read().decode()
    assert "<span class='badge accepted'>accepted</span>" in page and f"<code>{version['version']!s}</code>" in page
    worst = page[page.index("<h3>worst_area</h3>") :]
    assert f"<dt>min</dt><dd>{frame['worst_area'].min():.6g}</dd>" in worst[: worst.index("</section>")]

    config = {
        "dataset": DATASET,
        "problem_type": "binary",
        "label": "target",
        "split": {"seed": 7},
        "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 500}}],
        "selection_metric": "roc_auc",
        "quality_gates": {"absolute": {"roc_auc": {"min": 0.9}}},
        "promotion": "auto",
    }
    boto3.client("s3").put_object(Bucket=artifacts, Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode())
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"],
        name="on-parts",
        input=json.dumps({"dataset": DATASET, "reason": "partitioned version"}),
    )["executionArn"]
    deadline = time.monotonic() + 240
    while (run := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    meta: dict[str, Any] = dict(table.get_item(Key={"pk": "RUN#on-parts", "sk": "META"})["Item"])
    assert meta["dataset_version"] == version["version"]
    assert int(meta["training_data"]["rows"]) == len(frame)


def test_one_bad_file_quarantines_the_whole_upload_naming_it(platform: Platform, tmp_path: Path) -> None:
    cloud, stack = platform
    frame = _frame()
    bad = _csv(frame.iloc[200:400]).splitlines(keepends=True)
    bad[57] = b"1.0,2.0,3.0\n"  # line 58 of b.csv: 3 fields where the header has 31
    execution = _upload_folder(
        cloud,
        stack,
        "2026-12-bad",
        {"a.csv": _csv(frame.iloc[:200]), "b.csv": b"".join(bad), "c.csv": _csv(frame.iloc[400:])},
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")  # the run worked; the upload is rejected
    report = _read(
        stack.outputs["ArtifactsBucketName"], f"reports/validation/{DATASET}/2026-12-bad/{execution['marker']}.json"
    )
    assert report["accepted"] is False
    problem = report["file_problem"]
    assert problem["code"] == "ragged_rows" and problem["line"] == 58
    assert "b.csv" in problem["message"] and "line 58" in problem["message"]
    quarantine = boto3.client("s3").list_objects_v2(
        Bucket=stack.outputs["QuarantineBucketName"], Prefix=f"{DATASET}/{execution['marker']}/"
    )
    names = sorted(o["Key"].rsplit("/", 1)[-1] for o in quarantine.get("Contents", []))
    assert names == ["a.csv", "b.csv", "c.csv", "report.json", "summary.txt"]
    mails = [json.loads(line) for line in (tmp_path / "inbox.jsonl").read_text().splitlines()]
    assert any("b.csv" in m.get("message", m.get("body", "")) for m in mails)
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    versions = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": f"DATASET#{DATASET}", ":v": "VERSION#"},
    )["Items"]
    assert versions == []


def _function(part: str) -> str:
    """The deployed name of the validation function whose logical id holds `part`."""
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    [name] = [n for n in names if f"Validation{part}Function" in n]
    return str(name)


def test_a_part_whose_check_crashes_is_named_in_the_report_with_its_error(platform: Platform, tmp_path: Path) -> None:
    cloud, stack = platform
    frame = _frame()
    # The part step may no longer write to the work folder: every child fails with AccessDenied.
    assert _revoke(_role_of(_function("CheckPart")), "s3:PutObject") > 0
    execution = _upload_folder(
        cloud, stack, "2026-12-crash", {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(frame.iloc[300:])}
    )
    assert execution["status"] == "FAILED"  # a crash fails the execution (alarmed), after the report
    report = _read(
        stack.outputs["ArtifactsBucketName"], f"reports/validation/{DATASET}/2026-12-crash/{execution['marker']}.json"
    )
    problem = report["file_problem"]
    assert report["accepted"] is False and problem["code"] == "validation_failed"
    # Named by the part, its rows and the files they come from, with the child's own error.
    assert re.match(r"part \d+ of \d+ \(rows \d+-\d+, from file [ab]\.csv", problem["message"]), problem["message"]
    assert (
        "failed: AccessDenied: An error occurred (AccessDenied) when calling the PutObject operation"
        in (problem["message"])
    )
    assert problem["message"].endswith("(the run stopped: States.ExceedToleratedFailureThreshold)")
    mails = [json.loads(line) for line in (tmp_path / "inbox.jsonl").read_text().splitlines()]
    assert any("AccessDenied" in m.get("message", m.get("body", "")) for m in mails)


def test_a_crash_of_the_reduce_is_reported_mailed_and_recorded_and_every_file_stays(
    platform: Platform, tmp_path: Path
) -> None:
    cloud, stack = platform
    frame = _frame()
    # The reduce may no longer write a report, a part or a quarantine copy: it fails at its first write.
    assert _revoke(_role_of(_function("Reduce")), "s3:PutObject") > 0
    files = {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(frame.iloc[300:])}
    execution = _upload_folder(cloud, stack, "2026-12-late", files)
    assert execution["status"] == "FAILED"  # alarmed, as any step's crash

    artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
    report = _read(artifacts, f"reports/validation/{DATASET}/2026-12-late/{execution['marker']}.json")
    problem = report["file_problem"]
    assert report["accepted"] is False and problem["code"] == "validation_incomplete"
    assert "could not be completed" in problem["message"] and "AccessDenied" in problem["message"]
    mails = [json.loads(line) for line in (tmp_path / "inbox.jsonl").read_text().splitlines()]
    assert any("could not be completed" in m.get("message", m.get("body", "")) for m in mails)
    table = boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"])
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"DATASET#{DATASET}"})[
        "Items"
    ]
    assert [i["sk"] for i in items if str(i["sk"]).startswith("VERSION#")] == [], "nothing accepted"
    uploads = [i for i in items if str(i["sk"]).startswith("UPLOAD#") and "2026-12-late" in str(i["sk"])]
    assert [i.get("status") for i in uploads] == ["failed"]
    # Nothing lost: the files stay in the raw bucket, and nothing of them reached the curated bucket.
    kept = boto3.client("s3").list_objects_v2(Bucket=raw, Prefix=f"raw/{DATASET}/2026-12-late/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in kept) == ["_COMMIT", "a.csv", "b.csv"]
    curated = boto3.client("s3").list_objects_v2(Bucket=stack.outputs["CuratedBucketName"])
    assert curated.get("Contents", []) == []
