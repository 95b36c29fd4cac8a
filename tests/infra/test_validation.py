"""The validation state machine as synthesized: plan -> two Distributed Maps over JSON Lines item
lists that fail at the first failed child -> buckets -> reduce, every error caught into the reduce,
and each step's grants on exact prefixes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra import template_queries as tq


@pytest.fixture(scope="module")
def definition(platform_template: dict[str, Any]) -> dict[str, Any]:
    _, machine = tq.one(platform_template, "AWS::StepFunctions::StateMachine", "ValidationStateMachine")
    assert machine["Properties"].get("StateMachineType", "STANDARD") == "STANDARD"
    # The definition with its intrinsics rendered as text (<Logical.Arn>), then read as JSON.
    text = tq.render(machine["Properties"]["DefinitionString"])
    return dict(json.loads(text))


def test_the_states_run_plan_maps_cut_buckets_then_reduce(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Planned?"
    assert states["Read slices"]["Next"] == "Cut into parts"
    assert states["Check parts"]["Next"] == "Repeats per bucket"
    assert states["Repeats per bucket"]["Next"] == "Reduce" and states["Reduce"]["Next"] == "Did a step fail?"
    for name in ("Plan", "Read slices", "Cut into parts", "Check parts", "Repeats per bucket"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Reduce"}]


def test_a_failure_of_the_reduce_itself_is_recorded_then_fails_the_execution(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert states["Reduce"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.reduce_error", "Next": "Record the failure"}
    ]
    recording = states["Record the failure"]
    assert recording["Parameters"] == {"run.$": "$.run", "error.$": "$.reduce_error"}
    assert recording["Next"] == "Validation failed" and states["Validation failed"]["Type"] == "Fail"


@pytest.mark.parametrize(("name", "items"), [("Read slices", "$.plan.items_key"), ("Check parts", "$.cut.items_key")])
def test_each_distributed_map_reads_jsonl_and_fails_at_the_first_failed_child(
    definition: dict[str, Any], name: str, items: str
) -> None:
    state = definition["States"][name]
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = state["ItemReader"]
    assert reader["Resource"] == "arn:<AWS::Partition>:states:::s3:getObject"
    assert reader["ReaderConfig"]["InputType"] == "JSONL"
    assert reader["Parameters"]["Key.$"] == items
    # CDK leaves out a ToleratedFailureCount of 0, which is Step Functions' default: "By default, the
    # tolerated failure threshold is zero: the Map Run fails when any item fails"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
    assert state.get("ToleratedFailureCount", 0) == 0 and "ToleratedFailurePercentage" not in state
    assert state["MaxConcurrency"] == 40
    # The run's own folder (WorkFolder.map_results), where the reduce reads a failed child's item.
    assert state["ResultWriter"]["Parameters"]["Prefix.$"] == (
        "States.Format('validation-work/{}/{}/map-results', $.run.dataset, $.run.run)"
    )


def test_grants_are_exact_prefixes(platform_template: dict[str, Any]) -> None:
    def on(prefix: str, bucket: str) -> set[tuple[str, str]]:
        return {(a, r) for a, r in tq.grants(platform_template, prefix) if r.startswith(f"<{bucket}")}

    curated = tq.logical(platform_template, "AWS::S3::Bucket", "DataCurated")
    raw = tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")
    quarantine = tq.logical(platform_template, "AWS::S3::Bucket", "DataQuarantine")
    # A part's child writes its part to the work folder only: nothing of a rejected upload reaches the
    # curated bucket, which only the reduce writes (once the version is accepted). It never reads raw data.
    for step in ("Plan", "ReadSlice", "Cut", "CheckPart", "BucketRepeats"):
        assert on(f"Validation{step}Function", curated) == set(), step
    assert on("ValidationReduceFunction", curated) == {
        ("s3:GetObject", f"<{curated}.Arn>/datasets/*"),
        ("s3:PutObject", f"<{curated}.Arn>/datasets/*"),
        ("s3:ListBucket", f"<{curated}.Arn>"),  # a missing manifest is a 404, not a denied read
    }
    assert on("ValidationCheckPartFunction", raw) == set()
    assert on("ValidationReadSliceFunction", raw) == {
        ("s3:GetObject", f"<{raw}.Arn>/raw/*"),
        ("s3:GetObjectVersion", f"<{raw}.Arn>/raw/*"),
    }
    # Only the reduce quarantines, records versions and mails.
    for step in ("Plan", "ReadSlice", "Cut", "CheckPart", "BucketRepeats", "RecordFailure"):
        pairs = tq.grants(platform_template, f"Validation{step}Function")
        if step == "RecordFailure":  # it records and mails the reduce's failure; it quarantines nothing
            assert {a for a, _ in pairs if a.startswith(("dynamodb:", "sns:"))} == {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "sns:Publish",
            }
            assert on(f"Validation{step}Function", quarantine) == on(f"Validation{step}Function", curated) == set()
            continue
        assert not any(a.startswith(("dynamodb:", "sns:")) for a, _ in pairs), step
        assert on(f"Validation{step}Function", quarantine) == set(), step
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    # The reduce lists its run's work folder (the Maps' result files), nothing else of the artifacts bucket.
    assert ("s3:ListBucket", f"<{artifacts}.Arn>") in tq.grants(platform_template, "ValidationReduceFunction")
    reduce = tq.grants(platform_template, "ValidationReduceFunction")
    assert {"dynamodb:PutItem", "sns:Publish", "states:StartExecution"} <= {a for a, _ in reduce}


def test_the_state_machine_reads_and_writes_the_work_folder_only(platform_template: dict[str, Any]) -> None:
    _, machine = tq.one(platform_template, "AWS::StepFunctions::StateMachine", "ValidationStateMachine")
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    s3_resources = set()
    for policy in tq.resources(platform_template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if any(str(a).startswith("s3:") for a in tq.as_list(statement["Action"])):
                    s3_resources |= {tq.render(r) for r in tq.as_list(statement["Resource"])}
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    assert s3_resources == {f"<{artifacts}.Arn>/validation-work/*"}
