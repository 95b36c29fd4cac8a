"""`mlops smoke-test` without a cloud: finding the stack outputs, choosing the alarm, reading the
notification and the alarm history, and the summary that decides the exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.main import EXIT_OK, EXIT_REJECTED
from mlopsctl.parser import parse_args
from mlopsctl.smoke import (
    REQUIRED_OUTPUTS,
    SmokeTest,
    StepError,
    StepResult,
    action_lines,
    alarm_notification,
    is_smoke_notification,
    missing_outputs,
    pick_alarm,
    queue_policy,
    subscribers_note,
    summary_document,
    summary_text,
)
from mlopsctl.target import Target, find_target

TOPIC = "arn:aws:sns:eu-west-1:111122223333:ServerlessMlops-MonitoringAlerts-ABC"
DEAD_LETTERS = "ServerlessMlops-MonitoringDeadLetters-XYZ"
OUTPUTS = {name: f"value-of-{name}" for name in REQUIRED_OUTPUTS} | {"AlertsTopicArn": TOPIC}


def test_the_outputs_file_cdk_deploy_writes_names_the_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"ServerlessMlops": OUTPUTS}))  # `cdk deploy --outputs-file`'s shape
    target = find_target(path, None, None)
    assert target.outputs == OUTPUTS
    assert (target.endpoint_url, target.region) == (None, "eu-west-1")  # AWS itself: no endpoint override
    assert missing_outputs(target.outputs) == []
    older = {k: v for k, v in OUTPUTS.items() if k != "AlertsTopicArn"}
    assert missing_outputs(older) == ["AlertsTopicArn"]


def _alarm(name: str, state: str = "OK", queue: str | None = None, topic: str = TOPIC) -> dict[str, Any]:
    dimensions = [{"Name": "QueueName", "Value": queue}] if queue else [{"Name": "FunctionName", "Value": "f"}]
    return {"AlarmName": name, "StateValue": state, "AlarmActions": [topic], "Dimensions": dimensions}


def test_the_dead_letters_alarm_is_fired_unless_it_is_in_alarm_already() -> None:
    alarms = [_alarm("a-errors"), _alarm("z-dead-letters", queue=DEAD_LETTERS), _alarm("other", topic="arn:other")]
    assert pick_alarm(alarms, TOPIC, DEAD_LETTERS)[0] == alarms[1]
    alarms[1]["StateValue"] = "ALARM"  # firing it would change no state, so CloudWatch would run no action
    assert pick_alarm(alarms, TOPIC, DEAD_LETTERS)[0] == alarms[0]
    assert pick_alarm(alarms, TOPIC, None)[0] == alarms[0]
    alarms[0]["StateValue"] = "ALARM"
    assert pick_alarm(alarms, TOPIC, DEAD_LETTERS) == (
        None,
        "all 2 alarms of the alerts topic are in ALARM: look at them first",
    )
    assert pick_alarm([alarms[2]], TOPIC, DEAD_LETTERS)[1] == f"no alarm notifies the alerts topic {TOPIC}"


def test_a_named_alarm_must_exist_notify_the_topic_and_not_be_in_alarm() -> None:
    alarms = [_alarm("mine"), _alarm("busy", state="ALARM"), _alarm("elsewhere", topic="arn:other")]
    assert pick_alarm(alarms, TOPIC, None, "mine")[0] == alarms[0]
    assert pick_alarm(alarms, TOPIC, None, "nope")[1] == "no alarm named 'nope'"
    assert "is in ALARM already" in pick_alarm(alarms, TOPIC, None, "busy")[1]
    assert "does not notify the alerts topic" in pick_alarm(alarms, TOPIC, None, "elsewhere")[1]


def test_the_queue_accepts_only_the_alerts_topic() -> None:
    (statement,) = queue_policy("arn:aws:sqs:eu-west-1:111122223333:q", TOPIC)["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == "arn:aws:sqs:eu-west-1:111122223333:q"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC}}


def test_the_notification_is_read_from_the_sns_envelope_and_must_be_this_runs() -> None:
    alarm = {"AlarmName": "dl", "NewStateValue": "ALARM", "NewStateReason": "mlops smoke-test run-1: a test"}
    envelope = json.dumps({"Type": "Notification", "Subject": "ALARM: dl", "Message": json.dumps(alarm)})
    assert alarm_notification(envelope) == alarm
    assert alarm_notification(json.dumps(alarm)) == alarm  # raw message delivery
    assert alarm_notification("not json") is None
    assert alarm_notification(json.dumps({"Type": "Notification", "Message": "Model v1 registered"})) is None
    assert is_smoke_notification(alarm, "dl", "run-1")
    assert not is_smoke_notification(alarm, "dl", "run-2")  # an earlier run's, still in flight
    assert not is_smoke_notification({**alarm, "NewStateValue": "OK"}, "dl", "run-1")
    assert not is_smoke_notification(alarm, "other", "run-1")


def test_the_alarm_history_says_why_a_publish_failed() -> None:
    denied = "CloudWatch Alarms is not authorized to perform: SNS:Publish on resource: " + TOPIC
    items = [
        {
            "Timestamp": datetime(2026, 12, 1, 12, 0, 2, tzinfo=UTC),
            "HistorySummary": f"Failed to execute action {TOPIC}",
            "HistoryData": json.dumps({"actionState": "Failed", "error": denied}),
        },
        {
            "Timestamp": datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC),
            "HistorySummary": f"Successfully executed action {TOPIC}",
            "HistoryData": json.dumps({"actionState": "Succeeded"}),
        },
    ]
    assert action_lines(items) == [
        f"Successfully executed action {TOPIC}",
        f"Failed to execute action {TOPIC}: {denied}",
    ]
    earlier = {  # a second earlier, another run's OK notification: not this run's
        "Timestamp": datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC),
        "HistorySummary": f"Successfully executed action {TOPIC}",
        "HistoryData": json.dumps({"publishedMessage": json.dumps({"NewStateReason": "mlops smoke-test run-1: over"})}),
    }
    items[0]["HistoryData"] = json.dumps(
        {"error": denied, "publishedMessage": json.dumps({"NewStateReason": "mlops smoke-test run-2: a test"})}
    )
    assert action_lines([earlier, *items], "run-2") == [
        f"Successfully executed action {TOPIC}",  # no message in its data: kept
        f"Failed to execute action {TOPIC}: {denied}",
    ]


def test_subscribers_are_named_and_unconfirmed_ones_called_out() -> None:
    ours = {"SubscriptionArn": f"{TOPIC}:1", "Protocol": "sqs", "Endpoint": "arn:aws:sqs:q"}
    confirmed = {"SubscriptionArn": f"{TOPIC}:2", "Protocol": "email", "Endpoint": "ops@example.com"}
    pending = {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "new@example.com"}
    assert subscribers_note([ours, confirmed], ours["SubscriptionArn"]) == "also delivered to ops@example.com (email)"
    assert subscribers_note([ours, pending], ours["SubscriptionArn"]) == (
        "also delivered to nobody else; not confirmed, so receiving nothing: new@example.com (email)"
    )
    assert subscribers_note([ours], ours["SubscriptionArn"]).startswith("the topic has no other subscriber")


def test_the_summary_passes_only_when_every_step_passed() -> None:
    ok = [StepResult("deployment", "ok", 0.2, "account 1"), StepResult("train", "ok", 95.0, "v1")]
    assert summary_text(ok, 95.2) == "smoke test passed: 2 of 2 steps in 1 min 35 s"
    assert summary_document(ok, 95.2, "r")["passed"] is True
    mixed = [*ok, StepResult("upload", "failed", 3.0, "REJECTED"), StepResult("predict", "skipped", 0.0, "-")]
    assert summary_text(mixed, 12.34) == (
        "smoke test FAILED: 1 of 4 steps failed (upload); 1 skipped (predict), in 12.3 s"
    )
    document = summary_document(mixed, 12.34, "r")
    assert document["passed"] is False and [s["status"] for s in document["steps"]][-2:] == ["failed", "skipped"]
    assert summary_document([], 0.0, "r")["passed"] is False
    assert StepResult("upload", "failed", 3.04, "REJECTED s3://b/k").line() == (
        "FAIL  upload        3.0 s  REJECTED s3://b/k"
    )


class _Scripted(SmokeTest):
    """The run's bookkeeping with steps that touch nothing: upload fails, the alarm raises an AWS error."""

    def _done(self) -> tuple[str, dict[str, Any]]:
        return "done", {}

    step_deployment = step_health = step_contract = step_config = _done

    def step_upload(self) -> tuple[str, dict[str, Any]]:
        raise StepError("REJECTED s3://raw/raw/smoke-test/x.csv: 2 failures")

    def step_alarm(self) -> tuple[str, dict[str, Any]]:
        raise RuntimeError("AccessDenied: not allowed to sns:Subscribe")


