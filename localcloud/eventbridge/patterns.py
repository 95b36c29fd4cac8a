"""EventBridge event patterns, which moto matches only in part (a schedule-only rule's empty pattern
matches every event there)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

_MISSING = object()


def matches_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if `event` matches the EventBridge `pattern` (a parsed JSON object).

    Semantics as documented for EventBridge: every field named in the pattern must match; a list
    holds alternatives; an event array matches if any element does; nested objects (and arrays
    of objects) are matched field by field; named filters are `prefix`, `suffix`,
    `equals-ignore-case`, `anything-but` (values, or a prefix/suffix/equals-ignore-case/wildcard),
    `numeric`, `exists`, `cidr` and `wildcard`, plus `$or`. An empty pattern matches nothing
    here: on AWS a rule without a pattern is a schedule-only rule, which `put_events` never reaches.
    """
    if not pattern:
        return False
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], obj: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, obj) for alternative in rule):
                return False
            continue
        value = obj[key] if isinstance(obj, dict) and key in obj else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING:
                # an absent object can still satisfy leaves that only ask for {"exists": false}
                if not _match_object(rule, {}):
                    return False
                continue
            candidates = value if isinstance(value, list) else [value]
            if not any(isinstance(c, dict) and _match_object(rule, c) for c in candidates):
                return False
        elif isinstance(rule, list):
            if not _match_leaf(rule, value):
                return False
        else:
            return False
    return True


def _match_leaf(matchers: Sequence[Any], value: Any) -> bool:
    present = value is not _MISSING
    if present and isinstance(value, dict):
        # `exists` only sees leaves: an object field counts as absent for it
        return any(_is_exists(m) and m["exists"] is False for m in matchers)
    elements = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if _is_exists(matcher):
            if bool(matcher["exists"]) == present:
                return True
            continue
        if present and any(_match_value(matcher, element) for element in elements):
            return True
    return False


def _is_exists(matcher: Any) -> bool:
    return isinstance(matcher, dict) and "exists" in matcher


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected) or _is_number(actual):
        return _is_number(expected) and _is_number(actual) and float(expected) == float(actual)
    return bool(expected == actual)


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    if len(matcher) != 1:
        return False
    ((name, arg),) = matcher.items()
    if name == "prefix":
        return _affix(arg, value, str.startswith)
    if name == "suffix":
        return _affix(arg, value, str.endswith)
    if name == "equals-ignore-case":
        options = arg if isinstance(arg, list) else [arg]
        return isinstance(value, str) and any(value.lower() == str(o).lower() for o in options)
    if name == "anything-but":
        if isinstance(arg, dict):
            return not _match_value(arg, value)
        options = arg if isinstance(arg, list) else [arg]
        return not any(_equal(option, value) for option in options)
    if name == "numeric":
        return _numeric(arg, value)
    if name == "cidr":
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            return False
    if name == "wildcard":
        options = arg if isinstance(arg, list) else [arg]
        return isinstance(value, str) and any(_wildcard(str(o), value) for o in options)
    log.warning("event pattern filter %r is not supported locally; treated as no match", name)
    return False


def _affix(arg: Any, value: Any, test: Callable[[str, str], bool]) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(arg, dict) and "equals-ignore-case" in arg:
        return test(value.lower(), str(arg["equals-ignore-case"]).lower())
    options = arg if isinstance(arg, list) else [arg]
    return any(isinstance(o, str) and test(value, o) for o in options)


_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


def _numeric(arg: Any, value: Any) -> bool:
    if not _is_number(value) or not isinstance(arg, list) or len(arg) % 2:
        return False
    pairs = zip(arg[::2], arg[1::2], strict=True)
    return all(op in _NUMERIC_OPS and _NUMERIC_OPS[op](float(value), float(bound)) for op, bound in pairs)


def _wildcard(pattern: str, value: str) -> bool:
    """`*` matches any run of characters; `\\*` is a literal star."""
    regex = "".join(
        ".*" if part == "*" else re.escape(part.replace("\\*", "*")) for part in re.split(r"(?<!\\)(\*)", pattern)
    )
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None
