"""What the local Distributed Map cannot honour fails the execution, naming the field.

Step Functions accepts Express children, S3 inventory manifests, Parquet and delimited readers, and
`WriterConfig`; moto's grammar rejects them at CreateStateMachine, and running them as something
else would be a silently different behaviour. The definition is accepted, as on AWS, and an
execution that reaches such a Map fails with `States.Runtime` naming each field (uncatchable, as
`States.Runtime` is on AWS), so a test that needs one of them shows what to run on AWS instead.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

from localcloud.stepfunctions.map_definition import settings_of
from localcloud.stepfunctions.map_failures import runtime_failure


def refusal_cause(fields: list[str]) -> str:
    return (
        f"The local cloud cannot run this Distributed Map as AWS would: it does not emulate "
        f"{', '.join(fields)}. Remove the field to run locally, or run this state machine on AWS."
    )


_original_eval_state = StateMap._eval_state


def _eval_state(self: Any, env: Any) -> None:
    settings = settings_of(self)
    if settings is not None and settings.refusals:
        raise runtime_failure(env, refusal_cause(settings.refusals))
    _original_eval_state(self, env)


def install() -> None:
    StateMap._eval_state = _eval_state


def uninstall() -> None:
    StateMap._eval_state = _original_eval_state
