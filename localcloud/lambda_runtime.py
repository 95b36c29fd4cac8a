"""Runs Lambda handlers in-process, where moto would need Docker.

moto's `LambdaFunction._invoke_lambda` is replaced so that every path that invokes a function
(boto3 `invoke`, S3 notifications, Step Functions tasks, custom resources, SNS) runs the handler
from its source directory with the function's environment, timeout, logs and metrics, as Lambda would.

Invocations run one at a time (a chain of nested invocations counts as one): Powertools keeps
per-process state, and a real Lambda sandbox serves one request at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import importlib.util
import io
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from moto import settings as moto_settings
from moto.awslambda import models as lambda_models
from moto.s3 import notifications as s3_notifications

from localcloud import iam
from localcloud.emf import MetricDatum, dead_letter_error_metrics, lambda_service_metrics, metrics_from_emf_lines

log = logging.getLogger(__name__)

_CODE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "serverless-mlops" / "lambda-code"
# S3, SNS and EventBridge invoke asynchronously; Lambda retries a failed async event twice.
ASYNC_RETRY_ATTEMPTS = 2


class LambdaTimeout(BaseException):
    """Raised inside a handler thread when the function's timeout passes (BaseException: handlers' broad
    `except Exception` must not swallow it)."""


@dataclass
class FunctionSupplement:
    """What the template says about a function that moto does not keep."""

    log_group: str | None = None
    dead_letter_arn: str | None = None


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


# (account, region, target ARN, event, message attributes): Lambda's RequestID, ErrorCode, ErrorMessage
DeadLetterSink = Callable[[str, str, str, Any, dict[str, str]], None]


@dataclass(frozen=True)
class RefusedDelivery:
    """An event a service could not deliver because a resource-based policy did not allow it."""

    service: str
    source_arn: str
    target_arn: str
    reason: str


@dataclass
class _Runtime:
    code_dirs: dict[str, Path] = field(default_factory=dict)  # zip sha256 hex -> source directory
    supplements: dict[str, FunctionSupplement] = field(default_factory=dict)  # function name -> extras
    endpoint_url: str | None = None
    history: list[Invocation] = field(default_factory=list)
    metric_sink: Callable[[str, str, str, list[MetricDatum]], None] | None = None
    dead_letter_sink: DeadLetterSink | None = None
    refused: list[RefusedDelivery] = field(default_factory=list)


_runtime = _Runtime()
_original_invoke_lambda: Callable[..., tuple[str, bool, str]] | None = None
_original_invoke: Callable[..., Any] | None = None
_original_s3_notify: Callable[..., None] | None = None


# ---------------------------------------------------------------------------------------------
# One invocation at a time, reentrant along a chain of nested invocations
# ---------------------------------------------------------------------------------------------
class _ChainLock:
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


_lock = _ChainLock()
_context = threading.local()  # .chain, .buffer


class _RoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr stand-in: a thread running a handler writes to its invocation's buffer.

    Loggers keep a reference to the stream they were created with, so the stream itself must route.
    """

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(_context, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.real.write(text)

    def flush(self) -> None:
        if getattr(_context, "buffer", None) is None:
            self.real.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


# ---------------------------------------------------------------------------------------------
# Install / configure
# ---------------------------------------------------------------------------------------------
def install(*, endpoint_url: str | None = None) -> None:
    """Patch moto so Lambda runs in-process. `endpoint_url` is set for server mode (handlers call it)."""
    global _original_invoke_lambda, _original_invoke, _original_s3_notify
    _runtime.endpoint_url = endpoint_url
    if _original_invoke_lambda is not None:
        return
    _original_invoke_lambda = lambda_models.LambdaFunction._invoke_lambda
    _original_invoke = lambda_models.LambdaFunction.invoke
    _original_s3_notify = s3_notifications._invoke_awslambda
    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = _invoke_with_type  # type: ignore[method-assign,assignment]
    s3_notifications._invoke_awslambda = _s3_notification
    _route_standard_streams()
    os.environ.__class__ = _SnapshotEnviron
    _async_worker.start()
    # moto asks Docker where its own server is (for Lambda containers and custom-resource answers) and
    # prints a warning when no Docker answers; here handlers run in this process, on this host.
    moto_settings.moto_server_host = lambda: "http://127.0.0.1"


class _SnapshotEnviron(os._Environ):  # type: ignore[type-arg,misc]
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


_stock_environ_class = type(os.environ)


def _route_standard_streams() -> None:
    """Checked at every invocation: test runners and servers swap sys.stdout after install()."""
    if not isinstance(sys.stdout, _RoutedStream):
        sys.stdout = _RoutedStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, _RoutedStream):
        sys.stderr = _RoutedStream(sys.stderr)  # type: ignore[assignment]


