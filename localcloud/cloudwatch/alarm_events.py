"""The "CloudWatch Alarm State Change" event every state change emits to EventBridge's default bus."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from moto.cloudwatch.models import Alarm

from localcloud.cloudwatch.alarm_history import INITIAL_REASON
from localcloud.cloudwatch.alarm_notifications import trigger
from localcloud.cloudwatch.statistics import alarm_period
from localcloud.cloudwatch.times import aws_time, utc

log = logging.getLogger(__name__)


def emit_state_change(
    alarm: Alarm,
    *,
    account_id: str,
    region: str,
    now: datetime,
    old_state: str,
    new_state: str,
    reason: str,
    reason_data: dict[str, Any],
) -> None:
    """Deliver the state-change event to the rules that match it; a failure is logged, never raised."""
    from localcloud.eventbridge import deliver

    previous = alarm.history[-1] if alarm.history else None
    event = {
        "version": "0",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": account_id,
        "time": utc(now).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {
                "value": new_state,
                "reason": reason,
                "reasonData": json.dumps(reason_data),
                "timestamp": aws_time(now),
            },
            "previousState": {
                "value": old_state,
                "reason": previous[1] if previous else INITIAL_REASON,
                "timestamp": aws_time(previous[4]) if previous else aws_time(now),
            },
            "configuration": {
                "description": alarm.description,
                "metrics": trigger(alarm).get("Metrics")
                or [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.namespace,
                                "name": alarm.metric_name,
                                "dimensions": {d.name: d.value for d in alarm.dimensions},
                            },
                            "period": alarm_period(alarm),
                            "stat": alarm.extended_statistic or alarm.statistic,
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }
    try:
        deliver(event, account_id=account_id, region=region)
    except Exception:
        log.exception("alarm %s: emitting the state-change event failed", alarm.name)
