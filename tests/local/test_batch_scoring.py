"""Batch scoring as a user sees it: drop a file under batch/<model>/ in the raw bucket, then read the
predictions beside it. The model is trained and promoted by the real pipeline first. The thresholds
for scoring in parts are forced low (and parts and slices small), so a bigger file goes through the
batch scoring state machine's Distributed Maps, and its outputs are compared byte for byte with what
one invocation writes for the same file."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, Synthesized
from mlops.contracts import draft_contract, render_contract_yaml
from mlops.registry.models import ModelRegistry
from mlops.serving.batch import score_upload
from mlops.serving.inputs import encode_request
from mlops.serving.models import ServedVersion, load_version
from tests.unit.serving.parts_support import MemoryBucket, resolver

MODEL = "breast-cancer"
Platform = tuple[LocalCloud, DeployedStack]
# Forced low (deployed: 1,024 and 256 MB, 64 MB slices, 10,000-row parts): the other tests' files
# (under 30 KB, 120 rows) keep the one-invocation path, a 250 KB file is scored in parts.
CHUNK_ROWS = 200
PARTS_ABOVE_BYTES = 60_000
GZIP_PARTS_ABOVE_BYTES = 20_000
SLICE_BYTES = 30_000


def _frame() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))


def _wait_for_training(stack: DeployedStack) -> None:
    s3 = boto3.client("s3")
    config = {
        "dataset": MODEL,
        "problem_type": "binary",
        "label": "target",
        "split": {"seed": 7},
        "candidates": [{"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 500}}],
        "selection_metric": "roc_auc",
        "quality_gates": {"absolute": {"roc_auc": {"min": 0.9}}, "latency_budget_ms_per_row": 50},
        "promotion": "auto",
    }
    s3.put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=f"configs/{MODEL}.yaml", Body=yaml.safe_dump(config).encode()
    )
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"],
        name="batch-scoring-model",
        input=json.dumps({"dataset": MODEL, "reason": "test"}),
    )["executionArn"]
    deadline = time.monotonic() + 240
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 240 s"
        time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")


@pytest.fixture(scope="module")
def platform(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One deployed platform with a promoted champion, shared by this module's tests (training is slow)."""
    inbox = Path(tmp_path_factory.mktemp("batch")) / "inbox.jsonl"
    with LocalCloud.in_process(inbox_path=inbox) as cloud:
        stack = cloud.deploy(platform_synth)
        _force_parts_low()
        s3 = boto3.client("s3")
        frame = _frame()
        contract = render_contract_yaml(draft_contract(frame, dataset=MODEL, label="target"))
        s3.put_object(
            Bucket=stack.outputs["ArtifactsBucketName"], Key=f"contracts/{MODEL}.yaml", Body=contract.encode()
        )
        s3.put_object(
            Bucket=stack.outputs["RawBucketName"],
            Key=f"raw/{MODEL}/patients.csv",
            Body=frame.to_csv(index=False).encode(),
        )
        cloud.settle()
        _wait_for_training(stack)
        yield cloud, stack


def _force_parts_low() -> None:
    """Before any batch function starts, so each reads these on its first invocation."""
    lambda_client = boto3.client("lambda")
    for listed in lambda_client.list_functions()["Functions"]:
        handler = listed["Handler"]
        if handler == "handlers.batch_scoring.handler":
            forced = {
                "PARTS_ABOVE_BYTES": PARTS_ABOVE_BYTES,
                "GZIP_PARTS_ABOVE_BYTES": GZIP_PARTS_ABOVE_BYTES,
                "SCORING_CHUNK_ROWS": CHUNK_ROWS,
            }
        elif handler.startswith("handlers.batch_parts."):
            forced = {"SLICE_BYTES": SLICE_BYTES}
        else:
            continue
        function = lambda_client.get_function_configuration(FunctionName=listed["FunctionName"])
        variables = dict(function["Environment"]["Variables"]) | {k: str(v) for k, v in forced.items()}
        lambda_client.update_function_configuration(
            FunctionName=listed["FunctionName"], Environment={"Variables": variables}
        )


def _read(stack: DeployedStack, key: str) -> bytes:
    return bytes(boto3.client("s3").get_object(Bucket=stack.outputs["RawBucketName"], Key=key)["Body"].read())


def _keys(stack: DeployedStack, prefix: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=stack.outputs["RawBucketName"], Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _upload(cloud: LocalCloud, stack: DeployedStack, key: str, body: bytes) -> str:
    version = boto3.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=key, Body=body)["VersionId"]
    cloud.settle()
    return str(version)


