"""EventBridge as the local cloud needs it: rule matching, target delivery and a schedule clock.

What moto 5.2 does with EventBridge (measured): it stores rules and targets, and `put_events`
hands each event to every rule on the bus, but

* a schedule-only rule has an empty pattern and so matches *every* `put_events`;
* disabled rules receive events too;
* Lambda, Step Functions and SNS targets raise NotImplementedError, which fails the whole
  `put_events` call;
* Input and InputPath are ignored and InputTransformer only works for JSON templates;
* schedules never fire.

This module supplies those behaviours on top of moto's own state, so the rules and targets the
CloudFormation template creates are the ones that run:

* `matches_pattern` implements EventBridge event-pattern semantics.
* `deliver(event)` matches an event against every rule on a bus and delivers it to the targets
  (Lambda as an asynchronous invoke with up to 2 retries, Step Functions `start_execution`,
  SNS `publish`, SQS `send_message`; CloudWatch Logs, archives, other buses and API destinations
  are left to moto). Services that emit events (Step Functions status changes, alarms) call it.
* `install()` / `uninstall()` (or `with installed():`) route moto's own `put_events` (and S3's
  EventBridge notifications and replays) through `deliver`'s logic.
* `Scheduler` fires ENABLED `rate(...)` / `cron(...)` rules against a clock that may run faster
  than real time, from a background thread or step by step with `advance()`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Self

from moto.events.models import EventPattern, EventsBackend, Rule, events_backends

from localcloud.schedule_expressions import (
    Schedule,
    ScheduleExpressionError,
    parse_schedule_expression,
)

__all__ = [
    "Clock",
    "Delivery",
    "Firing",
    "LambdaInvocation",
    "ManualClock",
    "ScaledClock",
    "Scheduler",
    "deliver",
    "drain",
    "install",
    "installed",
    "invoke_lambda_async",
    "is_installed",
    "matches_pattern",
    "recent_deliveries",
    "render_target_input",
    "uninstall",
]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"
LAMBDA_ASYNC_RETRIES = 2  # Lambda's default MaximumRetryAttempts for asynchronous invocation


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _iso(moment: datetime) -> str:
    """EventBridge's event time format: second precision, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time(value: Any) -> str:
    if value is None or value == "":
        return _iso(datetime.now(UTC))
    if isinstance(value, datetime):
        return _iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, (int, float)):
        return _iso(datetime.fromtimestamp(float(value), UTC))
    return str(value)


def _unix(iso_time: str) -> float:
    try:
        return datetime.fromisoformat(iso_time).timestamp()
    except ValueError:
        return time.time()


# --------------------------------------------------------------------------------------------
# Event patterns
# --------------------------------------------------------------------------------------------

_MISSING = object()


