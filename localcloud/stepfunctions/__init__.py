"""Step Functions: what it publishes about executions, Distributed Map as AWS runs it, and state
machines that run when deployed.

What moto lacks: moto runs executions (with `execute_state_machine` configured) but publishes no
AWS/States metrics and no "Step Functions Execution Status Change" events, which EventBridge rules
and alarms react to (`status_changes`); and its CloudFormation model creates state machines in a
backend that does not run them (`executing_backend`). Its Distributed Map differs from AWS's: its
grammar rejects `ItemBatcher`, JSONL readers and other valid fields (`map_definition` reads them
aside), it reads one page of an S3 listing and crashes on an empty one (`s3_item_reader`), ignores
the tolerated-failure settings (`tolerated_failures`, `map_run`), has no batching (`item_batcher`),
writes an empty result manifest (`result_writer`), and what the local cloud still cannot honour
fails the execution naming the field (`map_refusals`). The role a task signs with is IAM's concern:
`localcloud.iam.task_roles`.

How it is installed: `install()` wraps moto's execution start and end to publish both, and replaces
moto's definition parser and Distributed Map steps; `uninstall()` restores them. The local cloud
calls `point_cloudformation_at_executing_backend()` before it starts moto.
"""

from localcloud.stepfunctions import (
    map_definition,
    map_refusals,
    map_run,
    result_writer,
    s3_item_reader,
    status_changes,
)
from localcloud.stepfunctions.executing_backend import point_cloudformation_at_executing_backend

_PARTS = (status_changes, map_definition, s3_item_reader, map_run, result_writer, map_refusals)


def install() -> None:
    for part in _PARTS:
        part.install()


def uninstall() -> None:
    for part in reversed(_PARTS):
        part.uninstall()


__all__ = ["install", "point_cloudformation_at_executing_backend", "uninstall"]
