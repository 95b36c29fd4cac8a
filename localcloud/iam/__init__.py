"""IAM in the local cloud: every call a function makes is checked against its own role, as on AWS.

What AWS does and moto does not, supplied here:
- Each Lambda invocation signs its calls with credentials of its execution role, held per thread,
  never in `os.environ`; the harness, the CLI and CloudFormation sign as the operator, an
  administrator (`credentials`). Step Functions signs its tasks with the state machine's role
  (`task_roles`).
- moto matches DynamoDB, SNS, Step Functions and Lambda requests against resource `*`; here each is
  matched against its ARN, a TransactWriteItems item by item, a CopyObject also on its source
  (`checks`); conditions (`s3:prefix`, `aws:SourceArn`, ...) are evaluated, and a statement whose
  condition fails does not apply, where moto made it a Deny (`policies`, `enforcement`).
- Service principals are checked where AWS checks them: `resource_policies.service_denial` answers
  whether a resource-based policy (a function's, a topic's, a queue's, a key's) lets a service act
  for a source.
- `ledger` counts the checks per principal and action.

How it is installed: `install(account_id)` creates the operator user and replaces moto's
authorization entry points, botocore's signer and client factory, and the Step Functions
interpreter's client factory; `uninstall()` restores them. Enforcement is always on once a local
cloud runs; there is no switch for tests to turn it off.
"""

from __future__ import annotations

import os

from localcloud.iam import credentials, enforcement, task_roles
from localcloud.iam.checks import Check, normal_checks, s3_checks
from localcloud.iam.credentials import (
    OPERATOR_KEYS,
    OPERATOR_USER,
    acting_as,
    create_operator,
    current_credentials,
    role_credentials,
)
from localcloud.iam.enforcement import denial_message
from localcloud.iam.ledger import ledger, write_ledger
from localcloud.iam.policies import Decision, Request, UnsupportedConditionError, evaluate
from localcloud.iam.resource_policies import (
    lambda_invoke_denial,
    queue_send_denial,
    service_denial,
    topic_publish_denial,
)

_installed = False


def install(account_id: str) -> None:
    """Turn enforcement on (server-wide: moto's switch is a process setting) and create the operator."""
    global _installed
    create_operator(account_id)
    if _installed:
        return
    enforcement.install()
    credentials.install()
    task_roles.install()
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    ledger_path = os.environ.get("LOCALCLOUD_IAM_LEDGER")
    if ledger_path:  # e.g. to count the calls a test run checked per function
        write_ledger(ledger_path)
    enforcement.uninstall()
    credentials.uninstall()
    task_roles.uninstall()
    _installed = False


__all__ = [
    "OPERATOR_KEYS",
    "OPERATOR_USER",
    "Check",
    "Decision",
    "Request",
    "UnsupportedConditionError",
    "acting_as",
    "create_operator",
    "current_credentials",
    "denial_message",
    "evaluate",
    "install",
    "lambda_invoke_denial",
    "ledger",
    "normal_checks",
    "queue_send_denial",
    "role_credentials",
    "s3_checks",
    "service_denial",
    "topic_publish_denial",
    "uninstall",
    "write_ledger",
]
