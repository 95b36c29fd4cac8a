"""The hooks into moto that make Lambda run here: install(), uninstall(), reset().

moto would run a function in Docker; `install()` replaces `lambda_models.LambdaFunction._invoke_lambda` (the one
path every invocation takes), `lambda_models.LambdaFunction.invoke` (so `InvocationType=Event` is queued and
answered 202) and S3's notification to Lambda, routes the standard streams, makes `os.environ` safe
to read while invocations change it, and starts the asynchronous invocation queue.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from moto import settings as moto_settings
from moto.awslambda import models as lambda_models
from moto.s3 import notifications as s3_notifications

from localcloud.lambda_ import s3_notifications as s3_to_lambda
from localcloud.lambda_.async_invocations import async_worker, invoke_async
from localcloud.lambda_.code import forget_handlers
from localcloud.lambda_.invocation import invoke_lambda
from localcloud.lambda_.runtime_state import runtime
from localcloud.lambda_.sandbox import RoutedStream, SnapshotEnviron, route_standard_streams, stock_environ_class

_original_invoke_lambda: Callable[..., tuple[str, bool, str]] | None = None
_original_invoke: Callable[..., Any] | None = None
_original_s3_notify: Callable[..., None] | None = None


def install(*, endpoint_url: str | None = None) -> None:
    """Patch moto so Lambda runs in-process. `endpoint_url` is set for server mode (handlers call it)."""
    global _original_invoke_lambda, _original_invoke, _original_s3_notify
    runtime.endpoint_url = endpoint_url
    if _original_invoke_lambda is not None:
        return
    _original_invoke_lambda = lambda_models.LambdaFunction._invoke_lambda
    _original_invoke = lambda_models.LambdaFunction.invoke
    _original_s3_notify = s3_notifications._invoke_awslambda
    lambda_models.LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = _invoke_with_type  # type: ignore[method-assign,assignment]
    s3_notifications._invoke_awslambda = s3_to_lambda.s3_notification
    route_standard_streams()
    os.environ.__class__ = SnapshotEnviron
    async_worker.start()
    # moto asks Docker where its own server is (for Lambda containers and custom-resource answers) and
    # prints a warning when no Docker answers; here handlers run in this process, on this host.
    moto_settings.moto_server_host = lambda: "http://127.0.0.1"


def uninstall() -> None:
    global _original_invoke_lambda, _original_invoke, _original_s3_notify
    if _original_invoke_lambda is None:
        return
    async_worker.drain(timeout=60)
    lambda_models.LambdaFunction._invoke_lambda = _original_invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = _original_invoke  # type: ignore[method-assign]
    if _original_s3_notify is not None:
        s3_notifications._invoke_awslambda = _original_s3_notify
    _original_invoke_lambda = _original_invoke = _original_s3_notify = None
    os.environ.__class__ = stock_environ_class
    if isinstance(sys.stdout, RoutedStream):
        sys.stdout = sys.stdout.real  # type: ignore[assignment]
    if isinstance(sys.stderr, RoutedStream):
        sys.stderr = sys.stderr.real  # type: ignore[assignment]
    reset()


def reset() -> None:
    """Forget registrations, history and loaded handler modules (between local clouds in one process).

    A handler module keeps its clients and caches at module level, as a Lambda container does; the
    next local cloud must cold-start it, or a client bound to the previous cloud's endpoint survives.
    Only the handler modules are forgotten: the core they import holds no clients, and reloading it
    would split its classes in two for anyone (a test) holding the old ones.
    """
    forget_handlers()
    runtime.code_dirs.clear()
    runtime.supplements.clear()
    runtime.history.clear()
    s3_to_lambda.refused.clear()


def _invoke_with_type(
    self: lambda_models.LambdaFunction, body: str, request_headers: Any, response_headers: Any
) -> str | bytes:
    """moto runs `InvocationType=Event` synchronously; Lambda queues it and answers 202 at once."""
    if (request_headers or {}).get("x-amz-invocation-type") == "Event":
        invoke_async(self, json.loads(body) if body else {})
        return ""
    assert _original_invoke is not None
    return _original_invoke(self, body, request_headers, response_headers)  # type: ignore[no-any-return]
