"""CloudWatch's API where moto falls short: DescribeAlarmHistory, which moto does not implement, and
SetAlarmState, which on AWS runs the new state's actions and moto only records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from localcloud.cloudwatch.alarm_evaluator import AlarmEvaluator
from localcloud.cloudwatch.alarm_history import alarm_history
from localcloud.cloudwatch.times import utc


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    """moto's missing `DescribeAlarmHistory` (filters: name, types, item type, dates, order, max)."""
    items = alarm_history(self.cloudwatch_backend, self._get_param("AlarmName"))
    types = self._get_param("AlarmTypes") or []
    item_type = self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    if types:
        items = [i for i in items if i["AlarmType"] in types]
    if item_type:
        items = [i for i in items if i["HistoryItemType"] == item_type]
    if start is not None:
        items = [i for i in items if i["Timestamp"] >= utc(start)]
    if end is not None:
        items = [i for i in items if i["Timestamp"] <= utc(end)]
    if (self._get_param("ScanBy") or "TimestampDescending") == "TimestampDescending":
        items.reverse()
    limit = self._get_int_param("MaxRecords") or 100
    return ActionResult({"AlarmHistoryItems": items[:limit]})


_moto_set_alarm_state = CloudWatchResponse.set_alarm_state


def _set_alarm_state(self: CloudWatchResponse) -> ActionResult:
    """SetAlarmState runs the new state's actions on AWS (a test alarm reaches the topic's subscribers);
    moto only records the state."""
    name = self._get_param("AlarmName")
    alarm = self.cloudwatch_backend.alarms.get(name)
    old_state = alarm.state_value if alarm is not None else None
    result = _moto_set_alarm_state(self)
    if alarm is not None and old_state is not None and alarm.state_value != old_state:
        evaluator = AlarmEvaluator(self.current_account, self.region)
        evaluator.announce(alarm, old_state=old_state, new_state=alarm.state_value, reason=alarm.state_reason)
    return result


def install() -> None:
    """Add `describe_alarm_history` to moto's CloudWatch API, and actions to `set_alarm_state`."""
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]
    CloudWatchResponse.set_alarm_state = _set_alarm_state  # type: ignore[method-assign]


def uninstall() -> None:
    if "describe_alarm_history" in vars(CloudWatchResponse):
        del CloudWatchResponse.describe_alarm_history  # type: ignore[attr-defined]
    CloudWatchResponse.set_alarm_state = _moto_set_alarm_state  # type: ignore[method-assign]


def is_installed() -> bool:
    return "describe_alarm_history" in vars(CloudWatchResponse)


@contextmanager
def installed() -> Iterator[None]:
    install()
    try:
        yield
    finally:
        uninstall()