def uninstall() -> None:
    global _original_invoke_lambda, _original_invoke, _original_s3_notify
    if _original_invoke_lambda is None:
        return
    _async_worker.drain(timeout=60)
    lambda_models.LambdaFunction._invoke_lambda = _original_invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = _original_invoke  # type: ignore[method-assign]
    if _original_s3_notify is not None:
        s3_notifications._invoke_awslambda = _original_s3_notify
    _original_invoke_lambda = _original_invoke = _original_s3_notify = None
    os.environ.__class__ = _stock_environ_class
    if isinstance(sys.stdout, _RoutedStream):
        sys.stdout = sys.stdout.real  # type: ignore[assignment]
    if isinstance(sys.stderr, _RoutedStream):
        sys.stderr = sys.stderr.real  # type: ignore[assignment]
    reset()


def reset() -> None:
    """Forget registrations, history and loaded handler modules (between local clouds in one process).

    A handler module keeps its clients and caches at module level, as a Lambda container does; the
    next local cloud must cold-start it, or a client bound to the previous cloud's endpoint survives.
    Only the handler modules are forgotten: the core they import holds no clients, and reloading it
    would split its classes in two for anyone (a test) holding the old ones.
    """
    for name in _handler_modules:
        sys.modules.pop(name, None)
    _handler_modules.clear()
    _zip_modules.clear()
    _runtime.code_dirs.clear()
    _runtime.supplements.clear()
    _runtime.history.clear()
    _runtime.refused.clear()


def register_code(zip_sha256_hex: str, source_dir: Path) -> None:
    """Run functions whose code zip has this digest from `source_dir` (the asset's source)."""
    _runtime.code_dirs[zip_sha256_hex] = source_dir


def supplement(function_name: str, extras: FunctionSupplement) -> None:
    _runtime.supplements[function_name] = extras


def set_metric_sink(sink: Callable[[str, str, str, list[MetricDatum]], None] | None) -> None:
    """Where EMF and Lambda service metrics go: sink(account, region, namespace, data)."""
    _runtime.metric_sink = sink


def set_dead_letter_sink(sink: DeadLetterSink | None) -> None:
    """Where an async event goes after its retries: sink(account, region, target_arn, event, attributes)."""
    _runtime.dead_letter_sink = sink


def history() -> list[Invocation]:
    return list(_runtime.history)


def endpoint_url() -> str | None:
    """Where handlers reach the local cloud's APIs (None in-process)."""
    return _runtime.endpoint_url


def refused_deliveries() -> list[RefusedDelivery]:
    """S3 notifications refused by the function's resource policy (EventBridge's refusals are
    failed deliveries in `events.recent_deliveries()`)."""
    return list(_runtime.refused)


def drain(timeout: float = 60.0) -> None:
    """Wait until every queued asynchronous invocation has run (S3 and Event invocations)."""
    _async_worker.drain(timeout)


def invoke_async(fn: lambda_models.LambdaFunction, event: Any) -> None:
    """Queue an event the way Lambda's async invocation does: retried, then dead-lettered."""
    _async_worker.submit(fn, event)


# ---------------------------------------------------------------------------------------------
# The patched moto entry points
# ---------------------------------------------------------------------------------------------
def _invoke_with_type(
    self: lambda_models.LambdaFunction, body: str, request_headers: Any, response_headers: Any
) -> str | bytes:
    """moto runs `InvocationType=Event` synchronously; Lambda queues it and answers 202 at once."""
    if (request_headers or {}).get("x-amz-invocation-type") == "Event":
        invoke_async(self, json.loads(body) if body else {})
        return ""
    assert _original_invoke is not None
    return _original_invoke(self, body, request_headers, response_headers)  # type: ignore[no-any-return]


