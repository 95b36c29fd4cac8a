"""The alarm history moto does not keep: DescribeAlarmHistory's items, rebuilt from moto's state
history and the actions the evaluator records on each alarm."""

from __future__ import annotations

import itertools
import json
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend

from localcloud.cloudwatch.times import utc

# moto's reason for an alarm's first state (OK, where AWS starts in INSUFFICIENT_DATA)
INITIAL_REASON = "Unchecked: Initial alarm creation"
_ACTIONS_ATTRIBUTE = "localcloud_action_history"


def action_records(alarm: Alarm) -> list[dict[str, Any]]:
    """The actions run for an alarm so far (each: timestamp, arn, ok, error, message, state_update_time)."""
    return getattr(alarm, _ACTIONS_ATTRIBUTE, None) or []


def keep_action_records(alarm: Alarm, records: list[dict[str, Any]]) -> None:
    setattr(alarm, _ACTIONS_ATTRIBUTE, records)


def alarm_history(backend: CloudWatchBackend, alarm_name: str | None = None) -> list[dict[str, Any]]:
    """AlarmHistoryItems (oldest first) rebuilt from moto's state history and the actions run here.

    moto's `Alarm.history` keeps the state *before* each `set_alarm_state`; the state after is the
    next entry (or the current state), which gives each StateUpdate's old and new state.
    """
    items: list[dict[str, Any]] = []
    for alarm in list(backend.alarms.values()):
        if alarm_name and alarm.name != alarm_name:
            continue
        alarm_type = "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": alarm_type,
                "Timestamp": utc(alarm.configuration_updated_timestamp),
                "HistoryItemType": "ConfigurationUpdate",
                "HistorySummary": f'Alarm "{alarm.name}" created',
                "HistoryData": json.dumps({"type": "Create", "version": "1.0"}),
            }
        )
        states = [(h[1], h[2], h[3], h[4]) for h in alarm.history if h and h[0] == "StateUpdate"]
        states.append((alarm.state_reason, alarm.state_reason_data, alarm.state_value, alarm.state_updated_timestamp))
        for before, after in itertools.pairwise(states):
            old_value = "INSUFFICIENT_DATA" if before[0] == INITIAL_REASON else before[2]
            new_state: dict[str, Any] = {"stateValue": after[2], "stateReason": after[0]}
            try:
                if after[1]:
                    new_state["stateReasonData"] = json.loads(after[1])
            except ValueError:
                pass
            items.append(
                {
                    "AlarmName": alarm.name,
                    "AlarmType": alarm_type,
                    "Timestamp": utc(after[3]),
                    "HistoryItemType": "StateUpdate",
                    "HistorySummary": f"Alarm updated from {old_value} to {after[2]}",
                    "HistoryData": json.dumps(
                        {
                            "version": "1.0",
                            "oldState": {"stateValue": old_value, "stateReason": before[0]},
                            "newState": new_state,
                        }
                    ),
                }
            )
        for record in action_records(alarm):
            verb = "Successfully executed" if record["ok"] else "Failed to execute"
            items.append(
                {
                    "AlarmName": alarm.name,
                    "AlarmType": alarm_type,
                    "Timestamp": utc(record["timestamp"]),
                    "HistoryItemType": "Action",
                    "HistorySummary": f"{verb} action {record['arn']}",
                    "HistoryData": json.dumps(
                        {
                            "actionState": "Succeeded" if record["ok"] else "Failed",
                            "notificationResource": record["arn"],
                            "stateUpdateTimestamp": record["state_update_time"],
                            "publishedMessage": json.dumps(record["message"]),
                            **({"error": record["error"]} if record["error"] else {}),
                        }
                    ),
                }
            )
    items.sort(key=lambda item: item["Timestamp"])
    return items