def matches_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if `event` matches the EventBridge `pattern` (a parsed JSON object).

    Semantics as documented for EventBridge: every field named in the pattern must match; a list
    holds alternatives; an event array matches if any element does; nested objects (and arrays
    of objects) are matched field by field; named filters are `prefix`, `suffix`,
    `equals-ignore-case`, `anything-but` (values, or a prefix/suffix/equals-ignore-case/wildcard),
    `numeric`, `exists`, `cidr` and `wildcard`, plus `$or`. An empty pattern matches nothing
    here: on AWS a rule without a pattern is a schedule-only rule, which `put_events` never reaches.
    """
    if not pattern:
        return False
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], obj: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, obj) for alternative in rule):
                return False
            continue
        value = obj[key] if isinstance(obj, dict) and key in obj else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING:
                # an absent object can still satisfy leaves that only ask for {"exists": false}
                if not _match_object(rule, {}):
                    return False
                continue
            candidates = value if isinstance(value, list) else [value]
            if not any(isinstance(c, dict) and _match_object(rule, c) for c in candidates):
                return False
        elif isinstance(rule, list):
            if not _match_leaf(rule, value):
                return False
        else:
            return False
    return True


def _match_leaf(matchers: Sequence[Any], value: Any) -> bool:
    present = value is not _MISSING
    if present and isinstance(value, dict):
        # `exists` only sees leaves: an object field counts as absent for it
        return any(_is_exists(m) and m["exists"] is False for m in matchers)
    elements = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if _is_exists(matcher):
            if bool(matcher["exists"]) == present:
                return True
            continue
        if present and any(_match_value(matcher, element) for element in elements):
            return True
    return False


def _is_exists(matcher: Any) -> bool:
    return isinstance(matcher, dict) and "exists" in matcher


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected) or _is_number(actual):
        return _is_number(expected) and _is_number(actual) and float(expected) == float(actual)
    return bool(expected == actual)


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    if len(matcher) != 1:
        return False
    ((name, arg),) = matcher.items()
    if name == "prefix":
        return _affix(arg, value, str.startswith)
    if name == "suffix":
        return _affix(arg, value, str.endswith)
    if name == "equals-ignore-case":
        options = arg if isinstance(arg, list) else [arg]
        return isinstance(value, str) and any(value.lower() == str(o).lower() for o in options)
    if name == "anything-but":
        if isinstance(arg, dict):
            return not _match_value(arg, value)
        options = arg if isinstance(arg, list) else [arg]
        return not any(_equal(option, value) for option in options)
    if name == "numeric":
        return _numeric(arg, value)
    if name == "cidr":
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            return False
    if name == "wildcard":
        options = arg if isinstance(arg, list) else [arg]
        return isinstance(value, str) and any(_wildcard(str(o), value) for o in options)
    log.warning("event pattern filter %r is not supported locally; treated as no match", name)
    return False


def _affix(arg: Any, value: Any, test: Callable[[str, str], bool]) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(arg, dict) and "equals-ignore-case" in arg:
        return test(value.lower(), str(arg["equals-ignore-case"]).lower())
    options = arg if isinstance(arg, list) else [arg]
    return any(isinstance(o, str) and test(value, o) for o in options)


_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


def _numeric(arg: Any, value: Any) -> bool:
    if not _is_number(value) or not isinstance(arg, list) or len(arg) % 2:
        return False
    pairs = zip(arg[::2], arg[1::2], strict=True)
    return all(op in _NUMERIC_OPS and _NUMERIC_OPS[op](float(value), float(bound)) for op, bound in pairs)


def _wildcard(pattern: str, value: str) -> bool:
    """`*` matches any run of characters; `\\*` is a literal star."""
    regex = "".join(
        ".*" if part == "*" else re.escape(part.replace("\\*", "*")) for part in re.split(r"(?<!\\)(\*)", pattern)
    )
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


# --------------------------------------------------------------------------------------------
# Target input: Input, InputPath, InputTransformer
# --------------------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def _json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (`$.detail.items[0]['odd-key']`), or _MISSING."""
    if not path.startswith("$"):
        return _MISSING
    rest, node = path[1:], document
    while rest:
        token = _PATH_TOKEN.match(rest)
        if token is None:
            return _MISSING
        name, index, quoted = token.groups()
        key = name if name is not None else quoted
        if key is not None:
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        rest = rest[token.end() :]
    return node


