"""SNS delivery in the local cloud: what moto delivers itself, and email to the local inbox.

Lambda runs through moto's Lambda backend with `LambdaFunction._invoke_lambda` replaced by a
recording fake, so these tests do not depend on the local Lambda runtime.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from localcloud import sns as sns_delivery
from localcloud.sns import Inbox

REGION = "us-east-1"
ACCOUNT = "123456789012"
# one session for the module: creating clients from it is several times cheaper than boto3.client()
SESSION = boto3.Session(region_name=REGION)


@dataclass
class FakeLambda:
    """Stands in for the Lambda runtime: records (function name, event) and answers."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # function name -> errors still to raise

    def __call__(self, function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        self.calls.append((function.function_name, event))
        if self.failures.get(function.function_name, 0) > 0:
            self.failures[function.function_name] -= 1
            return json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}), True, "boom"
        return json.dumps({"ok": True}), False, ""


@pytest.fixture
def fake_lambda(monkeypatch: pytest.MonkeyPatch) -> FakeLambda:
    fake = FakeLambda()

    def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return fake(self, event)

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_lambda)
    return fake


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def sns(aws: None) -> Any:
    return SESSION.client("sns")


@pytest.fixture
def sqs(aws: None) -> Any:
    return SESSION.client("sqs")


@pytest.fixture
def local_inbox(tmp_path: Path) -> Iterator[tuple[Inbox, io.StringIO]]:
    stream = io.StringIO()
    with sns_delivery.installed(Inbox(tmp_path / "inbox.jsonl", stream=stream)) as box:
        yield box, stream
    assert not sns_delivery.is_installed()


def make_function(name: str) -> str:
    iam = SESSION.client("iam")
    try:
        role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = SESSION.client("lambda")
    return str(
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def bodies(sqs: Any, url: str) -> list[str]:
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


# ----------------------------------------------------------------------------------------------
# What moto does by itself
# ----------------------------------------------------------------------------------------------


def test_moto_drops_email_and_confirms_every_subscription(sns: Any) -> None:
    topic = sns.create_topic(Name="t")["TopicArn"]
    arn = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")["SubscriptionArn"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"  # AWS: "true" until the link is clicked
    sns.publish(TopicArn=topic, Message="hello")  # accepted, delivered nowhere


def test_moto_delivers_to_sqs_with_the_notification_envelope(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="t")["TopicArn"]
    url, arn = queue(sqs, "q")
    raw_url, raw_arn = queue(sqs, "raw")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    message_id = sns.publish(TopicArn=topic, Message="hello", Subject="greeting")["MessageId"]
    (envelope,) = [json.loads(b) for b in bodies(sqs, url)]
    assert envelope["Type"] == "Notification"
    assert (envelope["MessageId"], envelope["TopicArn"]) == (message_id, topic)
    assert (envelope["Subject"], envelope["Message"]) == ("greeting", "hello")
    assert bodies(sqs, raw_url) == ["hello"]


def test_moto_invokes_lambda_subscribers_with_placeholder_fields(sns: Any, fake_lambda: FakeLambda) -> None:
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=make_function("on-message"))
    sns.publish(TopicArn=topic, Message="hello")
    ((name, event),) = fake_lambda.calls
    record = event["Records"][0]
    assert name == "on-message"
    assert record["Sns"]["Message"] == "hello"
    # ...but the rest is made up: this is why the local cloud replaces it
    assert record["Sns"]["TopicArn"] == "arn:aws:sns:EXAMPLE"
    assert record["Sns"]["Subject"] == "TestInvoke"
    assert set(record["Sns"]["MessageAttributes"]) == {"Test", "TestBinary"}


# ----------------------------------------------------------------------------------------------
# With the local cloud's SNS delivery installed
# ----------------------------------------------------------------------------------------------


