"""A function's LoggingConfig in the local Lambda runtime: what reaches its log group and which EMF
documents become metrics, as Lambda filters them, and the configurations Lambda refuses.

Lambda's rules (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
with the JSON format the system log level INFO (the default) sends the `platform.start` and
`platform.report` records, WARN sends neither, DEBUG adds `platform.runtimeDone`
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html); the application
log level drops a handler's line below it, a line without a JSON `"level"` counting as INFO; a
level with the Text format is refused."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from localcloud import lambda_
from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, DeployError, Synthesized
from localcloud.lambda_.runtime_state import runtime

Cloud = tuple[LocalCloud, DeployedStack]


def _configure(stack: DeployedStack, function: str, config: lambda_.LoggingConfig) -> str:
    """Give a probe function another LoggingConfig, as an update of its template would."""
    name = stack.function_name(function)
    extras = runtime.supplements[name]
    lambda_.supplement(
        name,
        lambda_.FunctionSupplement(log_group=extras.log_group, dead_letter_arn=extras.dead_letter_arn, logging=config),
    )
    return name


def _messages(function: str) -> list[str]:
    logs = boto3.client("logs")
    group = f"/aws/lambda/{function}"
    return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]


def _upload(cloud: LocalCloud, stack: DeployedStack, key: str) -> None:
    boto3.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key=key, Body=b"x")
    cloud.settle()


def _uploads_counted(since: datetime) -> float:
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="Probe",
        MetricName="Uploads",
        Dimensions=[{"Name": "Probe", "Value": "probe"}],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_the_text_format_keeps_start_end_and_report_lines(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    _upload(cloud, stack, "in/a.csv")
    messages = _messages(stack.function_name("OnUpload"))
    kinds = [m.split(" ", 1)[0] for m in messages if m.split(" ", 1)[0] in ("START", "END", "REPORT")]
    assert kinds == ["START", "END", "REPORT"]


def test_json_at_the_default_levels_sends_start_and_report_records(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    function = _configure(stack, "OnUpload", lambda_.LoggingConfig.from_properties({"LogFormat": "JSON"}))
    _upload(cloud, stack, "in/a.csv")
    records = [json.loads(m) for m in _messages(function) if m.startswith('{"time"')]
    assert [r["type"] for r in records] == ["platform.start", "platform.report"]
    report = records[1]["record"]
    assert report["status"] == "success"
    assert report["metrics"]["billedDurationMs"] >= report["metrics"]["durationMs"] > 0
    assert not any(m.startswith(("START", "END", "REPORT")) for m in _messages(function))


def _last_logs(function: str) -> list[str]:
    """The lines the function's last invocation left in its log group."""
    (*_, last) = (i for i in lambda_.history() if i.function_name == function)
    return last.logs.splitlines()


def test_system_level_warn_sends_no_platform_record_and_costs_fewer_bytes(probe_cloud: Cloud) -> None:
    cloud, stack = probe_cloud
    function = stack.function_name("OnUpload")
    _upload(cloud, stack, "in/text.csv")
    text = _last_logs(function)
    _configure(
        stack, "OnUpload", lambda_.LoggingConfig.from_properties({"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    )
    _upload(cloud, stack, "in/json.csv")
    warn = _last_logs(function)
    # the handler's EMF line is all that is left
    assert len(warn) == 1 and '"_aws"' in warn[0]
    assert not any('"type":"platform.' in m for m in _messages(function))
    assert sum(len(m) for m in warn) < sum(len(m) for m in text)
    assert set(warn) <= set(_messages(function))


def test_an_application_level_above_info_drops_emf_lines_and_their_metrics(probe_cloud: Cloud) -> None:
    """An EMF document has no `level`, so Lambda counts it INFO: at WARN it is never ingested and
    CloudWatch Logs extracts no metric from it."""
    cloud, stack = probe_cloud
    since = datetime.now(UTC) - timedelta(minutes=1)
    _upload(cloud, stack, "in/counted.csv")
    assert _uploads_counted(since) == 1
    function = _configure(
        stack, "OnUpload", lambda_.LoggingConfig.from_properties({"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    )
    _upload(cloud, stack, "in/dropped.csv")
    assert _uploads_counted(since) == 1
    assert sum('"_aws"' in m for m in _messages(function)) == 1


def test_an_unhandled_error_is_kept_at_application_level_error(probe_cloud: Cloud) -> None:
    _, stack = probe_cloud
    function = _configure(
        stack,
        "Square",
        lambda_.LoggingConfig.from_properties(
            {"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "WARN"}
        ),
    )
    answer = boto3.client("lambda").invoke(FunctionName=function, Payload=b'{"n": -1}')
    assert answer["FunctionError"]
    (line,) = _messages(function)
    record = json.loads(line)
    assert (record["level"], record["errorType"], record["message"]) == ("ERROR", "ValueError", "negative input -1")


def test_aws_lambda_log_level_reaches_the_handler(probe_cloud: Cloud) -> None:
    """Lambda tells the runtime the application level (Powertools' Logger follows it)."""
    config = lambda_.LoggingConfig.from_properties({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    assert config.environment() == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
    assert lambda_.LoggingConfig.from_properties(None).environment() == {}


@pytest.mark.parametrize(
    ("config", "wording"),
    [
        ({"LogFormat": "Text", "SystemLogLevel": "WARN"}, 'LogLevel is not supported when LogFormat is set to "Text"'),
        ({"ApplicationLogLevel": "INFO"}, 'LogLevel is not supported when LogFormat is set to "Text"'),
        ({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}, "SystemLogLevel 'ERROR' is not one of DEBUG, INFO, WARN"),
        ({"LogFormat": "Yaml"}, "LogFormat 'Yaml' is not one of Text, JSON"),
    ],
)
def test_a_logging_config_lambda_refuses_fails_the_deploy(
    probe_synth: Synthesized, tmp_path: Any, config: dict[str, Any], wording: str
) -> None:
    """CloudFormation answers a level with the Text format "LogLevel is not supported when LogFormat
    is set to "Text" ..." (quoted in aws/aws-cdk#28045, which added the same check to CDK's synth)."""
    template = copy.deepcopy(probe_synth.template)
    logical = next(
        k for k, v in template["Resources"].items() if k.startswith("Square") and v["Type"] == "AWS::Lambda::Function"
    )
    template["Resources"][logical]["Properties"]["LoggingConfig"] = config
    refused = Synthesized(probe_synth.stack_name, template, probe_synth.assets, probe_synth.outdir)
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud, pytest.raises(DeployError) as raised:
        cloud.deploy(refused)
    assert wording in str(raised.value) and logical in str(raised.value)
