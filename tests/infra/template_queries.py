"""Queries over a synthesized CloudFormation template (a dict), shared by the infrastructure tests."""

from __future__ import annotations

from typing import Any

Resources = dict[str, dict[str, Any]]


def resources(template: dict[str, Any], resource_type: str) -> Resources:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def one(template: dict[str, Any], resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    matches = [(k, v) for k, v in resources(template, resource_type).items() if k.startswith(prefix)]
    assert len(matches) == 1, f"{len(matches)} {resource_type} resources start with {prefix}"
    return matches[0]


def render(value: Any) -> str:
    """An intrinsic as readable text: {"Fn::GetAtt": ["X", "Arn"]} -> "<X.Arn>", joins concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        return f"<{logical}.{attribute}>"
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: dict[str, Any], function_prefix: str) -> set[tuple[str, str]]:
    """(action, resource) pairs of a function's role, as written in its inline policies."""
    _, function = one(template, "AWS::Lambda::Function", function_prefix)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    pairs: set[tuple[str, str]] = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    pairs.add((action, render(resource)))
    return pairs


def logical(template: dict[str, Any], resource_type: str, prefix: str) -> str:
    return one(template, resource_type, prefix)[0]