def _champion(stack: DeployedStack) -> ServedVersion:
    """The champion loaded as the functions load it, to check the batch answers against."""
    registry = ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))
    record = registry.model_version(MODEL, int(registry.aliases(MODEL)["champion"]["version"]))
    assert record is not None
    s3 = boto3.client("s3")
    bucket = stack.outputs["ArtifactsBucketName"]
    return load_version(MODEL, record, lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_csv_dropped_under_batch_is_scored_into_parts_beside_it(platform: Platform) -> None:
    cloud, stack = platform
    frame = _frame().drop(columns=["target"]).head(120)
    upload = frame.copy()
    upload.insert(0, "id", [f"patient-{i}" for i in range(len(frame))])
    upload["hospital"] = "north"  # not a model input: ignored, and said so
    text = upload.to_csv(index=False).splitlines()
    cells = text[4].split(",")
    cells[1] = "n/a"  # data row 4: text in mean_radius (the id comes first)
    text[4] = ",".join(cells)
    version = _upload(cloud, stack, f"batch/{MODEL}/ward-7.csv", ("\n".join(text) + "\n").encode())

    prefix = f"batch/{MODEL}/ward-7.predictions/"
    success = json.loads(_read(stack, f"{prefix}_SUCCESS.json"))
    assert success["status"] == "succeeded" and success["model"] == MODEL and success["version"] == 1
    assert success["source"]["version_id"] == version
    assert (success["rows"], success["rows_scored"], success["rows_with_errors"]) == (120, 119, 1)
    assert success["ignored_columns"] == ["hospital"] and success["id_columns"] == ["id"]
    assert success["parts"] == [f"{prefix}part-00000.csv"]
    assert _keys(stack, prefix) == [f"{prefix}_SUCCESS.json", f"{prefix}part-00000.csv"], "nothing else, no loop"

    rows = list(csv.DictReader(io.StringIO(_read(stack, success["parts"][0]).decode())))
    assert [r["id"] for r in rows] == list(upload["id"])
    assert rows[3]["error"] == "mean_radius: expected a number, got a string 'n/a'" and rows[3]["prediction"] == ""
    good = [i for i in range(120) if i != 3]
    served = _champion(stack)
    records = [{k: float(v) for k, v in frame.iloc[i].items()} for i in good]
    answer = served.predict(encode_request(records, served.signature, served.policy).matrix)
    assert [rows[i]["prediction"] for i in good] == [str(p) for p in answer.predictions]
    batch = np.array([[float(rows[i]["probability_0"]), float(rows[i]["probability_1"])] for i in good])
    assert np.abs(batch - answer.probabilities).max() <= 5e-7

    # The same event delivered again changes nothing: the success marker names this object version.
    before = boto3.client("s3").head_object(Bucket=stack.outputs["RawBucketName"], Key=success["parts"][0])
    lambda_ = boto3.client("lambda")
    scorer = next(f for f in lambda_.list_functions()["Functions"] if f["Handler"] == "handlers.batch_scoring.handler")
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.outputs["RawBucketName"]},
                    "object": {"key": f"batch/{MODEL}/ward-7.csv", "versionId": version, "size": 1},
                },
            }
        ]
    }
    result = json.loads(
        lambda_.invoke(FunctionName=scorer["FunctionName"], Payload=json.dumps(event))["Payload"].read()
    )
    assert result["outcomes"][0]["status"] == "already_scored"
    after = boto3.client("s3").head_object(Bucket=stack.outputs["RawBucketName"], Key=success["parts"][0])
    assert after["VersionId"] == before["VersionId"]

    # Scored files emit no custom metric (issue #21: only BatchFilesFailed, for its alarm).
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="ServerlessMlops")["Metrics"]
    assert not {m["MetricName"] for m in metrics} & {"BatchFilesScored", "BatchRowsScored", "BatchRowsWithErrors"}


def test_gzip_json_lines_are_scored_in_chunks_like_csv(platform: Platform) -> None:
    cloud, stack = platform
    frame = _frame().drop(columns=["target"]).head(30)
    lines = "\n".join(json.dumps({"row_id": i, **row}) for i, row in enumerate(frame.to_dict("records")))
    _upload(cloud, stack, f"batch/{MODEL}/night.jsonl.gz", gzip.compress(lines.encode()))
    success = json.loads(_read(stack, f"batch/{MODEL}/night.predictions/_SUCCESS.json"))
    assert success["format"] == "jsonl" and success["rows_scored"] == 30 and success["rows_with_errors"] == 0
    rows = list(csv.DictReader(io.StringIO(_read(stack, success["parts"][0]).decode())))
    assert [r["row_id"] for r in rows] == [str(i) for i in range(30)]
    assert [int(r["row"]) for r in rows] == list(range(1, 31))


