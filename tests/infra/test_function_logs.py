"""What the platform's functions send to CloudWatch Logs (issue #21): JSON, the application's lines
from INFO up, and none of Lambda's platform records (START/END/REPORT), which cost ~200 bytes of
ingestion an invocation and say nothing AWS/Lambda's Duration metric does not."""

from __future__ import annotations

from typing import Any

from tests.infra import template_queries as tq


def test_every_platform_function_logs_json_without_platform_records(platform_template: dict[str, Any]) -> None:
    functions = tq.resources(platform_template, "AWS::Lambda::Function")
    # CDK's own providers (bucket notifications, the default security group) are not PlatformFunctions.
    platform = {k: v for k, v in functions.items() if not k.startswith(("BucketNotificationsHandler", "Custom"))}
    assert len(platform) > 20
    for logical, function in platform.items():
        config = function["Properties"]["LoggingConfig"]
        assert (config["LogFormat"], config["ApplicationLogLevel"], config["SystemLogLevel"]) == (
            "JSON",
            "INFO",  # an EMF line has no level and counts as INFO: a higher level would drop the metrics
            "WARN",
        ), logical
