"""State machines created through CloudFormation must live in the backend that runs executions.

moto keeps Step Functions in two backends: its plain one, where its CloudFormation model creates
state machines, and its parser's, which runs executions when `execute_state_machine` is configured
(the local cloud's MOTO_CONFIG). The plain module's backends are pointed at the parser's.
"""

from __future__ import annotations


def point_cloudformation_at_executing_backend() -> None:
    """State machines created through CloudFormation must live in the backend that runs executions."""
    import moto.stepfunctions.models as plain
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    plain.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
