"""What SNS sends: the notification document, the email body, and the event Lambda subscribers get."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moto.sns import models as sns_models

DEFAULT_SUBJECT = "AWS Notification Message"
SENDER = "no-reply@sns.amazonaws.com"


def sns_timestamp() -> str:
    """SNS's timestamp format: ISO 8601 with milliseconds and Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _unsubscribe_url(subscription: sns_models.Subscription) -> str:
    region = _region_of(subscription.topic.arn)
    return f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"


def notification_document(
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


def email_body(subscription: sns_models.Subscription, message: str) -> str:
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
                    "Timestamp": timestamp or sns_timestamp(),
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