_VARIABLE = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _transform(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `<name>` placeholders the way EventBridge does.

    Inside a JSON string a placeholder becomes the value's text (JSON-escaped); outside one it
    becomes the value as JSON. Unknown placeholders stay; paths absent from the event become
    an empty string inside quotes and `null` outside.
    """
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
            i += 1
            continue
        placeholder = _VARIABLE.match(template, i) if char == "<" else None
        if placeholder is None or placeholder.group(1) not in variables:
            out.append(char)
            i += 1
            continue
        value = variables[placeholder.group(1)]
        if in_string:
            if value is _MISSING or value is None:
                text = ""
            elif isinstance(value, str):
                text = value
            else:
                text = json.dumps(value)
            out.append(json.dumps(text)[1:-1])
        else:
            out.append("null" if value is _MISSING else json.dumps(value))
        i = placeholder.end()
    return "".join(out)


def render_target_input(
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: float | None = None,
) -> str:
    """The text a target receives: constant Input, the InputPath part, the transformed
    InputTransformer template, or else the whole event as JSON."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = _json_path(event, str(target["InputPath"]))
        return json.dumps(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer:
        variables: dict[str, Any] = {
            name: _json_path(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        variables.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event": dict(event),
                "aws.events.event.json": dict(event),
                "aws.events.event.ingestion-time": _iso(datetime.fromtimestamp(ingestion_time or time.time(), UTC)),
            }
        )
        return _transform(str(transformer.get("InputTemplate", "")), variables)
    return json.dumps(event)


# --------------------------------------------------------------------------------------------
# Delivery to targets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One event handed to one target (what the local cloud logs and tests inspect)."""

    rule_arn: str
    target_id: str
    target_arn: str
    service: str
    ok: bool
    attempts: int = 1
    result: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class LambdaInvocation:
    ok: bool
    attempts: int
    error: str | None = None


_recent: deque[Delivery] = deque(maxlen=1000)


def recent_deliveries() -> list[Delivery]:
    """The last deliveries made (newest last), for logs, the CLI and tests."""
    return list(_recent)


def _split_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


def _max_retries(function: Any) -> int:
    for config in getattr(function, "event_invoke_config", None) or []:
        retries = getattr(config, "config", {}).get("MaximumRetryAttempts")
        if retries is not None:
            return int(retries)
    return LAMBDA_ASYNC_RETRIES


def invoke_lambda_async(function_arn: str, payload: str) -> LambdaInvocation:
    """Invoke a function as AWS does for asynchronous sources (EventBridge, SNS).

    Goes through moto's `LambdaFunction.invoke` with `InvocationType=Event`, so whatever runs
    handlers in the local cloud runs it. When `localcloud.lambda_runtime` is installed it queues Event
    invocations itself (retries, dead-letter target) and this returns at once with ok=True, as AWS's
    202 does; otherwise moto runs the handler here and a function error or an exception is retried
    up to the function's MaximumRetryAttempts (default 2), immediately, where AWS waits about 1 and
    2 minutes.
    """
    from moto.awslambda.models import lambda_backends

    _, region, account, _ = _split_arn(function_arn)
    try:
        function = lambda_backends[account][region].get_function(function_arn)
    except Exception as exc:  # unknown function: AWS drops the event
        return LambdaInvocation(False, 0, f"function not found: {exc}")
    try:
        json.loads(payload)
        body = payload
    except ValueError:
        body = json.dumps(payload)
    attempts, error = 0, None
    for _ in range(1 + _max_retries(function)):
        attempts += 1
        response_headers: dict[str, Any] = {}
        try:
            function.invoke(body, {"x-amz-invocation-type": "Event"}, response_headers)
        except Exception as exc:  # a crashing runner counts as a failed attempt
            error = f"{type(exc).__name__}: {exc}"
            continue
        if response_headers.get("x-amz-function-error"):
            error = "function error"
            continue
        return LambdaInvocation(True, attempts)
    log.warning("async invoke of %s failed after %d attempts: %s", function_arn, attempts, error)
    return LambdaInvocation(False, attempts, error)


def _check_lambda_permission(function_arn: str, rule_arn: str) -> None:
    """EventBridge invokes a function only if its resource policy allows events.amazonaws.com from
    this rule; otherwise the invocation fails (the rule's FailedInvocations) and the event goes to
    the target's dead-letter queue."""
    from moto.awslambda.models import lambda_backends

    from localcloud.iam import lambda_invoke_denial

    _, region, account, _ = _split_arn(function_arn)
    try:
        function = lambda_backends[account][region].get_function(function_arn)
    except Exception:  # an unknown function is invoke_lambda_async's to report
        return
    denial = lambda_invoke_denial(function, service="events.amazonaws.com", source_arn=rule_arn, source_account=account)
    if denial:
        raise PermissionError(denial)


def _start_execution(arn: str, payload: str) -> str:
    from moto.stepfunctions.responses import get_backend

    _, region, account, _ = _split_arn(arn)
    execution = get_backend(account, region).start_execution(arn, name=str(uuid.uuid4()), execution_input=payload)
    return str(getattr(execution, "execution_arn", None) or getattr(execution, "exec_arn", ""))


def _publish(arn: str, payload: str) -> str:
    from moto.sns.models import sns_backends

    _, region, account, _ = _split_arn(arn)
    return str(sns_backends[account][region].publish(message=payload, arn=arn))


def _send_message(arn: str, payload: str, target: Mapping[str, Any]) -> str:
    from moto.sqs.models import sqs_backends

    _, region, account, queue_name = _split_arn(arn)
    group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
    message = sqs_backends[account][region].send_message(queue_name, payload, group_id=group_id)
    return str(getattr(message, "id", ""))


def _dead_letter(target: Mapping[str, Any], rule_arn: str, payload: str, error: str) -> None:
    """EventBridge sends an undeliverable event to the target's DLQ (an SQS queue)."""
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq:
        return
    from moto.sqs.models import sqs_backends

    from localcloud.iam import queue_send_denial

    _, region, account, queue_name = _split_arn(dlq)
    denial = queue_send_denial(dlq, service="events.amazonaws.com", source_arn=rule_arn)
    if denial:  # the queue's policy must let EventBridge send for this rule, or the event is lost
        log.error("EventBridge could not send to dead-letter queue %s: %s", dlq, denial)
        return
    attributes = {
        "RULE_ARN": {"DataType": "String", "StringValue": rule_arn},
        "TARGET_ARN": {"DataType": "String", "StringValue": str(target.get("Arn"))},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:256]},
    }
    try:
        sqs_backends[account][region].send_message(queue_name, payload, message_attributes=attributes)
    except Exception:
        log.exception("could not send to dead-letter queue %s", dlq)


