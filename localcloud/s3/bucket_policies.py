"""Bucket-policy conditions, which moto's S3 ignores.

moto applies a bucket policy's statements to object requests but drops their `Condition` blocks, so
the TLS-only statement every platform bucket carries (Deny s3:* when aws:SecureTransport is false)
denies every request. Here each statement's conditions are evaluated against the request context the
local cloud can know, before moto decides. The local cloud stands in for AWS's TLS endpoint (its
clients reach it in-process or on loopback), so aws:SecureTransport is true. A statement with a
condition key this module cannot evaluate is kept as moto would keep it (applied unconditionally),
and named once in a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from moto.s3.models import FakeBucket

log = logging.getLogger(__name__)

REQUEST_CONTEXT: dict[str, str] = {"aws:SecureTransport": "true"}
_original_get_permission: Callable[..., Any] | None = None
_warned: set[str] = set()


def _condition_holds(condition: dict[str, dict[str, Any]]) -> bool | None:
    """True/False when every operator and key is known; None when something cannot be evaluated."""
    for operator, tests in condition.items():
        if operator not in ("Bool", "StringEquals"):
            return None
        for key, expected in tests.items():
            if key not in REQUEST_CONTEXT:
                return None
            allowed = expected if isinstance(expected, list) else [expected]
            actual = REQUEST_CONTEXT[key]
            if not any(str(value).lower() == actual.lower() for value in allowed):
                return False
    return True


def applicable_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy with the statements whose conditions do not hold for this request removed."""
    kept = []
    for statement in policy.get("Statement", []):
        condition = statement.get("Condition")
        if not condition:
            kept.append(statement)
            continue
        holds = _condition_holds(condition)
        if holds is None:
            text = json.dumps(condition, sort_keys=True)
            if text not in _warned:
                _warned.add(text)
                log.warning("bucket policy condition %s is not evaluated locally; applied as moto applies it", text)
            kept.append({k: v for k, v in statement.items() if k != "Condition"})
        elif holds:
            kept.append({k: v for k, v in statement.items() if k != "Condition"})
    return {**policy, "Statement": kept}


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = applicable_policy(json.loads(self.policy.decode()))
    if not policy["Statement"]:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


def install() -> None:
    global _original_get_permission
    if _original_get_permission is None:
        _original_get_permission = FakeBucket.get_permission
        FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]


def uninstall() -> None:
    global _original_get_permission
    if _original_get_permission is not None:
        FakeBucket.get_permission = _original_get_permission  # type: ignore[method-assign]
        _original_get_permission = None
