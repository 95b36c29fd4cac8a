"""What a target receives: constant Input, the InputPath part, the InputTransformer template
filled as EventBridge fills it, or the whole event; moto ignores Input and InputPath and transforms
only JSON templates."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from localcloud.eventbridge.event_format import iso_time

_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def _json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (`$.detail.items[0]['odd-key']`), or _MISSING."""
    if not path.startswith("$"):
        return _MISSING
    rest, node = path[1:], document
    while rest:
        token = _PATH_TOKEN.match(rest)
        if token is None:
            return _MISSING
        name, index, quoted = token.groups()
        key = name if name is not None else quoted
        if key is not None:
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        rest = rest[token.end() :]
    return node


_VARIABLE = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _transform(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `<name>` placeholders the way EventBridge does.

    Inside a JSON string a placeholder becomes the value's text (JSON-escaped); outside one it
    becomes the value as JSON. Unknown placeholders stay; paths absent from the event become
    an empty string inside quotes and `null` outside.
    """
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
            i += 1
            continue
        placeholder = _VARIABLE.match(template, i) if char == "<" else None
        if placeholder is None or placeholder.group(1) not in variables:
            out.append(char)
            i += 1
            continue
        value = variables[placeholder.group(1)]
        if in_string:
            if value is _MISSING or value is None:
                text = ""
            elif isinstance(value, str):
                text = value
            else:
                text = json.dumps(value)
            out.append(json.dumps(text)[1:-1])
        else:
            out.append("null" if value is _MISSING else json.dumps(value))
        i = placeholder.end()
    return "".join(out)


def render_target_input(
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: float | None = None,
) -> str:
    """The text a target receives: constant Input, the InputPath part, the transformed
    InputTransformer template, or else the whole event as JSON."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = _json_path(event, str(target["InputPath"]))
        return json.dumps(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer:
        variables: dict[str, Any] = {
            name: _json_path(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        variables.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event": dict(event),
                "aws.events.event.json": dict(event),
                "aws.events.event.ingestion-time": iso_time(datetime.fromtimestamp(ingestion_time or time.time(), UTC)),
            }
        )
        return _transform(str(transformer.get("InputTemplate", "")), variables)
    return json.dumps(event)
