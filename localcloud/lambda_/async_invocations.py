"""Lambda's asynchronous invocation: a queue, two retries, then the function's dead-letter target.

S3, SNS and EventBridge invoke asynchronously, and so does `InvocationType=Event`; moto runs them
inline and drops errors. Here they queue, run one at a time, are retried twice on a function error,
and then go to the function's DeadLetterConfig target (with Lambda's RequestID, ErrorCode and
ErrorMessage attributes), written with the function's own role; a write that fails counts in
DeadLetterErrors and the event is lost, as on AWS.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any

from moto.awslambda.models import LambdaFunction

from localcloud import iam
from localcloud.lambda_.invocation import run
from localcloud.lambda_.logs_and_metrics import dead_letter_error_metrics
from localcloud.lambda_.runtime_state import Invocation, runtime
from localcloud.lambda_.sandbox import role_credentials

log = logging.getLogger(__name__)

# S3, SNS and EventBridge invoke asynchronously; Lambda retries a failed async event twice.
ASYNC_RETRY_ATTEMPTS = 2


def dead_letter_attributes(failed: Invocation) -> dict[str, str]:
    """What Lambda attaches to a dead-lettered event: the last attempt's request id, an error code and
    the first 1 KB of its error message (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    try:
        error = json.loads(failed.payload)
    except (TypeError, ValueError):
        error = {}
    message = (
        str(error.get("errorMessage") or error.get("errorType") or "function error") if isinstance(error, dict) else ""
    )
    return {"RequestID": failed.request_id, "ErrorCode": "200", "ErrorMessage": message[:1024]}


class AsyncWorker:
    """Lambda's async invocation queue: one event at a time, two retries, then the dead-letter target."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[LambdaFunction, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._guard = threading.Lock()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="lambda-async", daemon=True)
            self._thread.start()

    def submit(self, fn: LambdaFunction, event: Any) -> None:
        with self._guard:
            self._pending += 1
            self._idle.clear()
        self.start()
        self._queue.put((fn, event))

    def drain(self, timeout: float) -> None:
        if not self._idle.wait(timeout):
            raise TimeoutError(f"asynchronous Lambda invocations still running after {timeout:.0f} s")

    def _loop(self) -> None:
        while True:
            fn, event = self._queue.get()
            try:
                self._deliver(fn, event)
            except Exception:
                log.exception("async invocation of %s failed unexpectedly", fn.function_name)
            finally:
                with self._guard:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    def _deliver(self, fn: LambdaFunction, event: Any) -> None:
        for attempt in range(ASYNC_RETRY_ATTEMPTS + 1):
            last = run(fn, event, asynchronous=True, attempt=attempt)
            if not last.errored:
                return
        extras = runtime.supplements.get(fn.function_name)
        if extras and extras.dead_letter_arn and runtime.dead_letter_sink:
            try:  # Lambda writes to the dead-letter target with the function's own role
                with iam.acting_as(role_credentials(fn)):
                    runtime.dead_letter_sink(
                        fn.account_id, fn.region, extras.dead_letter_arn, event, dead_letter_attributes(last)
                    )
            except Exception as error:  # the event is lost, and DeadLetterErrors counts it, as on AWS
                log.error("%s could not write to its dead-letter target: %s", fn.function_name, error)
                if runtime.metric_sink is not None:
                    runtime.metric_sink(
                        fn.account_id, fn.region, "AWS/Lambda", dead_letter_error_metrics(fn.function_name)
                    )
        else:
            log.error(
                "async event for %s failed %d times and has no dead-letter target: dropped",
                fn.function_name,
                ASYNC_RETRY_ATTEMPTS + 1,
            )


async_worker = AsyncWorker()


def drain(timeout: float = 60.0) -> None:
    """Wait until every queued asynchronous invocation has run (S3 and Event invocations)."""
    async_worker.drain(timeout)


def invoke_async(fn: LambdaFunction, event: Any) -> None:
    """Queue an event the way Lambda's async invocation does: retried, then dead-lettered."""
    async_worker.submit(fn, event)


def send_to_dead_letter_target(
    account: str, region: str, target_arn: str, event: Any, attributes: dict[str, str]
) -> None:
    """Lambda's DeadLetterConfig: the failed event as the message body with Lambda's RequestID,
    ErrorCode and ErrorMessage attributes, through the API and so with the function's role (the
    runtime calls this acting as it): a role without sqs:SendMessage loses the event, as on AWS."""
    import boto3

    body = json.dumps(event)
    endpoint = runtime.endpoint_url
    message_attributes: Any = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v}
    if target_arn.startswith("arn:aws:sqs:"):
        queue_url = f"https://sqs.{region}.amazonaws.com/{account}/{target_arn.rsplit(':', 1)[1]}"
        boto3.client("sqs", region_name=region, endpoint_url=endpoint).send_message(
            QueueUrl=queue_url, MessageBody=body, MessageAttributes=message_attributes
        )
    elif target_arn.startswith("arn:aws:sns:"):
        boto3.client("sns", region_name=region, endpoint_url=endpoint).publish(
            TopicArn=target_arn, Message=body, MessageAttributes=message_attributes
        )
    else:
        log.error("dead-letter target %s is neither SQS nor SNS; event dropped", target_arn)
