"""SNS delivery moto lacks: email to a local inbox, and Lambda events in AWS's shape.

What moto 5.2's SNS `publish` does per subscription protocol (measured, `Subscription.publish`):

* ``sqs``: delivered, as the AWS notification JSON (or the raw message with RawMessageDelivery),
  filter policies applied.
* ``lambda``: the function is invoked, synchronously, with an event whose `TopicArn`,
  `MessageId`, `Timestamp` and `EventSubscriptionArn` are placeholders ("arn:aws:sns:EXAMPLE",
  a fixed id, 1970), whose `MessageAttributes` are two made-up test attributes instead of the
  message's, and whose `Subject` is "TestInvoke" when none was given.
* ``http``/``https``: POSTed with `requests`.
* ``email``/``email-json``: nothing; the message is dropped. Every subscription, email included,
  is created already confirmed.

`install()` replaces `Subscription.publish` so that email and email-json messages land in an
`Inbox` (one JSON line per mail in a file, and a readable copy on a stream, so a person running the
local cloud sees the mail they would get), and Lambda subscriptions get the real SNS event, invoked
asynchronously with Lambda's retries. SQS and HTTP stay with moto.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from moto.sns import models as sns_models

from localcloud.events import invoke_lambda_async

__all__ = [
    "DEFAULT_INBOX_PATH",
    "Inbox",
    "MailMessage",
    "install",
    "installed",
    "is_installed",
    "lambda_event",
    "uninstall",
]

log = logging.getLogger(__name__)

DEFAULT_INBOX_PATH = Path(__file__).resolve().parent.parent / ".local" / "inbox.jsonl"
EMAIL_PROTOCOLS = ("email", "email-json")
DEFAULT_SUBJECT = "AWS Notification Message"
SENDER = "no-reply@sns.amazonaws.com"


def _timestamp() -> str:
    """SNS's timestamp format: ISO 8601 with milliseconds and Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class MailMessage:
    """One email as the recipient would get it; also the JSON line written to the inbox file."""

    to: str
    subject: str
    body: str
    topic: str
    timestamp: str
    message_id: str
    sender: str = f"AWS Notifications <{SENDER}>"
    protocol: str = "email"
    subscription: str = ""


class Inbox:
    """A local mailbox: a JSON-lines file plus a readable echo on a stream.

    `path` defaults to `.local/inbox.jsonl` in the project; `stream` to the process's real standard
    output, `sys.__stdout__`, not `sys.stdout`: while a handler runs, the local Lambda runtime
    routes `sys.stdout` into that function's log, and a mail sent from a handler must still reach
    the person at the console. `echo=False` keeps it quiet.
    """

    def __init__(self, path: Path | str | None = None, *, stream: TextIO | None = None, echo: bool = True) -> None:
        self.path = Path(path) if path is not None else DEFAULT_INBOX_PATH
        self._stream = stream
        self.echo = echo
        self._lock = threading.Lock()
        self._announced: set[str] = set()

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.__stdout__ or sys.stdout

    def deliver(self, message: MailMessage) -> None:
        """Append the mail to the file and show it."""
        line = json.dumps(asdict(message), ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            if self.echo:
                self.stream.write(self.render(message))
                self.stream.flush()

    @staticmethod
    def render(message: MailMessage) -> str:
        rule = "─" * 72
        return (
            f"\n{rule}\n"
            f"📧 To:      {message.to}\n"
            f"   From:    {message.sender}\n"
            f"   Subject: {message.subject}\n"
            f"   Date:    {message.timestamp}\n"
            f"   Topic:   {message.topic}\n"
            f"{rule}\n"
            f"{message.body}\n"
            f"{rule}\n"
        )

    def announce_confirmation(self, subscription_arn: str, endpoint: str, topic_arn: str, protocol: str) -> None:
        """Say once per subscription that AWS would have waited for the recipient to confirm."""
        with self._lock:
            if subscription_arn in self._announced:
                return
            self._announced.add(subscription_arn)
            if self.echo:
                self.stream.write(
                    f"[local inbox] {protocol} subscription of {endpoint} to {topic_arn}: AWS would send a "
                    "confirmation mail and deliver nothing until it is confirmed; the local cloud treats it "
                    "as confirmed.\n"
                )
                self.stream.flush()

    def messages(self) -> list[MailMessage]:
        """Every mail in the file, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [MailMessage(**json.loads(line)) for line in handle if line.strip()]

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# What AWS sends
# --------------------------------------------------------------------------------------------


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _unsubscribe_url(subscription: sns_models.Subscription) -> str:
    region = _region_of(subscription.topic.arn)
    return f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"


def _notification(
    subscription: sns_models.Subscription,
    *,
    message: str,
    message_id: str,
    subject: str | None,
    timestamp: str,
    message_attributes: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON document SNS sends to email-json, HTTP and (non-raw) SQS endpoints."""
    region = _region_of(subscription.topic.arn)
    document: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": subscription.topic.arn,
    }
    if subject:
        document["Subject"] = subject
    document.update(
        {
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "1",
            "Signature": "EXAMPLE-local-cloud-signature",
            "SigningCertURL": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
            "UnsubscribeURL": _unsubscribe_url(subscription),
        }
    )
    if message_attributes:
        document["MessageAttributes"] = dict(message_attributes)
    return document