def test_files_that_cannot_be_scored_get_a_failure_marker_saying_why(platform: Platform) -> None:
    cloud, stack = platform
    _upload(cloud, stack, "batch/no-such-model/a.csv", b"x\n1\n")
    failed = json.loads(_read(stack, "batch/no-such-model/a.predictions/_FAILED.json"))
    assert failed["code"] == "not_found" and "no-such-model" in failed["message"]

    _upload(cloud, stack, f"batch/{MODEL}/short.csv", _frame().drop(columns=["mean_radius"]).head(5).to_csv().encode())
    failed = json.loads(_read(stack, f"batch/{MODEL}/short.predictions/_FAILED.json"))
    assert failed["code"] == "missing_columns" and "'mean_radius'" in failed["message"]

    _upload(cloud, stack, f"batch/{MODEL}/notes.txt", b"not a data file")
    assert _keys(stack, f"batch/{MODEL}/notes") == [f"batch/{MODEL}/notes.txt"], "unsupported files are left alone"


# -- a file past the threshold, scored in parts ---------------------------------------------------


def _scored_in_parts(cloud: LocalCloud, stack: DeployedStack, key: str, body: bytes) -> dict[str, Any]:
    """Upload, let the batch function start the state machine, wait for the execution's end."""
    sfn = boto3.client("stepfunctions")
    machine = stack.outputs["BatchScoringStateMachineArn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    version = _upload(cloud, stack, key, body)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        started = [
            e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["executionArn"] not in before
        ]
        if started and started[0]["status"] != "RUNNING":
            return {**sfn.describe_execution(executionArn=started[0]["executionArn"]), "version": version}
        time.sleep(0.2)
    raise AssertionError(f"no run of the batch scoring state machine for {key} finished in 300 s")


def _one_invocation(stack: DeployedStack, key: str, body: bytes) -> MemoryBucket:
    """What one invocation writes for the same file: the same core, the champion, the same part size."""
    bucket = MemoryBucket()
    upload = bucket.upload(key, body)
    outcome = score_upload(upload, bucket, resolver(_champion(stack)), chunk_rows=CHUNK_ROWS)
    assert outcome.status == "scored", outcome.summary
    return bucket


def _assert_identical(stack: DeployedStack, key: str, body: bytes, version: str) -> dict[str, Any]:
    """Parts byte for byte, `_SUCCESS.json` field for field but the timing and the object version."""
    prefix = key.rsplit("/", 1)[0] + "/" + key.rsplit("/", 1)[1].split(".", maxsplit=1)[0] + ".predictions/"
    alone = _one_invocation(stack, key, body).under(prefix)
    written = {k: _read(stack, k) for k in _keys(stack, prefix)}
    assert sorted(written) == sorted(alone), "the same parts, and nothing else beside them"
    success = json.loads(written.pop(prefix + "_SUCCESS.json"))
    expected = json.loads(alone.pop(prefix + "_SUCCESS.json"))
    assert written == alone
    source = success.pop("source")  # the real object here, a dict bucket's there
    assert (source["bucket"], source["key"], source["version_id"]) == (stack.outputs["RawBucketName"], key, version)
    assert expected.pop("source")["key"] == key
    timing = ("seconds", "finished_at")
    assert {k: v for k, v in success.items() if k not in timing} == {
        k: v for k, v in expected.items() if k not in timing
    }
    return dict(success)


def _slices_counted(stack: DeployedStack, execution: dict[str, Any]) -> int:
    """The slices the run's Distributed Map counted: one record each in its work folder."""
    run = json.loads(execution["input"])["run"]
    work = boto3.client("s3").list_objects_v2(
        Bucket=stack.outputs["ArtifactsBucketName"], Prefix=f"batch-work/{MODEL}/{run['run']}/counts/"
    )
    return int(work["KeyCount"])


def test_a_file_past_the_threshold_is_scored_in_parts_identical_to_one_invocation(platform: Platform) -> None:
    cloud, stack = platform
    upload = pd.concat([_frame().drop(columns=["target"])] * 2, ignore_index=True)
    upload.insert(0, "id", [f"patient-{i}" for i in range(len(upload))])
    upload["note"] = ['seen twice,\nonce by "Dr. A"' if i % 7 == 0 else "" for i in range(len(upload))]
    body = upload.to_csv(index=False).encode()  # the note quoted, with its comma, newline and quotes
    assert len(body) > PARTS_ABOVE_BYTES
    key = f"batch/{MODEL}/clinic.csv"
    execution = _scored_in_parts(cloud, stack, key, body)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    success = _assert_identical(stack, key, body, execution["version"])
    assert success["rows"] == 1138 and len(success["parts"]) == 6 and success["version"] == 1
    assert success["ignored_columns"] == ["note"] and success["id_columns"] == ["id"]
    assert _slices_counted(stack, execution) > 4, "the file was counted in several slices by the Distributed Map"