def _delegate_to_moto(rule: Rule, target: Mapping[str, Any], event: Mapping[str, Any], ingestion: float) -> None:
    """Targets moto already handles (logs, archives, other buses, API destinations)."""
    moto_event = dict(copy.deepcopy(event))
    moto_event["time"] = _unix(str(event["time"]))
    moto_event["ingestion-time"] = ingestion
    single = copy.copy(rule)
    single.targets = [dict(target)]
    single.event_pattern = EventPattern.load(None)  # already matched here
    _MOTO_SEND_TO_TARGETS(single, moto_event)  # type: ignore[arg-type]


def _deliver_to_target(rule: Rule, target: Mapping[str, Any], event: Mapping[str, Any], ingestion: float) -> Delivery:
    arn = str(target.get("Arn", ""))
    target_id = str(target.get("Id", ""))
    try:
        service = _split_arn(arn)[0]
    except ValueError:
        return Delivery(rule.arn, target_id, arn, "?", False, 0, error="bad target ARN")
    payload = render_target_input(target, event, rule_arn=rule.arn, rule_name=rule.name, ingestion_time=ingestion)
    try:
        if service == "lambda":
            _check_lambda_permission(arn, rule.arn)
            invocation = invoke_lambda_async(arn, payload)
            return Delivery(
                rule.arn, target_id, arn, service, invocation.ok, invocation.attempts, error=invocation.error
            )
        if service == "states":
            return Delivery(rule.arn, target_id, arn, service, True, result=_start_execution(arn, payload))
        if service == "sns":
            return Delivery(rule.arn, target_id, arn, service, True, result=_publish(arn, payload))
        if service == "sqs":
            return Delivery(rule.arn, target_id, arn, service, True, result=_send_message(arn, payload, target))
        if service in ("logs", "events"):
            _delegate_to_moto(rule, target, event, ingestion)
            return Delivery(rule.arn, target_id, arn, service, True)
    except Exception as exc:  # one failing target must not stop the others
        error = f"{type(exc).__name__}: {exc}"
        log.warning("delivery of %s to %s failed: %s", event.get("id"), arn, error)
        _dead_letter(target, rule.arn, payload, error)
        return Delivery(rule.arn, target_id, arn, service, False, error=error)
    log.warning("EventBridge target %s (%s) is not supported by the local cloud", arn, service)
    return Delivery(rule.arn, target_id, arn, service, False, 0, error="target type not supported locally")


