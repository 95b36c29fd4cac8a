"""A function's LoggingConfig, as Lambda applies it to what an invocation leaves in CloudWatch Logs.

moto keeps no LoggingConfig. Lambda's behaviour, from its documentation
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html and
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html):

* format `Text` (the default): the platform's `START`, `END` and `REPORT` lines and the handler's
  output as printed; no level filtering (a level with `Text` is refused);
* format `JSON`: the platform lines are JSON records, `platform.start`, `platform.runtimeDone` and
  `platform.report` (whose `record.metrics` carry `durationMs`, `billedDurationMs`, `memorySizeMB`);
  the system log level keeps them at DEBUG, `platform.start` and `platform.report` at INFO (the
  default) and none of them at WARN; the application log level drops a handler's line below it,
  the level read from a JSON line's `"level"` and INFO for any other line. A dropped line is never
  ingested, so an EMF document below the level yields no metric.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Most detailed first: a line is kept when its level is at or after the configured one.
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
# What Python's and Powertools' level names mean in Lambda's scale.
_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "EXCEPTION": "ERROR"}
# Each platform record and the least detailed system level that still sends it.
_PLATFORM_RECORD_LEVEL = {"platform.start": "INFO", "platform.runtimeDone": "DEBUG", "platform.report": "INFO"}


class LoggingConfigError(ValueError):
    """A LoggingConfig Lambda refuses, with Lambda's wording."""


@dataclass(frozen=True)
class LoggingConfig:
    """`AWS::Lambda::Function` `LoggingConfig`: format and the two levels (the log group is kept apart)."""

    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None

    @classmethod
    def from_properties(cls, properties: dict[str, Any] | None) -> LoggingConfig:
        """From the template's `LoggingConfig`, refused as Lambda refuses it."""
        properties = properties or {}
        log_format = str(properties.get("LogFormat", "Text"))
        application = properties.get("ApplicationLogLevel")
        system = properties.get("SystemLogLevel")
        if log_format not in ("Text", "JSON"):
            raise LoggingConfigError(f"LogFormat {log_format!r} is not one of Text, JSON")
        if log_format == "Text" and (application or system):
            # CloudFormation's answer (quoted in aws/aws-cdk#28045, which made CDK check it at synth)
            raise LoggingConfigError(
                'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request '
                'or change the LogFormat to "Json" and try again.'
            )
        if application is not None and application not in APPLICATION_LEVELS:
            raise LoggingConfigError(
                f"ApplicationLogLevel {application!r} is not one of {', '.join(APPLICATION_LEVELS)}"
            )
        if system is not None and system not in SYSTEM_LEVELS:
            raise LoggingConfigError(f"SystemLogLevel {system!r} is not one of {', '.join(SYSTEM_LEVELS)}")
        if log_format == "JSON":  # Lambda's defaults once the format is JSON
            application, system = application or "INFO", system or "INFO"
        return cls(log_format, application, system)

    @property
    def is_json(self) -> bool:
        return self.log_format == "JSON"

    def environment(self) -> dict[str, str]:
        """What Lambda tells the runtime (Powertools' Logger follows AWS_LAMBDA_LOG_LEVEL)."""
        if not self.is_json:
            return {}
        return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": str(self.application_log_level)}


@dataclass(frozen=True)
class InvocationReport:
    """What the platform says about one finished invocation."""

    request_id: str
    duration_ms: float
    memory_mb: int
    status: str  # success | error | timeout
    error_type: str | None = None


def log_lines(config: LoggingConfig, report: InvocationReport, handler_output: str) -> list[str]:
    """The lines CloudWatch Logs receives for one invocation, in order, after Lambda's filtering."""
    handler_lines = [line for line in handler_output.splitlines() if line.strip()]
    if not config.is_json:
        return [
            f"START RequestId: {report.request_id} Version: $LATEST",
            *handler_lines,
            f"END RequestId: {report.request_id}",
            f"REPORT RequestId: {report.request_id}\tDuration: {report.duration_ms:.2f} ms\t"
            f"Memory Size: {report.memory_mb} MB",
        ]
    kept = [line for line in handler_lines if _kept(_application_level(line), config.application_log_level)]
    return [
        *_platform(config, "platform.start", {"requestId": report.request_id, "version": "$LATEST"}),
        *kept,
        *_platform(config, "platform.runtimeDone", {"requestId": report.request_id, "status": report.status}),
        *_platform(config, "platform.report", _report_record(report)),
    ]


def _report_record(report: InvocationReport) -> dict[str, Any]:
    record: dict[str, Any] = {
        "requestId": report.request_id,
        "metrics": {
            "durationMs": round(report.duration_ms, 3),
            "billedDurationMs": max(1, math.ceil(report.duration_ms)),
            "memorySizeMB": report.memory_mb,
        },
        "status": report.status,
    }
    if report.error_type:
        record["errorType"] = report.error_type
    return record


def _platform(config: LoggingConfig, kind: str, record: dict[str, Any]) -> list[str]:
    if not _kept(_PLATFORM_RECORD_LEVEL[kind], config.system_log_level, SYSTEM_LEVELS):
        return []
    line = {"time": datetime.now(tz=UTC).isoformat(timespec="milliseconds"), "type": kind, "record": record}
    return [json.dumps(line, separators=(",", ":"))]


def _application_level(line: str) -> str:
    """A JSON line's `level` in Lambda's scale; INFO for any other line (Lambda's rule)."""
    text = line.strip()
    if not text.startswith("{"):
        return "INFO"
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return "INFO"
    level = document.get("level") if isinstance(document, dict) else None
    if not isinstance(level, str):
        return "INFO"
    name = _LEVEL_ALIASES.get(level.upper(), level.upper())
    return name if name in APPLICATION_LEVELS else "INFO"


def _kept(level: str, threshold: str | None, scale: tuple[str, ...] = APPLICATION_LEVELS) -> bool:
    if threshold is None:
        return True
    return scale.index(level) >= scale.index(threshold)
