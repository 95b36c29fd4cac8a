"""What the local Lambda runtime knows beyond moto: where each function's code lives, what the
template says that moto drops, where metrics and dead letters go, and every invocation that ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.cloudwatch import MetricDatum
from localcloud.lambda_.logging_config import LoggingConfig


@dataclass
class FunctionSupplement:
    """What the template says about a function that moto does not keep."""

    log_group: str | None = None
    dead_letter_arn: str | None = None
    logging: LoggingConfig = field(default_factory=LoggingConfig)


@dataclass
class Invocation:
    """One finished invocation, kept so tests and people can see what ran."""

    function_name: str
    request_id: str
    event: Any
    payload: str
    errored: bool
    duration_ms: float
    logs: str
    asynchronous: bool = False
    attempt: int = 0


# (account, region, namespace, data): where EMF and Lambda service metrics go
MetricSink = Callable[[str, str, str, list[MetricDatum]], None]
# (account, region, target ARN, event, message attributes): Lambda's RequestID, ErrorCode, ErrorMessage
DeadLetterSink = Callable[[str, str, str, Any, dict[str, str]], None]


@dataclass
class RuntimeState:
    code_dirs: dict[str, Path] = field(default_factory=dict)  # zip sha256 hex -> source directory
    supplements: dict[str, FunctionSupplement] = field(default_factory=dict)  # function name -> extras
    endpoint_url: str | None = None
    history: list[Invocation] = field(default_factory=list)
    metric_sink: MetricSink | None = None
    dead_letter_sink: DeadLetterSink | None = None


runtime = RuntimeState()


def register_code(zip_sha256_hex: str, source_dir: Path) -> None:
    """Run functions whose code zip has this digest from `source_dir` (the asset's source)."""
    runtime.code_dirs[zip_sha256_hex] = source_dir


def supplement(function_name: str, extras: FunctionSupplement) -> None:
    runtime.supplements[function_name] = extras


def set_metric_sink(sink: MetricSink | None) -> None:
    """Where EMF and Lambda service metrics go: sink(account, region, namespace, data)."""
    runtime.metric_sink = sink


def set_dead_letter_sink(sink: DeadLetterSink | None) -> None:
    """Where an async event goes after its retries: sink(account, region, target_arn, event, attributes)."""
    runtime.dead_letter_sink = sink


def history() -> list[Invocation]:
    return list(runtime.history)


def endpoint_url() -> str | None:
    """Where handlers reach the local cloud's APIs (None in-process)."""
    return runtime.endpoint_url