def _deliver_to_targets(rule: Rule, event: Mapping[str, Any], ingestion: float) -> list[Delivery]:
    deliveries = [_deliver_to_target(rule, target, event, ingestion) for target in list(rule.targets)]
    _recent.extend(deliveries)
    for delivery in deliveries:
        log.info(
            "event %s via %s -> %s: %s",
            event.get("id"),
            rule.name,
            delivery.target_arn,
            "ok" if delivery.ok else delivery.error,
        )
    return deliveries


def _rule_enabled(rule: Rule) -> bool:
    return str(rule.state).upper().startswith("ENABLED")


def _rule_pattern(rule: Rule) -> dict[str, Any]:
    return dict(rule.event_pattern.get_pattern() or {})


def _normalise(raw: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """An event as a target sees it (ISO time, no moto-internal fields) and its ingestion time."""
    event = copy.deepcopy(dict(raw))
    ingestion = float(event.pop("ingestion-time", None) or time.time())
    event["time"] = _event_time(event.get("time"))
    return event, ingestion


def _deliver_if_matching(rule: Rule, raw_event: Mapping[str, Any]) -> list[Delivery]:
    if not _rule_enabled(rule):
        return []
    pattern = _rule_pattern(rule)
    if not pattern:
        return []  # schedule-only rule: only its schedule fires it
    event, ingestion = _normalise(raw_event)
    if not matches_pattern(pattern, event):
        return []
    return _deliver_to_targets(rule, event, ingestion)


def _entry_to_event(entry: Mapping[str, Any], account_id: str, region: str) -> dict[str, Any]:
    if "detail-type" in entry or "source" in entry:
        event = dict(entry)
    else:
        detail = entry.get("Detail", "{}")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry.get("DetailType"),
            "source": entry.get("Source"),
            "account": account_id,
            "time": entry.get("Time"),
            "region": region,
            "resources": list(entry.get("Resources") or []),
            "detail": json.loads(detail) if isinstance(detail, str) else detail,
        }
    event.setdefault("version", "0")
    event.setdefault("id", str(uuid.uuid4()))
    event.setdefault("account", account_id)
    event.setdefault("region", region)
    event.setdefault("resources", [])
    event.setdefault("detail", {})
    return event


def _backend(account_id: str, region: str) -> EventsBackend:
    return events_backends[account_id][region]


def _bus_rules(backend: EventsBackend, event_bus: str) -> list[Rule]:
    name = event_bus.rsplit("/", maxsplit=1)[-1] if event_bus.startswith("arn:") else event_bus
    bus = backend.event_buses.get(name)
    return list(bus.rules.values()) if bus is not None else []


def deliver(
    event: Mapping[str, Any],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str | None = None,
    event_bus: str | None = None,
) -> list[Delivery]:
    """Match one event against every rule on a bus and deliver it to the matching rules' targets.

    `event` is either a PutEvents entry (`Source`, `DetailType`, `Detail` as JSON text,
    optional `Resources`, `Time`, `EventBusName`) or a full event (`source`, `detail-type`,
    `detail`, ...). Unlike `put_events`, `aws.*` sources are allowed: this is how services emit
    their events. Synchronous; returns what was delivered.
    """
    region = region or _default_region()
    bus = event_bus or str(event.get("EventBusName") or "default")
    full = _entry_to_event(event, account_id, region)
    deliveries: list[Delivery] = []
    for rule in _bus_rules(_backend(account_id, region), bus):
        deliveries.extend(_deliver_if_matching(rule, full))
    return deliveries


# --------------------------------------------------------------------------------------------
# Hooking moto's put_events
# --------------------------------------------------------------------------------------------

