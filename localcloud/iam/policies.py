"""IAM policy evaluation as AWS does it, for the policies this platform writes.

moto's own evaluator matches every DynamoDB, SNS and Step Functions request against resource `*`,
treats a statement whose condition fails as a Deny (AWS: the statement does not apply) and ignores
condition keys it is not handed. The local cloud evaluates identity policies, resource policies
(topic, queue, key and function policies) and their conditions here instead.

The logic follows "Policy evaluation logic" and "IAM JSON policy elements: Condition operators" of
the IAM User Guide (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
for one account: an explicit Deny wins, then any Allow, else the request is implicitly denied.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    IMPLICIT_DENY = "implicit_deny"  # no statement allows it


@dataclass(frozen=True)
class Request:
    """What a statement is matched against: one action on one resource, by one principal."""

    action: str  # service:Action
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)  # condition keys (any case)
    service_principal: str | None = None  # e.g. cloudwatch.amazonaws.com, for resource policies
    principal_arn: str | None = None


class UnsupportedConditionError(ValueError):
    """A condition operator this evaluator does not know: failing loudly beats guessing."""


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    translated = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{translated}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    return _wildcard(pattern, case_sensitive=case_sensitive).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, case_sensitive=False) for p in _as_list(statement["NotAction"]))
    return any(wildcard_match(p, action, case_sensitive=False) for p in _as_list(statement.get("Action")))


def _matches_resource(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _as_list(statement["NotResource"]))
    if "Resource" not in statement:  # function, topic and key policies may leave it out: their own resource
        return True
    return any(wildcard_match(p, resource) for p in _as_list(statement["Resource"]))


def _matches_principal(statement: Mapping[str, Any], request: Request) -> bool:
    principal = statement.get("Principal")
    if principal is None:  # an identity policy: its principal is whoever holds it
        return True
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    aws = _as_list(principal.get("AWS"))
    if "*" in aws:  # {"AWS": "*"} is "*": everyone, services included
        return True
    if request.service_principal is not None:
        return request.service_principal in _as_list(principal.get("Service"))
    arn = request.principal_arn or ""
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    return any(p in (arn, account, f"arn:aws:iam::{account}:root") for p in aws)


_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _compare(operator: str, expected: str, actual: str) -> bool:
    base = operator.replace("Not", "", 1) if operator in _NEGATED else operator
    if base == "StringEquals":
        return expected == actual
    if base == "StringEqualsIgnoreCase":
        return expected.lower() == actual.lower()
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        # ArnEquals and ArnLike both take wildcards per ARN segment; a whole-string match is the same
        # for the ARNs this platform writes.
        return wildcard_match(expected, actual)
    if base == "Bool":
        return expected.lower() == actual.lower()
    if base.startswith("Numeric"):
        e, a = float(expected), float(actual)
        return {
            "NumericEquals": a == e,
            "NumericNotEquals": a != e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    raise UnsupportedConditionError(f"condition operator {operator!r} is not evaluated by the local cloud")


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    qualifier, _, operator = operator.rpartition(":")  # ForAnyValue: / ForAllValues:
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    if operator == "Null":
        want_absent = str(_as_list(expected)[0]).lower() == "true"
        return want_absent != present
    if not present:
        return if_exists or operator in _NEGATED
    actual = [str(v) for v in _as_list(lowered[key.lower()])]
    wanted = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
    negated = operator in _NEGATED

    def one(value: str) -> bool:
        hit = any(_compare(operator, e, value) for e in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)  # single-valued keys and ForAnyValue


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """Every operator, and every key under it, must hold (AND); the values of one key are ORed."""
    for operator, tests in (condition or {}).items():
        for key, expected in tests.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    return (
        _matches_action(statement, request.action)
        and _matches_resource(statement, request.resource)
        and _matches_principal(statement, request)
        and conditions_hold(statement.get("Condition"), request.context)
    )


def statements(document: Mapping[str, Any] | str | None) -> list[Mapping[str, Any]]:
    if document is None:
        return []
    parsed = json.loads(document) if isinstance(document, str) else document
    return [s for s in _as_list(parsed.get("Statement")) if isinstance(s, Mapping)]


def evaluate(documents: Iterable[Mapping[str, Any] | str | None], request: Request) -> Decision:
    """The decision of a set of policies on one request: explicit Deny, else Allow, else implicit deny."""
    allowed = False
    for document in documents:
        for statement in statements(document):
            if not statement_applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


__all__ = [
    "Decision",
    "Request",
    "UnsupportedConditionError",
    "conditions_hold",
    "evaluate",
    "statement_applies",
    "statements",
    "wildcard_match",
]