def test_a_failed_step_skips_what_needs_it_and_the_rest_still_runs() -> None:
    lines: list[str] = []
    results = _Scripted(Target(dict(OUTPUTS)), say=lines.append, run_id="r").run()
    assert [(r.name, r.status) for r in results] == [
        ("deployment", "ok"),
        ("health", "ok"),
        ("contract", "ok"),
        ("config", "ok"),
        ("upload", "failed"),
        ("train", "skipped"),
        ("predict", "skipped"),
        ("alarm", "failed"),
    ]
    assert results[5].detail == "not run: upload did not pass"
    assert results[7].detail == "RuntimeError: AccessDenied: not allowed to sns:Subscribe"
    assert lines[-1].startswith("smoke test FAILED: 2 of 8 steps failed (upload, alarm); 2 skipped (train, predict)")
    assert len(lines) == 1 + 8 + 1  # the opening line, one line per step, the summary


def test_the_command_exits_1_when_a_step_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlopsctl.smoke
    from mlopsctl.commands.smoke_test import smoke_test

    monkeypatch.setattr(mlopsctl.smoke, "SmokeTest", _Scripted)
    monkeypatch.setattr("mlopsctl.commands.smoke_test.deployment_target", lambda args: Target(dict(OUTPUTS)))
    assert smoke_test(parse_args(["smoke-test", "--json"])) == EXIT_REJECTED
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # stdout: the document alone; the step lines went to stderr
    assert document["passed"] is False and len(document["steps"]) == 8
    assert "FAIL  upload" in captured.err

    class _AllPass(_Scripted):
        step_upload = step_train = step_predict = step_alarm = _Scripted._done

    monkeypatch.setattr(mlopsctl.smoke, "SmokeTest", _AllPass)
    assert smoke_test(parse_args(["smoke-test"])) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1].startswith("smoke test passed: 8 of 8 steps")