def test_email_lands_in_the_inbox_file_and_on_the_stream(sns: Any, local_inbox: tuple[Inbox, io.StringIO]) -> None:
    box, stream = local_inbox
    topic = sns.create_topic(Name="model-alerts", Attributes={"DisplayName": "MLOps"})["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ds@example.com")["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="Model v7 promoted", Subject="Promotion")["MessageId"]

    (line,) = box.path.read_text(encoding="utf-8").splitlines()
    stored = json.loads(line)
    assert {k: stored[k] for k in ("to", "subject", "topic", "message_id", "protocol", "subscription")} == {
        "to": "ds@example.com",
        "subject": "Promotion",
        "topic": topic,
        "message_id": message_id,
        "protocol": "email",
        "subscription": subscription,
    }
    assert stored["body"].startswith("Model v7 promoted\n\n--\nIf you wish to stop receiving notifications")
    assert stored["sender"] == "MLOps <no-reply@sns.amazonaws.com>"
    assert stored["timestamp"].endswith("Z")

    shown = stream.getvalue()
    assert "ds@example.com" in shown and "Subject: Promotion" in shown and "Model v7 promoted" in shown
    # AWS would have held the mail until the subscription was confirmed; said once, not per mail
    sns.publish(TopicArn=topic, Message="second")
    assert stream.getvalue().count("treats it as confirmed") == 1
    assert [m.subject for m in box.messages()] == ["Promotion", "AWS Notification Message"]


def test_email_json_gets_the_notification_document(sns: Any, local_inbox: tuple[Inbox, io.StringIO]) -> None:
    box, _ = local_inbox
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="bot@example.com")
    message_id = sns.publish(
        TopicArn=topic,
        Message="hi",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "drift"}},
    )["MessageId"]
    (mail,) = box.messages()
    document = json.loads(mail.body)
    assert document["Type"] == "Notification"
    assert (document["MessageId"], document["TopicArn"], document["Message"]) == (message_id, topic, "hi")
    assert document["MessageAttributes"]["kind"]["Value"] == "drift"
    assert "Subject" not in document


def test_filter_policies_and_message_structure_apply_to_email(sns: Any, local_inbox: tuple[Inbox, io.StringIO]) -> None:
    box, _ = local_inbox
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="email",
        Endpoint="critical@example.com",
        Attributes={"FilterPolicy": json.dumps({"severity": ["critical"]})},
    )
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="all@example.com")

    def attrs(severity: str) -> dict[str, Any]:
        return {"severity": {"DataType": "String", "StringValue": severity}}

    sns.publish(TopicArn=topic, Message="low", MessageAttributes=attrs("low"))
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"default": '{"machine": true}', "email": "A readable mail"}),
        MessageStructure="json",
        MessageAttributes=attrs("critical"),
    )
    got = [(m.to, m.body.split("\n")[0]) for m in box.messages()]
    assert got == [
        ("all@example.com", "low"),
        ("critical@example.com", "A readable mail"),
        ("all@example.com", "A readable mail"),
    ]


def test_lambda_subscribers_get_the_aws_event(sns: Any, fake_lambda: FakeLambda, local_inbox: Any) -> None:
    topic = sns.create_topic(Name="retrain")["TopicArn"]
    function = make_function("retrainer")
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"]
    message_id = sns.publish(
        TopicArn=topic,
        Message="go",
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "drift"}},
    )["MessageId"]
    ((name, event),) = fake_lambda.calls
    record = event["Records"][0]
    assert name == "retrainer"
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["MessageId"] == message_id
    assert record["Sns"]["Subject"] is None
    assert record["Sns"]["MessageAttributes"] == {"reason": {"Type": "String", "Value": "drift"}}


def test_lambda_subscribers_are_retried_like_async_invokes(sns: Any, fake_lambda: FakeLambda, local_inbox: Any) -> None:
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=make_function("flaky"))
    fake_lambda.failures["flaky"] = 2
    sns.publish(TopicArn=topic, Message="x")
    assert len(fake_lambda.calls) == 3  # two errors, then success


def test_sqs_still_goes_through_moto_while_installed(sns: Any, sqs: Any, local_inbox: Any) -> None:
    topic = sns.create_topic(Name="t")["TopicArn"]
    url, arn = queue(sqs, "q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="hello")
    assert json.loads(bodies(sqs, url)[0])["Message"] == "hello"


def test_uninstall_gives_delivery_back_to_moto(sns: Any, tmp_path: Path) -> None:
    box = sns_delivery.install(Inbox(tmp_path / "inbox.jsonl", echo=False))
    sns_delivery.uninstall()
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    sns.publish(TopicArn=topic, Message="hello")
    assert box.messages() == []


def test_default_inbox_lives_in_the_project_local_dir() -> None:
    assert sns_delivery.DEFAULT_INBOX_PATH.parts[-2:] == (".local", "inbox.jsonl")
    assert (sns_delivery.DEFAULT_INBOX_PATH.parent.parent / "pyproject.toml").exists()
