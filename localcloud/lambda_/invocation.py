"""One invocation of a function: the handler run in the sandbox, its result, logs and metrics recorded.

moto's `LambdaFunction._invoke_lambda` is replaced by `invoke_lambda`, so every path that invokes a
function (boto3 `invoke`, S3 notifications, Step Functions tasks, custom resources, SNS) runs here.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
import traceback
import uuid
from typing import Any

from moto.awslambda.models import LambdaFunction

from localcloud import iam
from localcloud.cloudformation.cdk_providers import stand_in_for
from localcloud.cloudformation.custom_resources import (
    as_cloudformation_sends,
    capture_cfn_response,
    deliver_cfn_response,
)
from localcloud.lambda_.code import load_handler
from localcloud.lambda_.logging_config import InvocationReport, log_lines
from localcloud.lambda_.logs_and_metrics import logging_config, publish_metrics, save_logs, unhandled_error_lines
from localcloud.lambda_.runtime_state import Invocation, runtime
from localcloud.lambda_.sandbox import (
    LambdaContext,
    LambdaTimeout,
    environment,
    invocation_thread,
    raise_in_thread,
    restore_environment,
    role_credentials,
    route_standard_streams,
    runtime_lock,
)

log = logging.getLogger(__name__)


def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    invocation = run(self, event)
    return invocation.payload, invocation.errored, invocation.logs


def run(fn: LambdaFunction, event: Any, *, asynchronous: bool = False, attempt: int = 0) -> Invocation:
    """Run one invocation of `fn` with `event` and record it."""
    if isinstance(event, (str, bytes)):
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(event) if event else {}
    if event is None:
        event = {}
    response_capture: dict[str, Any] = {}
    if isinstance(event, dict) and "ResponseURL" in event and "RequestType" in event:
        event = as_cloudformation_sends(event)

    request_id = str(uuid.uuid4())
    timeout_s = float(fn.timeout or 3)
    chain = getattr(invocation_thread, "chain", None) or request_id
    outcome: dict[str, Any] = {}
    buffer = io.StringIO()

    started = threading.Event()

    def work() -> None:
        invocation_thread.chain = chain
        if not runtime_lock.acquire(chain, timeout=max(timeout_s, 30.0)):
            outcome["error"] = {
                "errorType": "LocalCloud.Busy",
                "errorMessage": "another invocation held the local Lambda runtime too long "
                "(a synchronous Lambda-to-Lambda call through the server is not supported locally)",
            }
            started.set()
            return
        invocation_thread.buffer = buffer
        function_env = environment(fn, request_id)
        saved_env = {key: os.environ.get(key) for key in function_env}
        began = time.monotonic()
        started.set()
        try:
            os.environ.update(function_env)
            # The function's own role signs every call it makes (thread-local, not os.environ).
            with iam.acting_as(role_credentials(fn)):
                handler = stand_in_for(fn.run_time, event) or load_handler(fn)
                context = LambdaContext(fn, request_id, began + timeout_s, runtime.supplements.get(fn.function_name))
                with capture_cfn_response(response_capture):
                    outcome["result"] = handler(event, context)
        except LambdaTimeout:
            outcome["timeout"] = True
        except Exception as exc:  # the handler's error becomes the function error, as in Lambda
            outcome["error"] = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_exception(exc)[1:],
            }
            buffer.write(unhandled_error_lines(logging_config(fn), outcome["error"]))
        finally:
            outcome["duration_ms"] = (time.monotonic() - began) * 1000
            restore_environment(saved_env)
            invocation_thread.buffer = None
            runtime_lock.release()

    route_standard_streams()
    worker = threading.Thread(target=work, name=f"lambda-{fn.function_name}", daemon=True)
    worker.start()
    started.wait()  # the timeout counts from when the handler gets the runtime, as in Lambda
    worker.join(timeout_s)
    if worker.is_alive():
        raise_in_thread(worker, LambdaTimeout)
        worker.join(2.0)
        if worker.is_alive():
            log.warning("%s is still running after its timeout (blocked outside Python code)", fn.function_name)
        outcome["timeout"] = True
    duration_ms = float(outcome.get("duration_ms", timeout_s * 1000))
    config = logging_config(fn)
    if outcome.get("timeout"):
        outcome["error"] = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
        }
        if not config.is_json:  # in JSON the platform.report record says it (status "timeout")
            buffer.write(f"Task timed out after {timeout_s:.2f} seconds\n")
    errored = "error" in outcome
    payload = json.dumps(outcome["error"] if errored else outcome.get("result"), default=str)
    status = "timeout" if outcome.get("timeout") else "error" if errored else "success"
    report = InvocationReport(
        request_id, duration_ms, int(fn.memory_size or 128), status, outcome["error"]["errorType"] if errored else None
    )
    lines = log_lines(config, report, buffer.getvalue())
    output = "".join(f"{line}\n" for line in lines)
    save_logs(fn, lines)
    publish_metrics(fn, lines, duration_ms, errored)
    if response_capture:
        deliver_cfn_response(fn, response_capture)
    invocation = Invocation(
        function_name=fn.function_name,
        request_id=request_id,
        event=event,
        payload=payload,
        errored=errored,
        duration_ms=duration_ms,
        logs=output,
        asynchronous=asynchronous,
        attempt=attempt,
    )
    runtime.history.append(invocation)
    return invocation
