"""Step Functions: what it publishes about executions, and state machines that run when deployed.

What moto lacks: moto runs executions (with `execute_state_machine` configured) but publishes no
AWS/States metrics and no "Step Functions Execution Status Change" events, which EventBridge rules
and alarms react to (`status_changes`); and its CloudFormation model creates state machines in a
backend that does not run them (`executing_backend`). The role a task signs with is IAM's concern:
`localcloud.iam.task_roles`.

How it is installed: `install()` wraps moto's execution start and end to publish both;
`uninstall()` restores them. The local cloud calls `point_cloudformation_at_executing_backend()`
before it starts moto.
"""

from localcloud.stepfunctions.executing_backend import point_cloudformation_at_executing_backend
from localcloud.stepfunctions.status_changes import install, uninstall

__all__ = ["install", "point_cloudformation_at_executing_backend", "uninstall"]
