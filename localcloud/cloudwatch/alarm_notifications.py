"""What an alarm's state change says: the reason, the JSON message an action's topic gets, and the
readable mail email subscribers get instead (SNS message structure), word for word as CloudWatch's."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from moto.cloudwatch.models import Alarm

from localcloud.cloudwatch.alarm_decision import COMPARISONS, Decision
from localcloud.cloudwatch.statistics import Datapoint, alarm_period
from localcloud.cloudwatch.times import aws_time

log = logging.getLogger(__name__)

STATISTIC_NAMES = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def number(value: float) -> str:
    """Values as CloudWatch prints them (Java doubles: 6.0, 0.004)."""
    return repr(float(value))


@cache
def region_name(region: str) -> str:
    """`US East (N. Virginia)` for `us-east-1`, from botocore's endpoint data."""
    import botocore.loaders

    try:
        endpoints = botocore.loaders.create_loader().load_data("endpoints")
        for partition in endpoints.get("partitions", []):
            description = partition.get("regions", {}).get(region, {}).get("description")
            if description:
                return str(description)
    except Exception:  # a display name is not worth failing over
        log.debug("no region description for %s", region, exc_info=True)
    return region


def mail_subject(alarm: Alarm, new_state: str, region: str) -> str:
    """The mail subject: `ALARM: "name" in US East (N. Virginia)`, at most 100 characters."""
    return f'{new_state}: "{alarm.name}" in {region_name(region)}'[:100]


def state_reason(
    alarm: Alarm,
    *,
    new_state: str,
    old_state: str,
    decision: Decision,
    points: Sequence[Datapoint],
    treatment: str,
) -> str:
    """NewStateReason, as CloudWatch words it: the datapoints that decided, newest first."""
    n = int(alarm.evaluation_periods)
    m = int(alarm.datapoints_to_alarm or n)
    threshold = number(float(alarm.threshold))
    phrase = COMPARISONS[alarm.comparison_operator][1]
    if new_state == "INSUFFICIENT_DATA":
        return f"Insufficient Data: {plural(n, 'datapoint')} {'was' if n == 1 else 'were'} unknown."
    label = "Breaching" if treatment == "breaching" else "NonBreaching"
    if not decision.evaluated:
        return (
            f"Threshold Crossed: no datapoints were received for {plural(n, 'period')} and "
            f"{plural(decision.filled, 'missing datapoint')} {'was' if decision.filled == 1 else 'were'} "
            f"treated as [{label}]."
        )
    compare = COMPARISONS[alarm.comparison_operator][0]
    evaluated = [points[i] for i in reversed(decision.evaluated)]  # newest first, as AWS lists them
    wanted_breach = new_state == "ALARM"
    threshold_value = float(alarm.threshold)
    shown = [p for p in evaluated if p.value is not None and compare(p.value, threshold_value) == wanted_breach]
    if not shown:
        shown, wanted_breach = evaluated, not wanted_breach
    listed = ", ".join(f"{number(p.value or 0.0)} ({p.timestamp:%d/%m/%y %H:%M:%S})" for p in shown)
    verb = "was" if len(shown) == 1 else "were"
    text = (
        f"Threshold Crossed: {len(shown)} out of the last {len(evaluated)} datapoints [{listed}] {verb} "
        f"{'' if wanted_breach else 'not '}{phrase} the threshold ({threshold})"
    )
    if decision.filled and treatment in ("breaching", "notBreaching"):
        text += (
            f" and {plural(decision.filled, 'missing datapoint')} "
            f"{'was' if decision.filled == 1 else 'were'} treated as [{label}]"
        )
    minimum = m if new_state == "ALARM" else 1
    return f"{text} (minimum {plural(minimum, 'datapoint')} for {old_state} -> {new_state} transition)."


def state_reason_data(alarm: Alarm, now: datetime, decision: Decision, points: Sequence[Datapoint]) -> dict[str, Any]:
    """NewStateReasonData: the datapoints evaluated, with the query's dates, period and threshold."""
    evaluated = [points[i] for i in decision.evaluated]
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": aws_time(now),
        "startDate": aws_time(points[0].timestamp),
        "period": alarm_period(alarm),
        "recentDatapoints": [p.value for p in evaluated],
        "threshold": float(alarm.threshold),
        "evaluatedDatapoints": [
            {"timestamp": aws_time(p.timestamp), "sampleCount": p.sample_count, "value": p.value}
            for p in reversed(evaluated)
        ],
    }
    if alarm.extended_statistic:
        data["extendedStatistic"] = alarm.extended_statistic
    elif alarm.statistic:
        data["statistic"] = alarm.statistic
    return data


