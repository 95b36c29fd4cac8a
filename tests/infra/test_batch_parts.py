"""The batch scoring state machine as synthesized: plan -> (gzip: split) -> two Distributed Maps over
JSON Lines item lists that fail at the first failed child -> finish, every error caught into the
finish; the batch function may start it, and each step's grants are exact prefixes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra import template_queries as tq


@pytest.fixture(scope="module")
def definition(platform_template: dict[str, Any]) -> dict[str, Any]:
    _, machine = tq.one(platform_template, "AWS::StepFunctions::StateMachine", "BatchScoringPartsStateMachine")
    assert machine["Properties"].get("StateMachineType", "STANDARD") == "STANDARD"
    return dict(json.loads(tq.render(machine["Properties"]["DefinitionString"])))


def test_the_states_run_plan_split_count_number_score_then_finish(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Plan" and states["Plan"]["Next"] == "Planned?"
    planned = states["Planned?"]
    assert [c["Next"] for c in planned["Choices"]] == ["Finish", "Split gzip"] and planned["Default"] == "Count rows"
    assert states["Split gzip"]["Next"] == "Split?" and states["Split?"]["Default"] == "Count rows"
    assert states["Count rows"]["Next"] == "Number parts" and states["Number parts"]["Next"] == "Any rows?"
    assert states["Any rows?"]["Default"] == "Score parts" and states["Score parts"]["Next"] == "Finish"
    assert states["Finish"]["Next"] == "Did a step fail?"
    assert states["Did a step fail?"]["Choices"][0]["Next"] == "Scoring failed"
    for name in ("Plan", "Split gzip", "Count rows", "Number parts", "Score parts"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Finish"}]


@pytest.mark.parametrize(("name", "items"), [("Count rows", "$.plan.items_key"), ("Score parts", "$.number.items_key")])
def test_each_distributed_map_reads_jsonl_and_fails_at_the_first_failed_child(
    definition: dict[str, Any], name: str, items: str
) -> None:
    state = definition["States"][name]
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert state["ItemReader"]["ReaderConfig"]["InputType"] == "JSONL"
    assert state["ItemReader"]["Parameters"]["Key.$"] == items
    # Step Functions' default threshold is zero: "the Map Run fails when any item fails"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
    assert state.get("ToleratedFailureCount", 0) == 0 and "ToleratedFailurePercentage" not in state
    assert state["MaxConcurrency"] == 40
    assert state["ResultWriter"]["Parameters"]["Prefix"].startswith("batch-work/")


def test_grants_are_exact_prefixes(platform_template: dict[str, Any]) -> None:
    raw = tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")

    def on(step: str, bucket: str) -> set[tuple[str, str]]:
        return {(a, r) for a, r in tq.grants(platform_template, f"BatchScoringParts{step}Function") if bucket in r}

    read_input = {("s3:GetObject", f"<{raw}.Arn>/batch/*"), ("s3:GetObjectVersion", f"<{raw}.Arn>/batch/*")}
    # A scoring child reads the input and writes parts, nothing else of the raw bucket; only the finish
    # writes the markers and deletes stale parts; number and finish never read the input.
    assert on("Score", raw) == read_input | {("s3:PutObject", f"<{raw}.Arn>/batch/*.predictions/part-*")}
    assert on("Finish", raw) == {
        ("s3:PutObject", f"<{raw}.Arn>/batch/*.predictions/*"),
        ("s3:DeleteObject", f"<{raw}.Arn>/batch/*.predictions/*"),
    }
    assert on("Plan", raw) == on("Split", raw) == on("Count", raw) == read_input
    assert on("Number", raw) == set()
    work = {("s3:GetObject", f"<{artifacts}.Arn>/batch-work/*"), ("s3:PutObject", f"<{artifacts}.Arn>/batch-work/*")}
    model = {
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/model.onnx"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/signature.json"),
    }
    for step in ("Plan", "Count", "Score"):  # the pinned version, read by number
        assert on(step, artifacts) == work | model, step
        assert {
            a for a, _ in tq.grants(platform_template, f"BatchScoringParts{step}Function") if a.startswith("dynamodb:")
        } == {"dynamodb:GetItem"}
    for step in ("Split", "Number", "Finish"):
        assert on(step, artifacts) == work, step
    scorer = {a for a, _ in tq.grants(platform_template, "BatchScoringScorer")}
    assert "states:StartExecution" in scorer


def test_the_batch_function_knows_the_state_machine_and_the_thresholds(platform_template: dict[str, Any]) -> None:
    _, scorer = tq.one(platform_template, "AWS::Lambda::Function", "BatchScoringScorer")
    variables = scorer["Properties"]["Environment"]["Variables"]
    assert variables["PARTS_ABOVE_BYTES"] == str(1024 << 20) and variables["GZIP_PARTS_ABOVE_BYTES"] == str(256 << 20)
    assert tq.render(variables["PARTS_STATE_MACHINE_ARN"]).startswith("<BatchScoringPartsStateMachine")


def test_a_failed_run_is_alarmed(platform_template: dict[str, Any]) -> None:
    alarms = tq.resources(platform_template, "AWS::CloudWatch::Alarm")
    [alarm] = [a for k, a in alarms.items() if k.startswith("MonitoringBatchPartsFailed")]
    assert alarm["Properties"]["MetricName"] == "ExecutionsFailed" and alarm["Properties"]["AlarmActions"]
