"""AWS::CloudWatch::Alarm, which moto's CloudFormation skips: created with PutMetricAlarm, so
`aws cloudwatch describe-alarms` finds it and the local cloud's evaluator evaluates it."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client


class CloudWatchAlarm(LocalResource, CloudFormationModel):
    resource_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        request = {k: v for k, v in props.items() if k != "Tags"}
        request["AlarmName"] = props.get("AlarmName") or name
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
            if key in request:
                request[key] = int(request[key])
        cloudwatch = client("cloudwatch", region)
        cloudwatch.put_metric_alarm(**request)
        arn = cloudwatch.describe_alarms(AlarmNames=[request["AlarmName"]])["MetricAlarms"][0]["AlarmArn"]
        return cls(
            request["AlarmName"],
            {"Arn": arn},
            delete=lambda: cloudwatch.delete_alarms(AlarmNames=[request["AlarmName"]]),
        )