def test_a_gzip_file_past_the_threshold_is_split_by_one_task_then_scored_in_parts(platform: Platform) -> None:
    cloud, stack = platform
    upload = _frame().drop(columns=["target"])
    upload.insert(0, "row_id", range(len(upload)))
    body = gzip.compress(upload.to_csv(index=False).encode(), mtime=0)
    assert len(body) > GZIP_PARTS_ABOVE_BYTES
    key = f"batch/{MODEL}/clinic-night.csv.gz"
    execution = _scored_in_parts(cloud, stack, key, body)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    success = _assert_identical(stack, key, body, execution["version"])
    assert success["rows"] == 569 and len(success["parts"]) == 3
    history = boto3.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]
    assert "Split gzip" in entered and "Count rows" in entered and "Score parts" in entered


def test_json_lines_past_the_threshold_are_scored_in_parts_identical_to_one_invocation(platform: Platform) -> None:
    cloud, stack = platform
    records = pd.concat([_frame().drop(columns=["target"])] * 2, ignore_index=True).to_dict("records")
    lines = []
    for i, record in enumerate(records):
        extra = {"ward": f"w{i % 3}"} if i % 50 == 7 else {}  # a column the model ignores, on some rows
        lines.append(json.dumps({"row_id": i, **record, **extra}))
        if i == 700:
            lines.append('{"row_id": "broken", "mean_radius": ')  # a row error, not the file's
        if i % 97 == 0:
            lines.append("")  # blank lines are not rows
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > PARTS_ABOVE_BYTES
    key = f"batch/{MODEL}/night-shift.jsonl"
    execution = _scored_in_parts(cloud, stack, key, body)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    success = _assert_identical(stack, key, body, execution["version"])
    assert success["format"] == "jsonl" and success["rows"] == 1139 and success["rows_with_errors"] == 1
    assert len(success["parts"]) == 6 and success["ignored_columns"] == ["ward"]
    assert _slices_counted(stack, execution) > 4, "the lines were counted in several slices by the Distributed Map"


def test_a_slice_that_cannot_be_read_fails_the_file_naming_its_part_and_row(platform: Platform) -> None:
    cloud, stack = platform
    upload = pd.concat([_frame().drop(columns=["target"])] * 2, ignore_index=True)
    upload.insert(0, "id", [f"patient-{i}" for i in range(len(upload))])
    good = upload.to_csv(index=False).encode()
    key = f"batch/{MODEL}/ward-9.csv"
    prefix = f"batch/{MODEL}/ward-9.predictions/"
    assert _scored_in_parts(cloud, stack, key, good)["status"] == "SUCCEEDED"
    assert f"{prefix}_SUCCESS.json" in _keys(stack, prefix)

    # The next export of the same file: row 600's id is a 140,000-character field, past the csv module's
    # limit (131,072), so the file cannot be read past row 599, by one invocation or by its slice.
    lines = good.split(b"\n")
    lines[600] = b"x" * 140_000 + lines[600]
    bad = b"\n".join(lines)
    bucket = MemoryBucket()
    alone = score_upload(bucket.upload(key, bad), bucket, resolver(_champion(stack)), chunk_rows=CHUNK_ROWS)
    assert alone.summary.startswith("malformed_csv: after row 599 the CSV cannot be read: field larger than")
    execution = _scored_in_parts(cloud, stack, key, bad)
    assert execution["status"] == "FAILED" and execution.get("error") == "BatchScoringFailed"

    failed = json.loads(_read(stack, f"{prefix}_FAILED.json"))
    assert failed["status"] == "failed" and failed["code"] == "malformed_csv"
    assert failed["source"]["version_id"] == execution["version"], "the failure names the version it read"
    # The part the broken row falls in (rows 401-600, parts of 200), the slice's bytes, and the file's
    # row in one invocation's words.
    assert failed["message"].startswith("part-00002.csv (rows from 401), bytes "), failed["message"]
    assert failed["message"].endswith(f"of ward-9.csv: {alone.summary.removeprefix('malformed_csv: ')}")
    assert failed["parts"] == [] and failed["rows"] == 0, "no part of this version was written"
    # The earlier version's parts are still there, but without a _SUCCESS.json they are no result.
    assert f"{prefix}_SUCCESS.json" not in _keys(stack, prefix)