def _email_body(subscription: sns_models.Subscription, message: str) -> str:
    region = _region_of(subscription.topic.arn)
    return (
        f"{message}\n\n--\n"
        "If you wish to stop receiving notifications from this topic, please click or visit the link "
        "below to unsubscribe:\n"
        f"https://sns.{region}.amazonaws.com/unsubscribe.html?SubscriptionArn={subscription.arn}"
        f"&Endpoint={subscription.endpoint}\n\n"
        "Please do not reply directly to this email. If you have any questions or comments regarding "
        "this email, please contact us at https://aws.amazon.com/support"
    )


def lambda_event(
    subscription: sns_models.Subscription,
    *,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: Mapping[str, Any] | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """The event Lambda receives from an SNS subscription (one record per message)."""
    region = _region_of(subscription.topic.arn)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": subscription.topic.arn,
                    "Subject": subject or None,
                    "Message": message,
                    "Timestamp": timestamp or _timestamp(),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE-local-cloud-signature",
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
                    "UnsubscribeUrl": _unsubscribe_url(subscription),
                    "MessageAttributes": {
                        name: {"Type": value.get("Type"), "Value": value.get("Value")}
                        for name, value in (message_attributes or {}).items()
                    },
                },
            }
        ]
    }


# --------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------

_MOTO_PUBLISH = sns_models.Subscription.publish
_MOTO_SUBSCRIBE = sns_models.SNSBackend.subscribe
_state_lock = threading.Lock()
_inbox: Inbox | None = None
_lambda_events = True


def _sender(subscription: sns_models.Subscription) -> str:
    display = getattr(subscription.topic, "display_name", "") or "AWS Notifications"
    return f"{display} <{SENDER}>"


def _publish(
    self: sns_models.Subscription,
    message: str,
    message_id: str,
    *,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    """Replaces `moto.sns.models.Subscription.publish` while installed."""
    inbox = _inbox
    handled = self.protocol in EMAIL_PROTOCOLS or (self.protocol == "lambda" and _lambda_events)
    if inbox is None or not handled:
        _MOTO_PUBLISH(
            self,
            message,
            message_id,
            subject=subject,
            message_attributes=message_attributes,
            group_id=group_id,
            deduplication_id=deduplication_id,
            message_structure=message_structure,
        )
        return
    matcher = getattr(self, "_filter_policy_matcher", None)
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    timestamp = _timestamp()
    if self.protocol == "lambda":
        event = lambda_event(
            self,
            message=message,
            message_id=message_id,
            subject=subject,
            message_attributes=message_attributes,
            timestamp=timestamp,
        )
        result = invoke_lambda_async(self.endpoint, json.dumps(event))
        if not result.ok:
            log.warning("SNS delivery to %s failed after %d attempts: %s", self.endpoint, result.attempts, result.error)
        return
    inbox.announce_confirmation(self.arn, self.endpoint, self.topic.arn, self.protocol)
    if self.protocol == "email-json":
        notification = _notification(
            self,
            message=message,
            message_id=message_id,
            subject=subject,
            timestamp=timestamp,
            message_attributes=message_attributes,
        )
        body = json.dumps(notification, indent=2)
    else:
        body = _email_body(self, message)
    inbox.deliver(
        MailMessage(
            to=self.endpoint,
            subject=subject or DEFAULT_SUBJECT,
            body=body,
            topic=self.topic.arn,
            timestamp=timestamp,
            message_id=message_id,
            sender=_sender(self),
            protocol=self.protocol,
            subscription=self.arn,
        )
    )


def _subscribe(self: sns_models.SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> sns_models.Subscription:
    """Replaces `SNSBackend.subscribe` while installed: announces email subscriptions once."""
    subscription = _MOTO_SUBSCRIBE(self, topic_arn, endpoint, protocol)
    inbox = _inbox
    if inbox is not None and protocol in EMAIL_PROTOCOLS:
        inbox.announce_confirmation(subscription.arn, endpoint, topic_arn, protocol)
    return subscription


def install(inbox: Inbox | None = None, *, lambda_events: bool = True) -> Inbox:
    """Deliver SNS email to `inbox` (default: `.local/inbox.jsonl`, echoed to stdout).

    `lambda_events=True` also gives Lambda subscribers AWS's SNS event, invoked asynchronously
    (instead of moto's placeholder event, invoked synchronously). Calling again swaps the inbox.
    """
    global _inbox, _lambda_events
    with _state_lock:
        _inbox = inbox or _inbox or Inbox()
        _lambda_events = lambda_events
        sns_models.Subscription.publish = _publish  # type: ignore[method-assign]
        sns_models.SNSBackend.subscribe = _subscribe  # type: ignore[method-assign]
        return _inbox


def uninstall() -> None:
    """Give SNS delivery back to moto."""
    global _inbox
    with _state_lock:
        sns_models.Subscription.publish = _MOTO_PUBLISH  # type: ignore[method-assign]
        sns_models.SNSBackend.subscribe = _MOTO_SUBSCRIBE  # type: ignore[method-assign]
        _inbox = None


def is_installed() -> bool:
    return _inbox is not None


@contextmanager
def installed(inbox: Inbox | None = None, *, lambda_events: bool = True) -> Iterator[Inbox]:
    """`with installed(Inbox(tmp_path / "inbox.jsonl")) as inbox:` for the duration of a block."""
    active = install(inbox, lambda_events=lambda_events)
    try:
        yield active
    finally:
        uninstall()
