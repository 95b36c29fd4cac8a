"""`AWS::Logs::LogGroup`'s `Arn` as CloudFormation returns it: the group's ARN followed by `:*`.

CloudFormation documents the attribute as "arn:aws:logs:us-west-1:123456789012:log-group:/mystack-
testgroup-12ABC1AHYI:*" (AWS::Logs::LogGroup, Return values), so a grant on it covers the group's
streams; moto 5.2.5 returns the ARN without `:*`, and a role granted `logs:CreateLogStream` on the
group (as CDK grants an ECS task's execution role) was refused every stream.
"""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogGroup

_originals: dict[str, Any] = {}


def _get_cfn_attribute(self: Any, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return f"{self.arn}:*"
    result: str = _originals["get_cfn_attribute"](self, attribute_name)
    return result


def install() -> None:
    if "get_cfn_attribute" not in _originals:
        _originals["get_cfn_attribute"] = LogGroup.get_cfn_attribute
        LogGroup.get_cfn_attribute = _get_cfn_attribute  # type: ignore[method-assign]
