"""Delivery of a matched event to a rule's targets, which moto fails for Lambda, Step Functions and SNS.

Lambda targets are invoked asynchronously with Lambda's retries, behind the function's resource
policy; Step Functions executions are started, SNS topics published to and SQS queues sent to; an
event a target cannot take goes to the target's dead-letter queue (if its policy lets EventBridge
send); CloudWatch Logs, archives, other buses and API destinations are left to moto. `deliver(event)`
is how services (Step Functions status changes, alarms) emit their events.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern, EventsBackend, Rule, events_backends

from localcloud.eventbridge.event_format import default_region, entry_to_event, normalise, unix_time
from localcloud.eventbridge.patterns import matches_pattern
from localcloud.eventbridge.target_input import render_target_input
from localcloud.session import DEFAULT_ACCOUNT

log = logging.getLogger(__name__)

LAMBDA_ASYNC_RETRIES = 2  # Lambda's default MaximumRetryAttempts for asynchronous invocation
# moto's own delivery, for the targets it handles (captured before `put_events` installs its hook)
MOTO_SEND_TO_TARGETS = Rule.send_to_targets


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
    handlers in the local cloud runs it. When `localcloud.lambda_` is installed it queues Event
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
    moto_event["time"] = unix_time(str(event["time"]))
    moto_event["ingestion-time"] = ingestion
    single = copy.copy(rule)
    single.targets = [dict(target)]
    single.event_pattern = EventPattern.load(None)  # already matched here
    MOTO_SEND_TO_TARGETS(single, moto_event)  # type: ignore[arg-type]


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


def deliver_to_targets(rule: Rule, event: Mapping[str, Any], ingestion: float) -> list[Delivery]:
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


def rule_enabled(rule: Rule) -> bool:
    return str(rule.state).upper().startswith("ENABLED")


def _rule_pattern(rule: Rule) -> dict[str, Any]:
    return dict(rule.event_pattern.get_pattern() or {})


def deliver_if_matching(rule: Rule, raw_event: Mapping[str, Any]) -> list[Delivery]:
    if not rule_enabled(rule):
        return []
    pattern = _rule_pattern(rule)
    if not pattern:
        return []  # schedule-only rule: only its schedule fires it
    event, ingestion = normalise(raw_event)
    if not matches_pattern(pattern, event):
        return []
    return deliver_to_targets(rule, event, ingestion)


def events_backend(account_id: str, region: str) -> EventsBackend:
    return events_backends[account_id][region]


def _bus_rules(backend: EventsBackend, event_bus: str) -> list[Rule]:
    name = event_bus.rsplit("/", maxsplit=1)[-1] if event_bus.startswith("arn:") else event_bus
    bus = backend.event_buses.get(name)
    return list(bus.rules.values()) if bus is not None else []


def deliver(
    event: Mapping[str, Any],
    *,
    account_id: str = DEFAULT_ACCOUNT,
    region: str | None = None,
    event_bus: str | None = None,
) -> list[Delivery]:
    """Match one event against every rule on a bus and deliver it to the matching rules' targets.

    `event` is either a PutEvents entry (`Source`, `DetailType`, `Detail` as JSON text,
    optional `Resources`, `Time`, `EventBusName`) or a full event (`source`, `detail-type`,
    `detail`, ...). Unlike `put_events`, `aws.*` sources are allowed: this is how services emit
    their events. Synchronous; returns what was delivered.
    """
    region = region or default_region()
    bus = event_bus or str(event.get("EventBusName") or "default")
    full = entry_to_event(event, account_id, region)
    deliveries: list[Delivery] = []
    for rule in _bus_rules(events_backend(account_id, region), bus):
        deliveries.extend(deliver_if_matching(rule, full))
    return deliveries
