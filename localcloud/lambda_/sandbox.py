"""The sandbox an invocation runs in: one at a time, its own environment, output and credentials, and a timeout.

Invocations run one at a time (a chain of nested invocations counts as one): Powertools keeps
per-process state, and a real Lambda sandbox serves one request at a time. The function's variables
are set in `os.environ` for the invocation and put back after; whatever a handler prints lands in
its own log, through stand-ins for sys.stdout and sys.stderr that route by thread; the function's
role signs its calls (a thread-local, never `os.environ`); a handler past its timeout is interrupted.
"""

from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
import time
from typing import Any, TextIO

from moto.awslambda.models import LambdaFunction

from localcloud import iam
from localcloud.lambda_.runtime_state import FunctionSupplement, runtime


class LambdaTimeout(BaseException):
    """Raised inside a handler thread when the function's timeout passes (BaseException: handlers' broad
    `except Exception` must not swallow it)."""


class ChainLock:
    """A lock that a nested invocation (started from inside a running one) may enter again."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: str | None = None
        self._depth = 0

    def acquire(self, chain: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._owner not in (None, chain):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._owner = chain
            self._depth += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


runtime_lock = ChainLock()
invocation_thread = threading.local()  # .chain, .buffer


class RoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr stand-in: a thread running a handler writes to its invocation's buffer.

    Loggers keep a reference to the stream they were created with, so the stream itself must route.
    """

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(invocation_thread, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.real.write(text)

    def flush(self) -> None:
        if getattr(invocation_thread, "buffer", None) is None:
            self.real.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class SnapshotEnviron(os._Environ):  # type: ignore[type-arg,misc]
    """os.environ whose items() and copy() read one snapshot.

    An invocation sets its function's variables and removes them when it ends, while other threads
    (the harness creating a boto3 client reads every proxy variable through os.environ.items()) may
    be iterating: the stock iteration reads each key it listed and raises KeyError for one removed
    meanwhile."""

    def _snapshot(self) -> dict[str, str]:
        data = dict(self._data)  # type: ignore[attr-defined]  # one C-level copy, under the GIL
        return {self.decodekey(k): self.decodevalue(v) for k, v in data.items()}

    def items(self) -> Any:
        return self._snapshot().items()

    def copy(self) -> dict[str, str]:
        return self._snapshot()


stock_environ_class = type(os.environ)


def route_standard_streams() -> None:
    """Checked at every invocation: test runners and servers swap sys.stdout after install()."""
    if not isinstance(sys.stdout, RoutedStream):
        sys.stdout = RoutedStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RoutedStream):
        sys.stderr = RoutedStream(sys.stderr)  # type: ignore[assignment]


def environment(fn: LambdaFunction, request_id: str) -> dict[str, str]:
    extras = runtime.supplements.get(fn.function_name) or FunctionSupplement()
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": extras.log_group or fn.logs_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{request_id}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "_HANDLER": fn.handler or "",
        # No X-Ray daemon runs locally; Powertools' tracer would otherwise try to reach one.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    env.update(extras.logging.environment())
    if runtime.endpoint_url:
        env["AWS_ENDPOINT_URL"] = runtime.endpoint_url
    env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
    return env


def role_credentials(fn: LambdaFunction) -> Any:
    """The execution role's temporary credentials, as Lambda hands them to a sandbox."""
    return iam.role_credentials(fn.account_id, fn.role, fn.function_name)


def restore_environment(saved: dict[str, str | None]) -> None:
    """Put back only what the invocation set. Never `clear()`: other threads (moto's, the caller's) read
    os.environ meanwhile, and a cleared environment would show them no variables at all."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        elif os.environ.get(key) != value:
            os.environ[key] = value


class LambdaContext:
    """The context object Lambda passes to handlers."""

    def __init__(self, fn: LambdaFunction, request_id: str, deadline: float, extras: FunctionSupplement | None) -> None:
        self.function_name = fn.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.function_arn
        self.memory_limit_in_mb = int(fn.memory_size)
        self.aws_request_id = request_id
        self.log_group_name = (extras.log_group if extras else None) or fn.logs_group_name
        self.log_stream_name = f"local/{request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Interrupt a handler thread that ran past its timeout (takes effect at its next Python bytecode)."""
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type))
