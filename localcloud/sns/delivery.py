"""The hook into moto's SNS delivery: email and email-json to the inbox, Lambda subscribers with AWS's event.

`install()` replaces `Subscription.publish` so that email and email-json messages land in an
`Inbox`, and Lambda subscriptions get the real SNS event, invoked asynchronously with Lambda's
retries; SQS and HTTP stay with moto. It also replaces `SNSBackend.subscribe`, to say once per email
subscription that AWS would have waited for a confirmation.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.sns import models as sns_models

from localcloud.eventbridge import invoke_lambda_async
from localcloud.sns.inbox import Inbox, MailMessage
from localcloud.sns.messages import (
    DEFAULT_SUBJECT,
    SENDER,
    email_body,
    lambda_event,
    notification_document,
    sns_timestamp,
)

log = logging.getLogger(__name__)

EMAIL_PROTOCOLS = ("email", "email-json")
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
    timestamp = sns_timestamp()
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
        notification = notification_document(
            self,
            message=message,
            message_id=message_id,
            subject=subject,
            timestamp=timestamp,
            message_attributes=message_attributes,
        )
        body = json.dumps(notification, indent=2)
    else:
        body = email_body(self, message)
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