_MOTO_SEND_TO_TARGETS = Rule.send_to_targets
_install_lock = threading.Lock()
_installed = False
_async_queue: queue.Queue[tuple[Rule, dict[str, Any]] | None] | None = None
_async_worker: threading.Thread | None = None


def _hooked_send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """Replaces `moto.events.models.Rule.send_to_targets` while installed."""
    del transform_input  # AWS applies a target's input settings to every event, replays included
    event = copy.deepcopy(dict(original_event))
    if _async_queue is not None:
        _async_queue.put((self, event))
        return
    _deliver_if_matching(self, event)


def _async_loop(work: queue.Queue[tuple[Rule, dict[str, Any]] | None]) -> None:
    while True:
        item = work.get()
        try:
            if item is None:
                return
            _deliver_if_matching(*item)
        except Exception:  # keep the worker alive
            log.exception("asynchronous EventBridge delivery failed")
        finally:
            work.task_done()


def install(*, asynchronous: bool = False) -> None:
    """Route moto's `put_events` (and S3→EventBridge notifications, replays) through this module.

    With `asynchronous=True` deliveries happen on one background thread, so `put_events` returns
    before targets run, as on AWS (use `drain()` to wait); the default delivers before returning,
    which keeps tests deterministic. Idempotent.
    """
    global _installed, _async_queue, _async_worker
    with _install_lock:
        if _installed:
            return
        if asynchronous:
            _async_queue = queue.Queue()
            _async_worker = threading.Thread(
                target=_async_loop, args=(_async_queue,), name="localcloud-events", daemon=True
            )
            _async_worker.start()
        Rule.send_to_targets = _hooked_send_to_targets  # type: ignore[method-assign]
        _installed = True


def uninstall() -> None:
    """Restore moto's own `Rule.send_to_targets`; waits for queued asynchronous deliveries."""
    global _installed, _async_queue, _async_worker
    with _install_lock:
        if not _installed:
            return
        Rule.send_to_targets = _MOTO_SEND_TO_TARGETS  # type: ignore[method-assign]
        if _async_queue is not None:
            _async_queue.put(None)
            if _async_worker is not None:
                _async_worker.join(timeout=30)
        _async_queue, _async_worker = None, None
        _installed = False


def is_installed() -> bool:
    return _installed


def drain(timeout: float = 30.0) -> bool:
    """Wait until queued asynchronous deliveries are done; True if the queue emptied in time."""
    work = _async_queue
    if work is None:
        return True
    deadline = time.monotonic() + timeout
    while work.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextmanager
def installed(*, asynchronous: bool = False) -> Iterator[None]:
    """`with installed():` — the put_events hook for the duration of the block."""
    install(asynchronous=asynchronous)
    try:
        yield
    finally:
        uninstall()


# --------------------------------------------------------------------------------------------
# Clocks and the scheduler
# --------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> None: ...


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)