def _s3_notification(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """S3 invokes Lambda asynchronously; moto calls it inline and drops errors."""
    from moto.awslambda.utils import get_backend

    try:
        fn = get_backend(account_id, region_name).get_function(fn_arn)
    except Exception:  # S3 keeps no record of a notification to a missing function
        log.error("S3 notification to missing function %s dropped", fn_arn)
        return
    buckets = {r.get("s3", {}).get("bucket", {}).get("name") for r in (event_body or {}).get("Records", [])}
    for bucket in sorted(b for b in buckets if b):
        denial = iam.lambda_invoke_denial(
            fn, service="s3.amazonaws.com", source_arn=f"arn:aws:s3:::{bucket}", source_account=account_id
        )
        if denial:  # S3 drops the event; nothing is invoked and no error reaches anyone
            log.error("S3 notification from %s to %s refused: %s", bucket, fn.function_name, denial)
            _runtime.refused.append(
                RefusedDelivery("s3.amazonaws.com", f"arn:aws:s3:::{bucket}", fn.function_arn, denial)
            )
            return
    invoke_async(fn, _s3_event_as_aws_sends_it(event_body, account_id))


_sequence = iter(range(1, 1 << 62))


def _s3_event_as_aws_sends_it(event: Any, account_id: str) -> Any:
    """moto quotes the `/` of object keys (`in%2Ffile.csv`) where S3 keeps it, and leaves out the
    object's `versionId` and `sequencer`, which S3 sends and which tell two writes of one key apart."""
    from moto.s3.models import s3_backends

    for record in event.get("Records", []) if isinstance(event, dict) else []:
        obj = record.get("s3", {}).get("object", {})
        if "key" not in obj:
            continue
        key = urllib.parse.unquote_plus(obj["key"])
        obj["key"] = urllib.parse.quote_plus(key, safe="/")
        obj.setdefault("sequencer", f"{next(_sequence):016X}")
        bucket_name = record.get("s3", {}).get("bucket", {}).get("name")
        try:
            stored = s3_backends[account_id]["aws"].get_object(bucket_name, key)
        except Exception:  # deleted meanwhile, or not an object event
            continue
        version = getattr(stored, "version_id", None)
        if version and version != "null":
            obj.setdefault("versionId", version)
    return event


def _invoke_lambda(self: lambda_models.LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    invocation = run(self, event)
    return invocation.payload, invocation.errored, invocation.logs


def run(fn: lambda_models.LambdaFunction, event: Any, *, asynchronous: bool = False, attempt: int = 0) -> Invocation:
    """Run one invocation of `fn` with `event` and record it."""
    if isinstance(event, (str, bytes)):
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(event) if event else {}
    if event is None:
        event = {}
    response_capture: dict[str, Any] = {}
    if isinstance(event, dict) and "ResponseURL" in event and "RequestType" in event:
        event = _as_cloudformation_sends(event)

    request_id = str(uuid.uuid4())
    timeout_s = float(fn.timeout or 3)
    chain = getattr(_context, "chain", None) or request_id
    outcome: dict[str, Any] = {}
    buffer = io.StringIO()

    started = threading.Event()

    def work() -> None:
        _context.chain = chain
        if not _lock.acquire(chain, timeout=max(timeout_s, 30.0)):
            outcome["error"] = {
                "errorType": "LocalCloud.Busy",
                "errorMessage": "another invocation held the local Lambda runtime too long "
                "(a synchronous Lambda-to-Lambda call through the server is not supported locally)",
            }
            started.set()
            return
        _context.buffer = buffer
        function_env = _environment(fn, request_id)
        saved_env = {key: os.environ.get(key) for key in function_env}
        began = time.monotonic()
        started.set()
        try:
            os.environ.update(function_env)
            # The function's own role signs every call it makes (thread-local, not os.environ).
            with iam.acting_as(_role_credentials(fn)):
                handler = _load_handler(fn)
                context = _LambdaContext(fn, request_id, began + timeout_s, _runtime.supplements.get(fn.function_name))
                buffer.write(f"START RequestId: {request_id} Version: $LATEST\n")
                with _capture_cfn_response(response_capture):
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
            buffer.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}")
        finally:
            outcome["duration_ms"] = (time.monotonic() - began) * 1000
            _restore_environment(saved_env)
            _context.buffer = None
            _lock.release()

    _route_standard_streams()
    worker = threading.Thread(target=work, name=f"lambda-{fn.function_name}", daemon=True)
    worker.start()
    started.wait()  # the timeout counts from when the handler gets the runtime, as in Lambda
    worker.join(timeout_s)
    if worker.is_alive():
        _raise_in_thread(worker, LambdaTimeout)
        worker.join(2.0)
        if worker.is_alive():
            log.warning("%s is still running after its timeout (blocked outside Python code)", fn.function_name)
        outcome["timeout"] = True
    duration_ms = float(outcome.get("duration_ms", timeout_s * 1000))
    if outcome.get("timeout"):
        outcome["error"] = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
        }
        buffer.write(f"Task timed out after {timeout_s:.2f} seconds\n")
    errored = "error" in outcome
    payload = json.dumps(outcome["error"] if errored else outcome.get("result"), default=str)
    buffer.write(f"END RequestId: {request_id}\n")
    buffer.write(f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tMemory Size: {fn.memory_size} MB\n")
    output = buffer.getvalue()
    _save_logs(fn, output)
    _publish_metrics(fn, output, duration_ms, errored)
    if response_capture:
        _deliver_cfn_response(fn, response_capture)
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
    _runtime.history.append(invocation)
    return invocation


# ---------------------------------------------------------------------------------------------
# Handler loading and environment
# ---------------------------------------------------------------------------------------------
def _load_handler(fn: lambda_models.LambdaFunction) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = (fn.handler or "").rpartition(".")
    if not module_name:
        raise ValueError(f"function {fn.function_name} has handler {fn.handler!r}; expected module.function")
    source_dir = _runtime.code_dirs.get(getattr(fn, "code_digest", "") or "")
    if source_dir is not None:
        if str(source_dir) not in sys.path:
            sys.path.insert(0, str(source_dir))
        module = importlib.import_module(module_name)
        _handler_modules.add(module_name)
    else:
        module = _module_from_zip(fn, module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{attribute}' missing on module '{module_name}' of {fn.function_name}")
    return handler  # type: ignore[no-any-return]


_zip_modules: dict[tuple[str, str], ModuleType] = {}
_handler_modules: set[str] = set()


def _module_from_zip(fn: lambda_models.LambdaFunction, module_name: str) -> ModuleType:
    """Code with no known source directory (inline code, uploaded zips) runs from its own zip."""
    digest = getattr(fn, "code_digest", None) or hashlib.sha256(fn.code_bytes).hexdigest()
    cached = _zip_modules.get((digest, module_name))
    if cached is not None:
        return cached
    target = _CODE_CACHE / digest
    if not target.exists():
        staging = target.with_name(f"{digest}.{uuid.uuid4().hex}")
        with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
            archive.extractall(staging)
        with contextlib.suppress(OSError):  # another process extracted it first
            staging.rename(target)
    path = target / (module_name.replace(".", "/") + ".py")
    if not path.exists():
        raise ModuleNotFoundError(f"No module named '{module_name}' in the code of {fn.function_name}")
    if str(target) not in sys.path:
        sys.path.append(str(target))  # sibling modules of single-file handlers (e.g. cfnresponse)
    spec = importlib.util.spec_from_file_location(f"_lambda_{digest[:16]}_{module_name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _zip_modules[(digest, module_name)] = module
    return module


def _environment(fn: lambda_models.LambdaFunction, request_id: str) -> dict[str, str]:
    extras = _runtime.supplements.get(fn.function_name) or FunctionSupplement()
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
    if _runtime.endpoint_url:
        env["AWS_ENDPOINT_URL"] = _runtime.endpoint_url
    env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
    return env


def _role_credentials(fn: lambda_models.LambdaFunction) -> Any:
    """The execution role's temporary credentials, as Lambda hands them to a sandbox."""
    return iam.role_credentials(fn.account_id, fn.role, fn.function_name)


def _restore_environment(saved: dict[str, str | None]) -> None:
    """Put back only what the invocation set. Never `clear()`: other threads (moto's, the caller's) read
    os.environ meanwhile, and a cleared environment would show them no variables at all."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        elif os.environ.get(key) != value:
            os.environ[key] = value


class _LambdaContext:
    """The context object Lambda passes to handlers."""

    def __init__(
        self, fn: lambda_models.LambdaFunction, request_id: str, deadline: float, extras: FunctionSupplement | None
    ) -> None:
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


def _raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Interrupt a handler thread that ran past its timeout (takes effect at its next Python bytecode)."""
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type))


# ---------------------------------------------------------------------------------------------
# Logs and metrics
# ---------------------------------------------------------------------------------------------
def _save_logs(fn: lambda_models.LambdaFunction, output: str) -> None:
    extras = _runtime.supplements.get(fn.function_name)
    group = (extras.log_group if extras else None) or fn.logs_group_name
    try:
        logs_backend = fn.logs_backend
        if group not in logs_backend.groups:
            logs_backend.create_log_group(group, {})
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        logs_backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in output.splitlines() if line.strip()]
        if events:
            logs_backend.put_log_events(group, stream, events)
    except Exception:  # logs are a convenience; never fail an invocation over them
        log.exception("could not store logs of %s", fn.function_name)


