"""The access log: one JSON line per request, and the stage's CloudWatch Logs destination.

API Gateway writes access logs only to the log group a stage names (AccessLogSetting); moto keeps the
setting and writes nothing. Here each request is one JSON line on the gateway's own stream or file
(what `make up` writes to .local/api-access.log), and, when the stage names a log group, a line in the
stage's format (its `$context` variables that this gateway knows) in that group, as AWS writes it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import IO, Any

from moto.apigateway.models import RestAPI, Stage


class AccessLog:
    """Where a gateway's access lines go: a stream, or a file opened on first use and closed by `close()`."""

    def __init__(self, target: IO[str] | str | os.PathLike[str] | None, wall_clock: Callable[[], float]) -> None:
        self._target = target
        self._stream: IO[str] | None = None
        self._owned = False
        self._lock = threading.Lock()
        self._wall_clock = wall_clock

    def open(self) -> None:
        target = self._target
        if target is None or self._stream is not None:
            return
        if isinstance(target, (str, os.PathLike)):
            self._stream = open(target, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._stream = target

    def close(self) -> None:
        """Close a file this log opened (a stream it was given stays open)."""
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None
        self._owned = False

    def write(self, entry: dict[str, Any], stage: Stage | None, api: RestAPI | None) -> None:
        """One JSON line per request to our stream, and to the stage's CloudWatch log group if set."""
        if self._stream is None and self._target is not None:
            self.open()  # in-process use without start()
        line = json.dumps(entry, separators=(",", ":"), default=str)
        settings = (stage.access_log_settings or {}) if stage is not None else {}
        with self._lock:
            if self._stream is not None:
                self._stream.write(line + "\n")
                self._stream.flush()
            if settings.get("destinationArn") and api is not None and stage is not None:
                self._deliver_to_log_group(settings, entry, api, stage)

    def _deliver_to_log_group(
        self, settings: dict[str, Any], entry: dict[str, Any], api: RestAPI, stage: Stage
    ) -> None:
        arn = str(settings["destinationArn"])
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
            return
        region, account, group = parts[3], parts[4], parts[6]
        log_format = settings.get("format")
        message = render_access_format(str(log_format), entry) if log_format else json.dumps(entry, default=str)
        from moto.logs.models import logs_backends

        backend = logs_backends[account][region]
        if group not in backend.groups:
            return  # AWS drops the line too when the destination group is missing
        stream = f"{api.id}_{stage.name}"
        backend.ensure_log_stream(group, stream)
        backend.put_log_events(group, stream, [{"timestamp": int(self._wall_clock() * 1000), "message": message}])


_ACCESS_FORMAT_VARIABLE = re.compile(r"\$context\.([A-Za-z.]+)")
_ACCESS_FORMAT_FIELDS = {
    "requestId": "requestId",
    "extendedRequestId": "requestId",
    "identity.sourceIp": "ip",
    "httpMethod": "method",
    "path": "path",
    "resourcePath": "resourcePath",
    "status": "status",
    "responseLength": "responseLength",
    "requestTime": "requestTime",
    "identity.apiKeyId": "apiKeyId",
    "identity.caller": "caller",
    "stage": "stage",
    "apiId": "apiId",
    "responseLatency": "latencyMs",
    "integrationLatency": "integrationLatencyMs",
    "error.message": "error",
    "protocol": "protocol",
}


def render_access_format(template: str, entry: dict[str, Any]) -> str:
    """The stage's access log format with the `$context` variables this gateway knows, written as AWS
    writes them (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html):
    `$context.path` starts with the stage (`/{stage}/root/child`); latencies are whole milliseconds.
    `$context.identity.caller` is the signing access key here, where AWS writes the principal's id
    (AIDA… for a user, AROA…:session for a role)."""

    def value(match: re.Match[str]) -> str:
        variable = match.group(1)
        field = _ACCESS_FORMAT_FIELDS.get(variable)
        found = entry.get(field) if field else None
        if found is None:
            return "-"
        if variable == "path" and entry.get("stage"):
            return f"/{entry['stage']}{found}"
        if variable in ("responseLatency", "integrationLatency"):
            return str(round(float(found)))
        return str(found)

    return _ACCESS_FORMAT_VARIABLE.sub(value, template)
