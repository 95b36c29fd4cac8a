"""`mlops smoke-test` against a running local cloud (server mode, as `make up` runs it): the same
command a user runs after `cdk deploy`, expecting what AWS does."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlopsctl.main import EXIT_OK, main
from mlopsctl.smoke import SmokeTest, StepError
from mlopsctl.target import find_target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Deployment:
    cloud: LocalCloud
    outputs: Path
    inbox: Path


@dataclass
class SmokeRun:
    code: int
    document: dict[str, Any]
    lines: list[str]

    def step(self, name: str) -> dict[str, Any]:
        return next(s for s in self.document["steps"] if s["step"] == name)


@pytest.fixture(scope="module")
def deployment(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The platform in a moto server with the local gateway and a mail subscriber, as after `make up`."""
    state = tmp_path_factory.mktemp("cloud")
    with LocalCloud.server(port=_free_port(), inbox_path=state / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id, port=_free_port())
        cloud.session.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="ops@example.com"
        )
        function_urls = cloud.serve_stack_function_urls(stack)
        outputs = cloud.outputs_file(
            state / "outputs.json", api_url=gateway.url("prod") + "/", function_urls=function_urls
        )
        yield Deployment(cloud, outputs, state / "inbox.jsonl")


@pytest.fixture(scope="module")
def smoke(deployment: Deployment) -> SmokeRun:
    """One `mlops smoke-test --json` run, shared by the tests below (training is its costly part)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["smoke-test", "--outputs", str(deployment.outputs), "--notify-timeout", "5", "--json"])
    return SmokeRun(code, json.loads(out.getvalue()), err.getvalue().splitlines())


def test_each_step_up_to_predict_passes_with_one_timed_line(smoke: SmokeRun) -> None:
    for name in ("deployment", "health", "contract", "config", "upload", "train", "predict"):
        step = smoke.step(name)
        assert step["status"] == "ok", step
        (line,) = [line for line in smoke.lines if line.startswith(f"ok    {name:<10} ")]
        assert line.split()[3] == "s" and float(line.split()[2]) == pytest.approx(step["seconds"], abs=0.06)
    assert smoke.step("upload")["data"]["status"] in ("accepted", "duplicate")
    assert smoke.step("train")["data"]["promoted"] is True
    assert smoke.step("train")["data"]["model"] == "smoke-test"
    predicted = smoke.step("predict")["data"]
    assert (predicted["model"], len(predicted["predictions"])) == ("smoke-test", 3)
    assert any(line.strip().endswith("Fit candidate: logistic") for line in smoke.lines)  # training progress


def test_the_test_alarm_reaches_the_topics_subscribers(smoke: SmokeRun, deployment: Deployment) -> None:
    """On AWS, SetAlarmState runs the new state's actions: the ALARM notification reaches every
    subscriber of the alerts topic (the smoke test's queue, and the team's mail)."""
    alarm = smoke.step("alarm")
    assert alarm["status"] == "ok", alarm["detail"]
    assert smoke.code == EXIT_OK and smoke.document["passed"] is True
    assert smoke.lines[-1].startswith("smoke test passed: 8 of 8 steps in ")
    data = alarm["data"]
    assert "DeadLettersWaiting" in data["alarm"]  # the dead-letters alarm, found without naming it
    assert data["message"]["NewStateReason"].startswith(f"mlops smoke-test {smoke.document['run_id']}: ")
    assert any(line.startswith("Successfully executed action arn:aws:sns:") for line in data["actions"])
    assert data["subscribers"] == "also delivered to ops@example.com (email)"
    mails = [json.loads(line) for line in deployment.inbox.read_text().splitlines()]
    subjects = [mail["subject"] for mail in mails if data["alarm"] in mail["subject"]]
    assert subjects[-2:] == [
        f'ALARM: "{data["alarm"]}" in US East (N. Virginia)',
        f'OK: "{data["alarm"]}" in US East (N. Virginia)',
    ]


def test_it_leaves_no_queue_no_subscription_and_the_alarm_not_in_alarm(smoke: SmokeRun, deployment: Deployment) -> None:
    """Whether or not the notification arrived: the temporary queue and its subscription are gone."""
    target = find_target(deployment.outputs, None, None)
    queues = target.client("sqs").list_queues().get("QueueUrls", [])
    assert not [q for q in queues if "mlops-smoke-test-" in q]
    subscriptions = target.client("sns").list_subscriptions_by_topic(TopicArn=target.output("AlertsTopicArn"))
    assert [s["Protocol"] for s in subscriptions["Subscriptions"]] == ["email"]
    name = smoke.step("alarm")["data"]["alarm"]  # named in the step's data, passed or failed
    (alarm,) = target.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"


def test_a_refused_publish_is_reported_with_the_alarm_historys_reason(smoke: SmokeRun, deployment: Deployment) -> None:
    """A topic policy without CloudWatch's Allow (the fault the stack once shipped with): the step
    fails and quotes the alarm history's "Failed to execute action" with AWS's reason."""
    target = find_target(deployment.outputs, None, None)
    sns = target.client("sns")
    topic = target.output("AlertsTopicArn")
    policy = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    document = json.loads(policy)
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "AllowThisStacksAlarmsToPublish"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document))
    try:
        test = SmokeTest(target, say=lambda line: None, notify_timeout=2)
        with pytest.raises(StepError) as failed:
            test.step_alarm()
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=policy)
    message = str(failed.value)
    assert "no notification from " in message and "within 2 s" in message
    assert f"alarm history: Failed to execute action {topic}: " in message
    assert "not authorized to perform: sns:publish" in message.lower()  # AWS writes SNS:Publish
