"""AWS::XRay::SamplingRule, which moto's CloudFormation skips and moto's X-Ray cannot hold (it has no
sampling-rule API): the rule is checked against X-Ray's limits and kept as a stack resource with its
ARN, so a stack that names one deploys as on AWS; the local cloud records no traces, so the rule
decides nothing here (README, "What the local cloud proves").

X-Ray's limits (https://docs.aws.amazon.com/xray/latest/api/API_SamplingRule.html): RuleName 1-32
characters; FixedRate 0-1; ReservoirSize at least 0; Priority 1-9999; Version 1.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client


class XRaySamplingRule(LocalResource, CloudFormationModel):
    resource_type = "AWS::XRay::SamplingRule"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        rule = props.get("SamplingRule") or {}
        rule_name = str(rule.get("RuleName") or "")
        problems = [
            problem
            for problem, broken in (
                (f"RuleName {rule_name!r} must be 1 to 32 characters", not 1 <= len(rule_name) <= 32),
                (
                    f"FixedRate {rule.get('FixedRate')!r} must be between 0 and 1",
                    not 0 <= float(rule.get("FixedRate", -1)) <= 1,
                ),
                (
                    f"ReservoirSize {rule.get('ReservoirSize')!r} must be 0 or more",
                    int(rule.get("ReservoirSize", -1)) < 0,
                ),
                (f"Priority {rule.get('Priority')!r} must be 1 to 9999", not 1 <= int(rule.get("Priority", 0)) <= 9999),
                (f"Version {rule.get('Version')!r} must be 1", int(rule.get("Version", 0)) != 1),
            )
            if broken
        ]
        if problems:
            raise ValueError(f"{name}: invalid X-Ray sampling rule: " + "; ".join(problems))
        account = client("sts", region).get_caller_identity()["Account"]
        arn = f"arn:aws:xray:{region}:{account}:sampling-rule/{rule_name}"
        return cls(arn, {"RuleARN": arn, "RuleName": rule_name})
