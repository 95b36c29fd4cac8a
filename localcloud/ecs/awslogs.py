"""The `awslogs` log driver: a container's stdout and stderr, line by line, in CloudWatch Logs.

As on ECS: the stream is `<awslogs-stream-prefix>/<container name>/<task id>` in `awslogs-group`; the
group is created only with `awslogs-create-group: "true"`; the driver signs with the task's execution
role, and a stream it cannot create (no such group, or a role without `logs:CreateLogStream`) stops
the task before its container starts, with ECS's ResourceInitializationError.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from localcloud.ecs.container_launch import AwsLogs

_BATCH = 1000  # PutLogEvents takes up to 10,000 events and 1 MB; stay well under both
FLUSH_INTERVAL_S = 0.5


class LogDriverRefused(Exception):  # noqa: N818  (the driver's refusal, reported as ECS reports it)
    """The log stream could not be created; the message is the task's stoppedReason."""


def stream_name(options: AwsLogs, container: str, task_id: str) -> str:
    return f"{options.stream_prefix}/{container}/{task_id}" if options.stream_prefix else task_id


class AwsLogsStream:
    """One container's log stream: lines are buffered and put in batches, at most `FLUSH_INTERVAL_S` late."""

    def __init__(self, client: Any, options: AwsLogs, name: str) -> None:
        self._client = client
        self.group = options.group
        self.name = name
        self._create_group = options.create_group
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def open(self) -> None:
        try:
            if self._create_group:
                try:
                    self._client.create_log_group(logGroupName=self.group)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                        raise
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.name)
        except ClientError as exc:
            error = exc.response["Error"]
            raise LogDriverRefused(
                "ResourceInitializationError: failed to validate logger args: create stream has been retried "
                f"1 times: failed to create Cloudwatch log stream: {error['Code']}: {error['Message']} : "
                "exit status 1"
            ) from exc

    def add(self, line: str, timestamp: float) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(timestamp * 1000), "message": line})
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        with self._lock:  # held while sending: batches reach the stream in the order they were read
            events, self._pending = self._pending, []
            self._last_flush = time.monotonic()
            for start in range(0, len(events), _BATCH):
                self._client.put_log_events(
                    logGroupName=self.group, logStreamName=self.name, logEvents=events[start : start + _BATCH]
                )