class ScaledClock:
    """Simulated time = start + speed * real time elapsed (+ any `advance`); speed 60 turns an
    hour of schedule into a minute of wall clock."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._real_start = time.monotonic()
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_start) * self.speed
            return self._start + timedelta(seconds=elapsed) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta


@dataclass(frozen=True)
class Firing:
    """A scheduled rule firing: the event sent and where it went."""

    rule_name: str
    rule_arn: str
    scheduled_time: datetime
    event: dict[str, Any]
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class _Armed:
    expression: str
    schedule: Schedule
    anchor: datetime
    next_fire: datetime | None


class Scheduler:
    """Fires ENABLED schedule rules of one account/region to their targets.

    Rules are read from moto on every `sync()` (each tick), so rules created, changed, disabled or
    deleted through the API or CloudFormation are picked up. A rate rule's grid starts when the
    scheduler first sees it enabled (AWS: when the rule is created or enabled); a cron rule fires
    at its matching UTC minutes. Each firing's event carries its scheduled time, even when the
    scheduler catches up after a clock jump.
    """

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str | None = None,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        tick_seconds: float = 0.25,
        on_fire: Callable[[Firing], None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region or _default_region()
        self.clock: Clock = clock or ScaledClock(speed=speed, start=start)
        self.tick_seconds = tick_seconds
        self.on_fire = on_fire
        self.firings: deque[Firing] = deque(maxlen=10000)
        self._armed: dict[str, _Armed] = {}
        self._bad: set[tuple[str, str]] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading rules -------------------------------------------------------------------

    def _schedule_rules(self) -> dict[str, Rule]:
        backend = _backend(self.account_id, self.region)
        rules: dict[str, Rule] = {}
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if rule.scheduled_expression and _rule_enabled(rule):
                    rules[rule.arn] = rule
        return rules

    def sync(self) -> None:
        """Arm new or changed schedule rules and forget deleted or disabled ones."""
        with self._lock:
            now = self.clock.now().replace(microsecond=0)  # event times have second precision
            rules = self._schedule_rules()
            for arn in list(self._armed):
                if arn not in rules:
                    del self._armed[arn]
            for arn, rule in rules.items():
                expression = str(rule.scheduled_expression)
                armed = self._armed.get(arn)
                if armed is not None and armed.expression == expression:
                    continue
                try:
                    schedule = parse_schedule_expression(expression)
                except ScheduleExpressionError as exc:
                    if (arn, expression) not in self._bad:
                        self._bad.add((arn, expression))
                        log.warning("rule %s: %s; it will not fire", rule.name, exc)
                    continue
                self._armed[arn] = _Armed(expression, schedule, now, schedule.next_after(now, now))

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Rule ARN -> next scheduled time (after a `sync()`)."""
        with self._lock:
            return {arn: armed.next_fire for arn, armed in self._armed.items()}

    # -- firing ----------------------------------------------------------------------------

    def _event(self, rule: Rule, moment: datetime) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": _iso(moment),
            "region": self.region,
            "resources": [rule.arn],
            "detail": {},
        }

    def _fire(self, rule: Rule, moment: datetime) -> Firing:
        event = self._event(rule, moment)
        deliveries = _deliver_to_targets(rule, event, moment.timestamp())
        firing = Firing(rule.name, rule.arn, moment, event, deliveries)
        self.firings.append(firing)
        log.info("schedule %s fired at %s (%s)", rule.name, event["time"], rule.scheduled_expression)
        if self.on_fire is not None:
            self.on_fire(firing)
        return firing

    def run_pending(self) -> list[Firing]:
        """Fire, in time order, every firing due up to the clock's now."""
        fired: list[Firing] = []
        with self._lock:
            self.sync()
            now = self.clock.now()
            rules = self._schedule_rules()
            while True:
                due = [
                    (armed.next_fire, arn)
                    for arn, armed in self._armed.items()
                    if armed.next_fire is not None and armed.next_fire <= now and arn in rules
                ]
                if not due:
                    return fired
                moment, arn = min(due)
                armed = self._armed[arn]
                fired.append(self._fire(rules[arn], moment))
                armed.next_fire = armed.schedule.next_after(moment, armed.anchor)

    def advance(self, delta: timedelta) -> list[Firing]:
        """Move the clock forward by `delta` and fire what fell due on the way (tests, demos)."""
        with self._lock:
            self.sync()
            self.clock.advance(delta)
            return self.run_pending()

    def fire_rule(self, name: str, event_bus: str = "default") -> Firing:
        """Fire a rule now, whatever its schedule or state (a manual "run now")."""
        rule = _backend(self.account_id, self.region).describe_rule(name, event_bus)
        with self._lock:
            return self._fire(rule, self.clock.now().replace(microsecond=0))

    # -- background thread -----------------------------------------------------------------

    def start(self) -> Self:
        """Run `run_pending` every `tick_seconds` of real time on a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="localcloud-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # a bad tick must not kill the scheduler
                log.exception("scheduler tick failed")
            self._stop.wait(self.tick_seconds)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
