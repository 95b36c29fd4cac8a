"""The scheduler moto lacks: ENABLED `rate(...)` / `cron(...)` rules fired to their targets on a clock."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from moto.events.models import Rule

from localcloud.eventbridge.clocks import Clock, ScaledClock
from localcloud.eventbridge.event_format import default_region, iso_time
from localcloud.eventbridge.schedule_expressions import Schedule, ScheduleExpressionError, parse_schedule_expression
from localcloud.eventbridge.targets import Delivery, deliver_to_targets, events_backend, rule_enabled
from localcloud.session import DEFAULT_ACCOUNT

log = logging.getLogger(__name__)


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
        account_id: str = DEFAULT_ACCOUNT,
        region: str | None = None,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        tick_seconds: float = 0.25,
        on_fire: Callable[[Firing], None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region or default_region()
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
        backend = events_backend(self.account_id, self.region)
        rules: dict[str, Rule] = {}
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if rule.scheduled_expression and rule_enabled(rule):
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
            "time": iso_time(moment),
            "region": self.region,
            "resources": [rule.arn],
            "detail": {},
        }

    def _fire(self, rule: Rule, moment: datetime) -> Firing:
        event = self._event(rule, moment)
        deliveries = deliver_to_targets(rule, event, moment.timestamp())
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

    def advance(self, delta: timedelta, *, settle: Callable[[], None] | None = None) -> list[Firing]:
        """Move the clock forward by `delta`, stopping at each firing due on the way (tests, demos).

        The clock reads a firing's scheduled time while it is delivered, and `settle` (the cloud
        waiting for what the firing started) runs before the clock moves on: a function a schedule
        starts sees the time AWS would have started it at, and the next firing sees its effects."""
        with self._lock:
            self.sync()
            fired: list[Firing] = []
            remaining = delta
            while (upcoming := self._next_fire()) is not None:
                step = max(upcoming - self.clock.now(), timedelta(0))
                if step > remaining:
                    break
                self.clock.advance(step)
                remaining -= step
                fired_here = self.run_pending()
                fired += fired_here
                if settle is not None and fired_here:
                    settle()
            self.clock.advance(remaining)
            return fired + self.run_pending()

    def _next_fire(self) -> datetime | None:
        rules = self._schedule_rules()
        times = [a.next_fire for arn, a in self._armed.items() if a.next_fire is not None and arn in rules]
        return min(times, default=None)

    def fire_rule(self, name: str, event_bus: str = "default") -> Firing:
        """Fire a rule now, whatever its schedule or state (a manual "run now")."""
        rule = events_backend(self.account_id, self.region).describe_rule(name, event_bus)
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
