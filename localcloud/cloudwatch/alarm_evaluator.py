"""`AlarmEvaluator`: CloudWatch's alarm evaluation, which moto never does, and what a state change does.

`AlarmEvaluator(account_id, region).evaluate(now)` evaluates every metric alarm (single metric, or
metric math such as `100*m1/m2` or `SUM([m1,m2])`) over the complete periods before `now`, with AWS's
M-out-of-N and missing-data rules (`alarm_decision`), calls `set_alarm_state` on a change, publishes
the AWS alarm notification to the SNS actions of the new state (`alarm_notifications`), records each
action for the alarm history (`alarm_history`) and emits the "CloudWatch Alarm State Change" event to
EventBridge (`alarm_events`). `start()` evaluates on a background thread, as `make up` does: once
per minute of the cloud's clock, however fast it runs (`evaluate_elapsed`).

One module past 500 lines on purpose: which periods an evaluation covers, the catch-up over the
minutes a sped-up clock skipped, and the state change with its notification, history and event are
one sequence that must stay in step (an alarm may change once per evaluated minute, never twice).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)

from localcloud.cloudwatch.alarm_decision import COMPARISONS, Decision, decide
from localcloud.cloudwatch.alarm_events import emit_state_change
from localcloud.cloudwatch.alarm_history import INITIAL_REASON, action_records, keep_action_records
from localcloud.cloudwatch.alarm_notifications import (
    email_text,
    mail_subject,
    notification,
    state_reason,
    state_reason_data,
)
from localcloud.cloudwatch.metric_math import AlarmExpressionError, Array, MathParser, Series
from localcloud.cloudwatch.statistics import (
    Datapoint,
    alarm_period,
    low_sample_threshold,
    matching_datums,
    statistic,
)
from localcloud.cloudwatch.times import aws_time, utc
from localcloud.session import DEFAULT_ACCOUNT

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# At most this many elapsed minutes are evaluated in one catch-up (a cloud day); older ones are skipped
# with a warning, so a clock jumped by weeks does not stall the thread for minutes.
MAX_CATCH_UP_MINUTES = 24 * 60


@dataclass(frozen=True)
class AlarmTransition:
    """One state change, with the notification AWS would have sent."""

    alarm_name: str
    alarm_arn: str
    old_state: str
    new_state: str
    reason: str
    reason_data: dict[str, Any]
    timestamp: datetime
    message: dict[str, Any]
    subject: str
    notified: tuple[str, ...] = ()
    failed_actions: tuple[str, ...] = ()
    datapoints: tuple[Datapoint, ...] = field(default=(), repr=False)


class AlarmEvaluator:
    """Evaluates the metric alarms of one account and region in moto.

    `extra_periods` widens the evaluation range beyond EvaluationPeriods (AWS looks a few periods
    further back when recent datapoints are missing; it does not document how many).

    Only complete periods are evaluated, and they end at the evaluation minute, as AWS's alarm
    notifications show (a 300 s alarm evaluated at 11:03:03 reports 10:58, 10:53, 10:48): with now =
    12:03:30 the newest 60 s period is 12:02-12:03 and the newest 300 s period 11:58-12:03.
    High-resolution periods (10, 20, 30 s) end on their own boundary.
    """

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT,
        region: str | None = None,
        *,
        extra_periods: int = 0,
        emit_events: bool = True,
        before_evaluation: Callable[[datetime], None] | None = None,
    ) -> None:
        self.account_id = account_id
        # Metrics AWS publishes by itself each minute (SQS queue depth), brought up to `now` first.
        self.before_evaluation = before_evaluation
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.extra_periods = extra_periods
        self.emit_events = emit_events
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[tuple[str, str]] = set()
        # The newest `now` evaluated, whoever asked: evaluations only move forward in time, so a
        # catch-up never evaluates a minute older than one already evaluated (which could flip an
        # alarm back and mail it twice).
        self._evaluated_until: datetime | None = None

    @property
    def backend(self) -> CloudWatchBackend:
        return cloudwatch_backends[self.account_id][self.region]

    # -- data ------------------------------------------------------------------------------

    def _slots(self, period: int, count: int, now: datetime) -> list[datetime]:
        epoch = int(utc(now).timestamp())
        end = epoch - epoch % (60 if period >= 60 else period)
        return [datetime.fromtimestamp(end - (count - i) * period, UTC) for i in range(count)]

    def _metric_series(
        self,
        *,
        namespace: str,
        name: str,
        dimensions: Any,
        stat: str,
        unit: str | None,
        slots: Sequence[datetime],
        period: int,
    ) -> list[Datapoint]:
        buckets: dict[int, list[MetricDatumBase]] = {}
        first = slots[0]
        last_end = slots[-1] + timedelta(seconds=period)
        for timestamp, datum in matching_datums(self.backend, namespace, name, dimensions, unit):
            if first <= timestamp < last_end:
                buckets.setdefault(int((timestamp - first).total_seconds()) // period, []).append(datum)
        points: list[Datapoint] = []
        for index, start in enumerate(slots):
            datums = buckets.get(index, [])
            count = float(len([d for d in datums if isinstance(d, MetricDatum)])) + sum(
                float(d.sample_count) for d in datums if isinstance(d, MetricAggregatedDatum)
            )
            points.append(Datapoint(start, statistic(stat, datums) if datums else None, count))
        return points

    def datapoints(self, alarm: Alarm | str, now: datetime) -> list[Datapoint]:
        """The alarm's datapoints over its evaluation range before `now`, oldest first."""
        alarm = self.backend.alarms[alarm] if isinstance(alarm, str) else alarm
        period = alarm_period(alarm)
        slots = self._slots(period, int(alarm.evaluation_periods) + self.extra_periods, now)
        if not alarm.metric_data_queries:
            stat = alarm.extended_statistic or alarm.statistic
            return self._metric_series(
                namespace=alarm.namespace,
                name=alarm.metric_name,
                dimensions=alarm.dimensions,
                stat=stat,
                unit=alarm.unit,
                slots=slots,
                period=period,
            )
        return self._math_series(alarm, slots, period)

    def _math_series(self, alarm: Alarm, slots: Sequence[datetime], period: int) -> list[Datapoint]:
        queries = {q.id: q for q in alarm.metric_data_queries}
        cache_: dict[str, Series] = {}
        active: set[str] = set()

        def lookup(query_id: str) -> Series:
            if query_id in cache_:
                return cache_[query_id]
            query = queries.get(query_id)
            if query is None:
                raise AlarmExpressionError(f"unknown id {query_id!r}")
            if query_id in active:
                raise AlarmExpressionError(f"{query_id!r} refers to itself")
            active.add(query_id)
            if query.metric_stat is not None:
                stat = query.metric_stat
                points = self._metric_series(
                    namespace=stat.metric.namespace,
                    name=stat.metric.metric_name,
                    dimensions=stat.metric.dimensions,
                    stat=str(stat.stat),
                    unit=stat.unit,
                    slots=slots,
                    period=int(stat.period or period),
                )
                series: Series = [p.value for p in points]
            elif query.expression:
                value = MathParser(query.expression, lookup, all_metrics, len(slots)).parse()
                if isinstance(value, Array):
                    raise AlarmExpressionError(f"{query_id} returns several time series; an alarm needs one")
                series = value if isinstance(value, list) else [None if math.isnan(value) else value] * len(slots)
            else:
                raise AlarmExpressionError(f"query {query_id!r} has neither MetricStat nor Expression")
            active.discard(query_id)
            cache_[query_id] = series
            return series

        def all_metrics() -> list[Series]:
            return [lookup(q.id) for q in alarm.metric_data_queries if q.metric_stat is not None]

        returned = [q for q in alarm.metric_data_queries if q.return_data]
        if not returned:
            returned = [q for q in alarm.metric_data_queries if q.return_data is None and q.expression] or [
                alarm.metric_data_queries[-1]
            ]
        values = lookup(returned[0].id)
        return [Datapoint(start, value) for start, value in zip(slots, values, strict=True)]

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, now: datetime | None = None, *, changed_at: datetime | None = None) -> list[AlarmTransition]:
        """Evaluate every metric alarm at `now` (default: the real time); return the changes.

        `now` decides which periods are complete; `changed_at` (default `now`) is when a change
        happens: the StateChangeTime of the notification, the history item and the event. They
        differ when a caller looks a minute ahead to close the current period."""
        now = utc(now or datetime.now(UTC))
        stamp = utc(changed_at) if changed_at is not None else now
        if self.before_evaluation is not None:
            self.before_evaluation(now)
        transitions: list[AlarmTransition] = []
        with self._lock:
            for alarm in list(self.backend.alarms.values()):
                if alarm.rule is not None:
                    self._warn_once(alarm.name, "composite alarms are not evaluated locally")
                    continue
                try:
                    transition = self._evaluate(alarm, now, stamp)
                except AlarmExpressionError as exc:
                    self._warn_once(alarm.name, str(exc))
                    continue
                except Exception:  # one broken alarm must not stop the others
                    log.exception("alarm %s: evaluation failed", alarm.name)
                    continue
                if transition is not None:
                    transitions.append(transition)
            if self._evaluated_until is None or now > self._evaluated_until:
                self._evaluated_until = now
        return transitions

    def due_minutes(self, now: datetime) -> list[datetime]:
        """The moments `evaluate_elapsed(now)` evaluates: each minute boundary after the newest moment
        evaluated, up to `now` (the last one is `now` itself: the same complete periods), or `now`
        alone before any evaluation."""
        now = utc(now)
        if self._evaluated_until is None:
            return [now]
        first = self._evaluated_until.replace(second=0, microsecond=0) + MINUTE
        count = int((now - first) // MINUTE) + 1 if now >= first else 0
        if count <= 0:
            return []
        if count > MAX_CATCH_UP_MINUTES:
            log.warning(
                "alarms: %d cloud minutes elapsed since the last evaluation; evaluating the newest %d",
                count,
                MAX_CATCH_UP_MINUTES,
            )
            first += (count - MAX_CATCH_UP_MINUTES) * MINUTE
            count = MAX_CATCH_UP_MINUTES
        return [first + i * MINUTE for i in range(count - 1)] + [now]

    def evaluate_elapsed(self, now: datetime | None = None) -> list[AlarmTransition]:
        """Evaluate at every minute of the cloud's clock since the last evaluation, oldest first, as
        CloudWatch evaluates each minute. A clock running at `--speed 20` passes 20 minutes in a real
        one: a 5-minute period with a datapoint in it is complete, and gone, between two real-minute
        evaluations, so evaluating only at `now` would never see it. Each change is stamped with the
        minute it happened in."""
        transitions: list[AlarmTransition] = []
        for moment in self.due_minutes(now or datetime.now(UTC)):
            transitions += self.evaluate(moment)
        return transitions

    def evaluate_alarm(
        self, name: str, now: datetime | None = None, *, changed_at: datetime | None = None
    ) -> AlarmTransition | None:
        """Evaluate one alarm by name."""
        moment = utc(now or datetime.now(UTC))
        with self._lock:
            return self._evaluate(self.backend.alarms[name], moment, utc(changed_at) if changed_at else moment)

    def _warn_once(self, alarm_name: str, message: str) -> None:
        if (alarm_name, message) not in self._warned:
            self._warned.add((alarm_name, message))
            log.warning("alarm %s: %s", alarm_name, message)

    def _evaluate(self, alarm: Alarm, now: datetime, changed_at: datetime) -> AlarmTransition | None:
        if alarm.state_value == "OK" and alarm.state_reason == INITIAL_REASON and not alarm.history:
            alarm.state_value = "INSUFFICIENT_DATA"  # AWS's initial state; moto starts at OK
        if alarm.comparison_operator not in COMPARISONS:
            raise AlarmExpressionError(f"comparison {alarm.comparison_operator} is not supported locally")
        compare, _ = COMPARISONS[alarm.comparison_operator]
        threshold = float(alarm.threshold)
        points = self.datapoints(alarm, now)
        breaches = [None if p.value is None else compare(p.value, threshold) for p in points]
        treatment = alarm.treat_missing_data or "missing"
        if alarm.namespace == "AWS/DynamoDB":
            treatment = "ignore"  # documented: DynamoDB alarms always ignore missing data
        decision = decide(
            breaches,
            evaluation_periods=int(alarm.evaluation_periods),
            datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
            treat_missing=treatment,
        )
        new_state = decision.state
        if new_state is not None and self._low_samples(alarm, points, decision):
            new_state = None
        old_state = str(alarm.state_value)
        if new_state is None or new_state == old_state:
            return None
        return self._transition(
            alarm,
            now=now,
            changed_at=changed_at,
            old_state=old_state,
            new_state=new_state,
            decision=decision,
            points=points,
            treatment=treatment,
        )

    def _low_samples(self, alarm: Alarm, points: Sequence[Datapoint], decision: Decision) -> bool:
        if (alarm.evaluate_low_sample_count_percentile or "evaluate") != "ignore" or not alarm.extended_statistic:
            return False
        minimum = low_sample_threshold(alarm.extended_statistic)
        return minimum is not None and any(points[i].sample_count < minimum for i in decision.evaluated)

    # -- what a transition does ------------------------------------------------------------
    # -- what a transition does ------------------------------------------------------------

    def announce(self, alarm: Alarm, *, old_state: str, new_state: str, reason: str) -> None:
        """Run the actions and emit the event of a state change made through SetAlarmState, as AWS does
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html:
        "the alarm ... sends an SNS message")."""
        try:
            parsed = json.loads(alarm.state_reason_data or "{}")
        except (ValueError, TypeError):  # SetAlarmState takes any text as reason data
            parsed = {}
        self._announce(
            alarm,
            changed_at=datetime.now(UTC),
            old_state=old_state,
            new_state=new_state,
            reason=reason,
            reason_data=parsed if isinstance(parsed, dict) else {},
        )

    def _announce(
        self,
        alarm: Alarm,
        *,
        changed_at: datetime,
        old_state: str,
        new_state: str,
        reason: str,
        reason_data: dict[str, Any],
    ) -> tuple[dict[str, Any], str, list[str], list[str]]:
        """What every state change does, evaluated or set: the actions' notification and the
        EventBridge event. Returns (message, subject, notified, failed)."""
        message = notification(
            alarm,
            account_id=self.account_id,
            region=self.region,
            now=changed_at,
            old_state=old_state,
            new_state=new_state,
            reason=reason,
        )
        subject = mail_subject(alarm, new_state, self.region)
        notified, failed = self._run_actions(alarm, new_state, changed_at, message, subject)
        if self.emit_events:
            emit_state_change(
                alarm,
                account_id=self.account_id,
                region=self.region,
                now=changed_at,
                old_state=old_state,
                new_state=new_state,
                reason=reason,
                reason_data=reason_data,
            )
        return message, subject, notified, failed

    def _transition(
        self,
        alarm: Alarm,
        *,
        now: datetime,
        changed_at: datetime,
        old_state: str,
        new_state: str,
        decision: Decision,
        points: Sequence[Datapoint],
        treatment: str,
    ) -> AlarmTransition:
        reason = state_reason(
            alarm, new_state=new_state, old_state=old_state, decision=decision, points=points, treatment=treatment
        )
        reason_data = state_reason_data(alarm, now, decision, points)
        self.backend.set_alarm_state(alarm.name, reason, json.dumps(reason_data), new_state)
        alarm.state_updated_timestamp = changed_at.replace(tzinfo=None)  # moto keeps naive UTC times
        log.info("alarm %s: %s -> %s (%s)", alarm.name, old_state, new_state, reason)
        message, subject, notified, failed = self._announce(
            alarm,
            changed_at=changed_at,
            old_state=old_state,
            new_state=new_state,
            reason=reason,
            reason_data=reason_data,
        )
        return AlarmTransition(
            alarm.name,
            alarm.alarm_arn,
            old_state,
            new_state,
            reason,
            reason_data,
            changed_at,
            message,
            subject,
            tuple(notified),
            tuple(failed),
            tuple(points),
        )

    def _run_actions(
        self, alarm: Alarm, state: str, now: datetime, message: dict[str, Any], subject: str
    ) -> tuple[list[str], list[str]]:
        if not alarm.actions_enabled:
            return [], []
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }
        notified: list[str] = []
        failed: list[str] = []
        records = action_records(alarm)
        for arn in actions.get(state, []):
            ok, error = self._notify(alarm, arn, message, subject)
            (notified if ok else failed).append(arn)
            records.append(
                {
                    "timestamp": now,
                    "arn": arn,
                    "ok": ok,
                    "error": error,
                    "message": message,
                    "state_update_time": aws_time(now),
                }
            )
        keep_action_records(alarm, records)
        return notified, failed

    def _notify(self, alarm: Alarm, arn: str, message: dict[str, Any], subject: str) -> tuple[bool, str | None]:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            log.warning("alarm %s: action %s is not supported locally (only SNS topics)", alarm.name, arn)
            return False, "only SNS actions are supported locally"
        from moto.sns.models import sns_backends

        from localcloud.iam import topic_publish_denial

        mail = email_text(alarm, message, account_id=self.account_id, region=self.region)
        structured = json.dumps({"default": json.dumps(message), "email": mail})
        try:
            # CloudWatch publishes as the cloudwatch.amazonaws.com service principal: the topic's
            # policy (and its key's) must allow it, or AWS fails the action and says so in the history.
            denial = topic_publish_denial(arn, service="cloudwatch.amazonaws.com", source_arn=alarm.alarm_arn)
            if denial:
                log.warning("alarm %s: publishing to %s refused: %s", alarm.name, arn, denial)
                return False, denial.replace("cloudwatch.amazonaws.com", "CloudWatch Alarms", 1)
            sns_backends[parts[4]][parts[3]].publish(
                message=structured, arn=arn, subject=subject, message_structure="json"
            )
        except Exception as exc:  # a missing topic fails the action, as on AWS
            log.warning("alarm %s: publishing to %s failed: %s", alarm.name, arn, exc)
            return False, str(exc)
        return True, None

    # -- background thread -----------------------------------------------------------------

    def start(
        self,
        interval_seconds: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        *,
        initial_delay: bool = False,
    ) -> Self:
        """Wake every `interval_seconds` of real time on a daemon thread and evaluate each minute of
        `clock()` (default: the process's UTC time, the cloud's while it runs — the time stamped on
        metrics the functions emit) that elapsed since the last evaluation (`evaluate_elapsed`).
        With `initial_delay`, the first wake waits one interval (the caller has just evaluated)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()

        def loop() -> None:
            if initial_delay:
                self._stop.wait(interval_seconds)
            while not self._stop.is_set():
                try:
                    self.evaluate_elapsed(clock() if clock else None)
                except Exception:
                    log.exception("alarm evaluation failed")
                self._stop.wait(interval_seconds)

        self._thread = threading.Thread(target=loop, name="localcloud-alarms", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
