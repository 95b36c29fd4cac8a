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

Here email and email-json messages land in an `Inbox` (`inbox`: one JSON line per mail in a file,
and a readable copy on a stream, so a person running the local cloud sees the mail they would get),
and Lambda subscriptions get the real SNS event (`messages`), invoked asynchronously with Lambda's
retries. SQS and HTTP stay with moto.

How it is installed: `install(inbox)` replaces moto's `Subscription.publish` and
`SNSBackend.subscribe` (`delivery`); `uninstall()` gives delivery back to moto.
"""

from localcloud.sns.delivery import EMAIL_PROTOCOLS, install, installed, is_installed, uninstall
from localcloud.sns.inbox import DEFAULT_INBOX_PATH, Inbox, MailMessage
from localcloud.sns.messages import lambda_event

__all__ = [
    "DEFAULT_INBOX_PATH",
    "EMAIL_PROTOCOLS",
    "Inbox",
    "MailMessage",
    "install",
    "installed",
    "is_installed",
    "lambda_event",
    "uninstall",
]