def trigger(alarm: Alarm) -> dict[str, Any]:
    """The message's Trigger: the metric (or metric math queries), period, threshold and treatment."""
    common: dict[str, Any] = {"Period": alarm_period(alarm), "EvaluationPeriods": int(alarm.evaluation_periods)}
    if alarm.datapoints_to_alarm:
        common["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    common.update(
        {
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": float(alarm.threshold),
            "TreatMissingData": alarm.treat_missing_data or "",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        }
    )
    if alarm.metric_data_queries:
        metrics: list[dict[str, Any]] = []
        for query in alarm.metric_data_queries:
            item: dict[str, Any] = {"Id": query.id}
            if query.expression:
                item["Expression"] = query.expression
            if query.label:
                item["Label"] = query.label
            if query.metric_stat is not None:
                stat = query.metric_stat
                item["MetricStat"] = {
                    "Metric": {
                        "Dimensions": [{"value": d.value, "name": d.name} for d in stat.metric.dimensions],
                        "MetricName": stat.metric.metric_name,
                        "Namespace": stat.metric.namespace,
                    },
                    "Period": int(stat.period or common["Period"]),
                    "Stat": stat.stat,
                }
                if stat.unit:
                    item["MetricStat"]["Unit"] = stat.unit
            returns = query.return_data if query.return_data is not None else query.expression
            item["ReturnData"] = bool(returns)
            metrics.append(item)
        return {**common, "Metrics": metrics}
    head: dict[str, Any] = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace}
    if alarm.extended_statistic:
        head.update({"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic})
    else:
        statistic = STATISTIC_NAMES.get(alarm.statistic, str(alarm.statistic).upper())
        head.update({"StatisticType": "Statistic", "Statistic": statistic})
    head["Unit"] = alarm.unit
    head["Dimensions"] = [{"value": d.value, "name": d.name} for d in alarm.dimensions]
    return {**head, **common}


def notification(
    alarm: Alarm, *, account_id: str, region: str, now: datetime, old_state: str, new_state: str, reason: str
) -> dict[str, Any]:
    """The JSON message CloudWatch publishes to an alarm action's topic."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": aws_time(alarm.configuration_updated_timestamp),
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": aws_time(now),
        "Region": region_name(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger(alarm),
    }


def email_text(alarm: Alarm, message: Mapping[str, Any], *, account_id: str, region: str) -> str:
    """The readable version CloudWatch sends to email subscribers (SNS message structure)."""
    when = datetime.strptime(message["StateChangeTime"][:19], "%Y-%m-%dT%H:%M:%S")
    stamp = f"{when:%A %d %B, %Y %H:%M:%S} UTC"
    alarm_trigger = message["Trigger"]
    n = int(alarm.evaluation_periods)
    m = int(alarm.datapoints_to_alarm or n)
    lines = [
        f'You are receiving this email because your Amazon CloudWatch Alarm "{alarm.name}" in the '
        f"{message['Region']} region has entered the {message['NewStateValue']} state, because "
        f'"{message["NewStateReason"]}" at "{stamp}".',
        "",
        "View this alarm in the AWS Management Console:",
        f"https://{region}.console.aws.amazon.com/cloudwatch/deeplink.js?region={region}#alarmsV2:alarm/{alarm.name}",
        "",
        "Alarm Details:",
        f"- Name:                       {alarm.name}",
        f"- Description:                {alarm.description or ''}",
        f"- State Change:               {message['OldStateValue']} -> {message['NewStateValue']}",
        f"- Reason for State Change:    {message['NewStateReason']}",
        f"- Timestamp:                  {stamp}",
        f"- AWS Account:                {account_id}",
        f"- Alarm Arn:                  {alarm.alarm_arn}",
        "",
        "Threshold:",
        f"- The alarm is in the ALARM state when the metric is {alarm.comparison_operator} "
        f"{number(float(alarm.threshold))} for at least {m} of the last {n} period(s) of "
        f"{alarm_trigger['Period']} seconds.",
        "",
    ]
    if "Metrics" in alarm_trigger:
        lines.append("Monitored Metrics:")
        for item in alarm_trigger["Metrics"]:
            lines.append(f"- {item['Id']}: {item.get('Expression') or json.dumps(item.get('MetricStat'))}")
    else:
        dims = ", ".join(f"{d['name']} = {d['value']}" for d in alarm_trigger["Dimensions"])
        lines += [
            "Monitored Metric:",
            f"- MetricNamespace:                     {alarm.namespace}",
            f"- MetricName:                          {alarm.metric_name}",
            f"- Dimensions:                          [{dims}]",
            f"- Period:                              {alarm_trigger['Period']} seconds",
            f"- Statistic:                           {alarm.extended_statistic or alarm.statistic}",
            f"- Unit:                                {alarm.unit or 'not specified'}",
            f"- TreatMissingData:                    {alarm.treat_missing_data or 'missing'}",
        ]
    lines += [
        "",
        "State Change Actions:",
        *(
            f"- {state}: " + (f"[{', '.join(actions)}]" if actions else "none")
            for state, actions in (
                ("OK", alarm.ok_actions),
                ("ALARM", alarm.alarm_actions),
                ("INSUFFICIENT_DATA", alarm.insufficient_data_actions),
            )
        ),
    ]
    return "\n".join(lines)