def _publish_metrics(fn: lambda_models.LambdaFunction, output: str, duration_ms: float, errored: bool) -> None:
    sink = _runtime.metric_sink
    if sink is None:
        return
    for namespace, data in metrics_from_emf_lines(output.splitlines()).items():
        sink(fn.account_id, fn.region, namespace, data)
    sink(fn.account_id, fn.region, "AWS/Lambda", lambda_service_metrics(fn.function_name, duration_ms, errored))


# ---------------------------------------------------------------------------------------------
# CloudFormation custom resources
# ---------------------------------------------------------------------------------------------
def _as_cloudformation_sends(event: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation sends custom-resource properties as strings; moto passes JSON types."""

    def stringify(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, dict):
            return {k: stringify(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stringify(v) for v in value]
        return value

    event = dict(event)
    for key in ("ResourceProperties", "OldResourceProperties"):
        if key in event:
            event[key] = {k: (v if k == "ServiceToken" else stringify(v)) for k, v in event[key].items()}
    return event


@contextlib.contextmanager
def _capture_cfn_response(capture: dict[str, Any]) -> Iterator[None]:
    """Custom-resource handlers PUT their result to a pre-signed URL; keep it instead of sending it."""
    import urllib.request

    real_urlopen = urllib.request.urlopen

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> Any:
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        if "cfnresponse" in url:
            data: Any = request.data if isinstance(request, urllib.request.Request) else kwargs.get("data")
            capture["body"] = json.loads(data.decode() if isinstance(data, bytes) else str(data))
            return io.BytesIO(b"")
        return real_urlopen(request, *args, **kwargs)

    urllib.request.urlopen = urlopen  # type: ignore[assignment]
    try:
        yield
    finally:
        urllib.request.urlopen = real_urlopen


def _deliver_cfn_response(fn: lambda_models.LambdaFunction, capture: dict[str, Any]) -> None:
    """Hand the custom resource's answer to moto's stack, including failures moto would ignore."""
    from moto.cloudformation.models import cloudformation_backends

    from localcloud.cfn_resources import stack_creation_lock

    body = capture["body"]
    backend = cloudformation_backends[fn.account_id][fn.region]
    stack = backend.get_stack(body["StackId"])
    if body.get("Status") == "SUCCESS":
        stack.get_custom_resource(body["LogicalResourceId"]).set_data(body.get("Data") or {})
        with stack_creation_lock:  # after moto's own creation pass, never beside it
            stack.verify_readiness()
    else:
        reason = body.get("Reason") or "custom resource failed"
        log.error("custom resource %s failed: %s", body.get("LogicalResourceId"), reason)
        stack.status = "CREATE_FAILED"
        stack.status_reason = f"{body.get('LogicalResourceId')}: {reason}"


# ---------------------------------------------------------------------------------------------
# Asynchronous invocations: queue, retries, dead-letter
# ---------------------------------------------------------------------------------------------
def _dead_letter_attributes(failed: Invocation) -> dict[str, str]:
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


class _AsyncWorker:
    """Lambda's async invocation queue: one event at a time, two retries, then the dead-letter target."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[lambda_models.LambdaFunction, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._guard = threading.Lock()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="lambda-async", daemon=True)
            self._thread.start()

    def submit(self, fn: lambda_models.LambdaFunction, event: Any) -> None:
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

    def _deliver(self, fn: lambda_models.LambdaFunction, event: Any) -> None:
        for attempt in range(ASYNC_RETRY_ATTEMPTS + 1):
            last = run(fn, event, asynchronous=True, attempt=attempt)
            if not last.errored:
                return
        extras = _runtime.supplements.get(fn.function_name)
        if extras and extras.dead_letter_arn and _runtime.dead_letter_sink:
            try:  # Lambda writes to the dead-letter target with the function's own role
                with iam.acting_as(_role_credentials(fn)):
                    _runtime.dead_letter_sink(
                        fn.account_id, fn.region, extras.dead_letter_arn, event, _dead_letter_attributes(last)
                    )
            except Exception as error:  # the event is lost, and DeadLetterErrors counts it, as on AWS
                log.error("%s could not write to its dead-letter target: %s", fn.function_name, error)
                if _runtime.metric_sink is not None:
                    _runtime.metric_sink(
                        fn.account_id, fn.region, "AWS/Lambda", dead_letter_error_metrics(fn.function_name)
                    )
        else:
            log.error(
                "async event for %s failed %d times and has no dead-letter target: dropped",
                fn.function_name,
                ASYNC_RETRY_ATTEMPTS + 1,
            )


_async_worker = _AsyncWorker()
