"""Distributed Map in the local cloud, as Step Functions runs it (issue #20, item 5).

Each test creates a state machine with boto3 in an in-process local cloud, generates its S3 data
with a fixed seed and reads what a user reads: the execution's status, error and output, and the
result files in S3. Children are Pass/Choice/Fail states, so the tests need no Lambda runtime; an
item whose `fail` field is true makes its child fail.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud

BUCKET = "dmap-data"
ROLE_NAME = "dmap-machine"
_machines = 0


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as running:
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam")
        iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        iam.put_role_policy(
            RoleName=ROLE_NAME,
            PolicyName="data",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "states:*"], "Resource": "*"}],
                }
            ),
        )
        yield running


def child(*, fail_when_flagged: bool = True) -> dict[str, Any]:
    """An ItemProcessor whose child fails (error `ItemFailed`) when its input has `"fail": true`."""
    states: dict[str, Any] = {"Done": {"Type": "Pass", "End": True}}
    start = "Done"
    if fail_when_flagged:
        start = "Check"
        states |= {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                "Default": "Done",
            },
            "Boom": {"Type": "Fail", "Error": "ItemFailed", "Cause": "the item asked to fail"},
        }
    return {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": start,
        "States": states,
    }


def machine(map_state: dict[str, Any]) -> str:
    global _machines
    _machines += 1
    definition = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "End": True, **map_state}}}
    role = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
    return str(
        boto3.client("stepfunctions").create_state_machine(
            name=f"dmap-{_machines}", definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
    )


def run(machine_arn: str, payload: Any = None, timeout: float = 60) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine_arn, name="run", input=json.dumps(payload or {}))["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def put(key: str, body: str) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body.encode())


def read_json(key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def records(count: int, failing: int = 0, seed: int = 20) -> list[dict[str, Any]]:
    """`count` records with random values; `failing` of them, at random places, ask their child to fail."""
    rng = random.Random(seed)
    flagged = set(rng.sample(range(count), failing))
    return [{"id": i, "value": rng.randint(0, 10_000), "fail": i in flagged} for i in range(count)]


def listing(prefix: str = "parts/") -> dict[str, Any]:
    return {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": BUCKET, "Prefix": prefix}}


# -- ItemReader ------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html: listObjectsV2
# iterates over every object under the prefix (S3 answers 1,000 keys a page), each item being the
# object's Etag, Key, LastModified, Size and StorageClass; InputType JSONL reads one item per line;
# ReaderConfig.MaxItems limits the items the Map reads. Checked against Step Functions in us-east-1
# (floci-io/floci#3460): 1,006 objects gave 1,006 items, the Etag keeps its quotes and LastModified is
# epoch seconds; an empty prefix gives zero children, not a failure (floci-io/floci#3512).


def test_a_listing_past_one_page_gives_every_object_once(cloud: LocalCloud) -> None:
    s3 = boto3.client("s3")
    for index in range(1005):
        s3.put_object(Bucket=BUCKET, Key=f"parts/{index:05d}.csv", Body=b"x" * (index % 7))
    put("other/outside.csv", "not listed")

    execution = run(machine({"ItemReader": listing(), "ItemProcessor": child(fail_when_flagged=False)}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    items = json.loads(execution["output"])
    assert [item["Key"] for item in items] == [f"parts/{index:05d}.csv" for index in range(1005)]
    assert set(items[3]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert items[3]["Size"] == 3 and items[3]["StorageClass"] == "STANDARD"
    assert isinstance(items[3]["LastModified"], int)


def test_a_prefix_with_no_objects_gives_a_map_of_no_items(cloud: LocalCloud) -> None:
    execution = run(machine({"ItemReader": listing("nothing-here/"), "ItemProcessor": child()}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == []


def test_a_listing_of_a_missing_bucket_fails_the_item_reader(cloud: LocalCloud) -> None:
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "no-such-bucket"}}

    execution = run(machine({"ItemReader": reader, "ItemProcessor": child()}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ItemReaderFailed"
    assert "no-such-bucket" in execution["cause"]


def test_max_items_limits_a_listing(cloud: LocalCloud) -> None:
    for index in range(5):
        put(f"parts/{index}.json", "{}")
    reader = listing() | {"ReaderConfig": {"MaxItems": 2}}

    execution = run(machine({"ItemReader": reader, "ItemProcessor": child(fail_when_flagged=False)}))

    assert [item["Key"] for item in json.loads(execution["output"])] == ["parts/0.json", "parts/1.json"]


def test_a_json_lines_object_gives_one_item_per_line_up_to_max_items(cloud: LocalCloud) -> None:
    rows = records(7)
    put("rows.jsonl", "\n".join(json.dumps(row) for row in rows[:4]) + "\n\n" + "\n".join(map(json.dumps, rows[4:])))
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL", "MaxItems": 6},
        "Parameters": {"Bucket": BUCKET, "Key": "rows.jsonl"},
    }

    execution = run(machine({"ItemReader": reader, "ItemProcessor": child()}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == rows[:6]


def test_a_json_lines_object_with_a_broken_line_names_the_line(cloud: LocalCloud) -> None:
    put("broken.jsonl", '{"id": 1}\n{"id": \n')
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket": BUCKET, "Key": "broken.jsonl"},
    }

    execution = run(machine({"ItemReader": reader, "ItemProcessor": child()}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ItemReaderFailed"
    assert "line 2" in execution["cause"]


# -- ItemBatcher -----------------------------------------------------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html: each child gets
# {"BatchInput": ..., "Items": [...]}, at most MaxItemsPerBatch items and MaxInputBytesPerBatch bytes
# (up to 256 KiB); ItemSelector applies to each item before batching.


def test_items_are_batched_in_order_with_the_batch_input(cloud: LocalCloud) -> None:
    rows = records(10)
    put("rows.json", json.dumps(rows))
    state = {
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": BUCKET, "Key": "rows.json"},
        },
        "ItemBatcher": {"MaxItemsPerBatch": 4, "BatchInput": {"run": "nightly"}},
        "ItemProcessor": child(fail_when_flagged=False),
    }

    execution = run(machine(state))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == [
        {"BatchInput": {"run": "nightly"}, "Items": rows[0:4]},
        {"BatchInput": {"run": "nightly"}, "Items": rows[4:8]},
        {"BatchInput": {"run": "nightly"}, "Items": rows[8:10]},
    ]


def test_a_byte_limit_keeps_every_batch_under_it(cloud: LocalCloud) -> None:
    rows = [row | {"text": "y" * (row["value"] % 300)} for row in records(40)]
    state = {
        "ItemsPath": "$.rows",
        "ItemBatcher": {"MaxInputBytesPerBatch": 1000},
        "ItemProcessor": child(fail_when_flagged=False),
    }

    execution = run(machine(state), {"rows": rows})

    batches = json.loads(execution["output"])
    assert [row for batch in batches for row in batch["Items"]] == rows
    assert all(len(json.dumps(batch, separators=(",", ":")).encode()) <= 1000 for batch in batches)
    assert len(batches) > 1


def test_the_item_selector_shapes_each_item_before_batching(cloud: LocalCloud) -> None:
    state = {
        "ItemsPath": "$.rows",
        "ItemSelector": {"value.$": "$$.Map.Item.Value.value", "batch.$": "$.batch"},
        "ItemBatcher": {"MaxItemsPerBatchPath": "$.size"},
        "ItemProcessor": child(fail_when_flagged=False),
    }
    rows = records(3)

    execution = run(machine(state), {"rows": rows, "batch": "b1", "size": 2})

    assert json.loads(execution["output"]) == [
        {"Items": [{"value": rows[0]["value"], "batch": "b1"}, {"value": rows[1]["value"], "batch": "b1"}]},
        {"Items": [{"value": rows[2]["value"], "batch": "b1"}]},
    ]


def test_a_batcher_without_a_limit_is_refused_at_creation(cloud: LocalCloud) -> None:
    # AWS answers InvalidDefinition; moto's parser backend sends that error without its code
    with pytest.raises(ClientError, match="MaxItemsPerBatch or MaxInputBytesPerBatch"):
        machine({"ItemsPath": "$.rows", "ItemBatcher": {"BatchInput": {}}, "ItemProcessor": child()})


# -- Tolerated failures ----------------------------------------------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html: the Map Run fails
# with States.ExceedToleratedFailureThreshold when failed (or timed-out) items exceed
# ToleratedFailureCount, or their share of all items exceeds ToleratedFailurePercentage; both default
# to zero, so without them one failed child fails the Map; with both, exceeding either fails it.
# The cause is AWS's wording, as recorded against AWS in LocalStack's snapshot tests.


def tolerant(**tolerance: Any) -> dict[str, Any]:
    return {"ItemsPath": "$.rows", "ItemProcessor": child(), **tolerance}


def test_a_map_whose_children_all_fail_fails(cloud: LocalCloud) -> None:
    execution = run(machine(tolerant()), {"rows": records(20, failing=20)})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ExceedToleratedFailureThreshold"
    assert execution["cause"] == "The specified tolerated failure threshold was exceeded"


def test_one_failed_child_fails_a_map_without_tolerance(cloud: LocalCloud) -> None:
    execution = run(machine(tolerant()), {"rows": records(20, failing=1)})

    assert execution["error"] == "States.ExceedToleratedFailureThreshold"


@pytest.mark.parametrize(
    ("tolerance", "failing", "status"),
    [
        ({"ToleratedFailureCount": 3}, 3, "SUCCEEDED"),
        ({"ToleratedFailureCount": 3}, 4, "FAILED"),
        ({"ToleratedFailurePercentage": 10}, 2, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 10}, 3, "FAILED"),
        ({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 10}, 3, "FAILED"),
        ({"ToleratedFailureCountPath": "$.allowed"}, 4, "SUCCEEDED"),
    ],
)
def test_the_map_fails_only_past_its_tolerance(
    cloud: LocalCloud, tolerance: dict[str, Any], failing: int, status: str
) -> None:
    execution = run(machine(tolerant(**tolerance)), {"rows": records(20, failing=failing), "allowed": 4})

    assert execution["status"] == status, execution.get("cause")


def test_a_tolerated_failure_is_in_the_output_as_its_execution_record(cloud: LocalCloud) -> None:
    rows = records(6, failing=2)

    execution = run(machine(tolerant(ToleratedFailureCount=2)), {"rows": rows})

    output = json.loads(execution["output"])
    for row, result in zip(rows, output, strict=True):
        if row["fail"]:
            assert result["Status"] == "FAILED"
            assert (result["Error"], result["Cause"]) == ("ItemFailed", "the item asked to fail")
            assert json.loads(result["Input"]) == row
        else:
            assert result == row
    sfn = boto3.client("stepfunctions")
    map_run = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"][0]["mapRunArn"]
    counts = sfn.describe_map_run(mapRunArn=map_run)["itemCounts"]
    assert (counts["succeeded"], counts["failed"], counts["total"], counts["running"]) == (4, 2, 6, 0)


def test_a_catch_takes_an_exceeded_threshold(cloud: LocalCloud) -> None:
    state = tolerant(Catch=[{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "Handled"}])
    definition = {
        "StartAt": "Map",
        "States": {"Map": {"Type": "Map", "Next": "Done", **state}, "Done": {"Type": "Succeed"}}
        | {"Handled": {"Type": "Pass", "Result": {"handled": True}, "End": True}},
    }
    arn = boto3.client("stepfunctions").create_state_machine(
        name="dmap-catch", definition=json.dumps(definition), roleArn=f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
    )["stateMachineArn"]

    execution = run(arn, {"rows": records(5, failing=1)})

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"handled": True}


# -- ResultWriter ----------------------------------------------------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html: under
# <Prefix>/<map run id>/ Step Functions writes executions of the same status to their own file
# (SUCCEEDED_0.json, FAILED_0.json, PENDING_0.json) and a manifest.json listing them; the Map's
# output is then {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}.


def writing(**extra: Any) -> dict[str, Any]:
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": BUCKET, "Prefix": "results"}}
    return tolerant(ResultWriter=writer, **extra)


def test_results_are_written_by_status_with_a_manifest(cloud: LocalCloud) -> None:
    rows = records(6, failing=2)

    execution = run(machine(writing(ToleratedFailureCount=2)), {"rows": rows})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    run_id = output["MapRunArn"].rsplit(":", 1)[-1]
    assert output["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": f"results/{run_id}/manifest.json"}
    manifest = read_json(f"results/{run_id}/manifest.json")
    assert manifest["DestinationBucket"] == BUCKET and manifest["MapRunArn"] == output["MapRunArn"]
    files = manifest["ResultFiles"]
    assert [entry["Key"] for entry in files["SUCCEEDED"]] == [f"results/{run_id}/SUCCEEDED_0.json"]
    assert [entry["Key"] for entry in files["FAILED"]] == [f"results/{run_id}/FAILED_0.json"]
    assert files["PENDING"] == []
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=files["FAILED"][0]["Key"])
    assert files["FAILED"][0]["Size"] == head["ContentLength"]

    succeeded = read_json(files["SUCCEEDED"][0]["Key"])
    assert sorted(json.loads(entry["Output"])["id"] for entry in succeeded) == [r["id"] for r in rows if not r["fail"]]
    assert {"ExecutionArn", "Input", "Name", "Output", "StartDate", "StopDate", "StateMachineArn"} <= set(succeeded[0])
    assert all(entry["Status"] == "SUCCEEDED" for entry in succeeded)
    failed = read_json(files["FAILED"][0]["Key"])
    assert sorted(json.loads(entry["Input"])["id"] for entry in failed) == [r["id"] for r in rows if r["fail"]]
    assert {(entry["Status"], entry["Error"], entry["Cause"]) for entry in failed} == {
        ("FAILED", "ItemFailed", "the item asked to fail")
    }


def test_a_prefix_given_as_a_path_is_read_from_the_maps_input(cloud: LocalCloud) -> None:
    # The ResultWriter's Parameters are a payload template, evaluated on the Map state's input, so a
    # run can keep its results in its own folder ("Prefix.$", as CDK's ResultWriterV2 does for the
    # bucket with bucketNamePath); input-output-resultwriter.html, and state-map-distributed.html.
    prefix = "States.Format('runs/{}/results', $.run)"
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": BUCKET, "Prefix.$": prefix}}

    execution = run(
        machine(tolerant(ResultWriter=writer, ToleratedFailureCount=1)), {"rows": records(3, 1), "run": "r7"}
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    run_id = output["MapRunArn"].rsplit(":", 1)[-1]
    assert output["ResultWriterDetails"]["Key"] == f"runs/r7/results/{run_id}/manifest.json"
    failed = read_json(f"runs/r7/results/{run_id}/FAILED_0.json")
    assert [json.loads(entry["Input"])["fail"] for entry in failed] == [True]


def test_a_failed_run_writes_the_items_it_never_started_as_pending(cloud: LocalCloud) -> None:
    rows = [row | {"fail": row["id"] == 0} for row in records(5)]

    execution = run(machine(writing(MaxConcurrency=1)), {"rows": rows})

    assert execution["error"] == "States.ExceedToleratedFailureThreshold"
    keys = [obj["Key"] for obj in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="results/")["Contents"]]
    manifest = read_json(next(key for key in keys if key.endswith("manifest.json")))
    assert [entry["Key"].rsplit("/", 1)[-1] for entry in manifest["ResultFiles"]["PENDING"]] == ["PENDING_0.json"]
    pending = read_json(manifest["ResultFiles"]["PENDING"][0]["Key"])
    assert [json.loads(entry["Input"]) for entry in pending] == rows[1:]
    assert manifest["ResultFiles"]["SUCCEEDED"] == []


# -- What the emulator cannot honour ---------------------------------------------------------------
# Step Functions accepts these (input-output-itemreader.html: InputType MANIFEST and PARQUET;
# state-map-distributed.html: ExecutionType EXPRESS children; input-output-resultwriter.html:
# WriterConfig); the local cloud does not emulate them, so the execution fails naming the field, and
# no Catch turns that into a success.


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"ItemProcessor": child() | {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}}},
            "ExecutionType EXPRESS",
        ),
        (
            {
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "MANIFEST"},
                    "Parameters": {"Bucket": BUCKET, "Key": "manifest.json"},
                }
            },
            "InputType MANIFEST",
        ),
        (
            {"ResultWriter": {"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}},
            "ResultWriter.WriterConfig",
        ),
    ],
)
def test_what_the_emulator_cannot_honour_fails_the_execution_naming_it(
    cloud: LocalCloud, change: dict[str, Any], field: str
) -> None:
    catch_all = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    definition = {
        "StartAt": "Map",
        "States": {
            "Map": {"Type": "Map", "End": True, "Catch": catch_all, **tolerant(), **change},
            "Caught": {"Type": "Succeed"},
        },
    }
    arn = boto3.client("stepfunctions").create_state_machine(
        name="dmap-refused", definition=json.dumps(definition), roleArn=f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
    )["stateMachineArn"]

    execution = run(arn, {"rows": records(2)})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert field in execution["cause"] and "local cloud" in execution["cause"]
