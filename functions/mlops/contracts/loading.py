"""Reading a contract: YAML or JSON text to a `DataContract`, every problem named with the path of
the field the author wrote (``columns[2].min: must be ≤ max``), never pydantic's own locations.

YAML is read strictly: a key written twice is refused (plain YAML keeps the last one silently).
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from mlops.contracts.model import (
    ColumnSpec,
    ContractError,
    DataContract,
    DistributionExpectation,
    Expectation,
    Policy,
    ProblemsError,
    RowCountExpectation,
    TypeExpectation,
    did_you_mean,
    document_problems,
)
from mlops.names import NAME_PATTERN

_MODELS: tuple[type[BaseModel], ...] = (
    DataContract,
    ColumnSpec,
    Expectation,
    RowCountExpectation,
    DistributionExpectation,
    Policy,
    TypeExpectation,
)
_KNOWN_FIELDS = sorted({name for model in _MODELS for name in model.model_fields} | {"value"})


def _path(loc: tuple[int | str, ...], raw: Any) -> str:
    """``('columns', 2, 'min', 'value')`` → ``columns[2].min``: drop the segments the user did not write."""
    parts: list[str] = []
    node: Any = raw
    for segment in loc:
        if isinstance(node, Mapping):
            # a key that is blank or not a plain name (" ", "a: b") is quoted, so the path still reads as one
            plain = isinstance(segment, str) and re.fullmatch(r"[A-Za-z0-9_-]+", segment)
            parts.append(f".{segment}" if plain else f"[{segment!r}]")
            node = node.get(segment)
        elif isinstance(node, list) and isinstance(segment, int):
            parts.append(f"[{segment}]")
            node = node[segment] if 0 <= segment < len(node) else None
        # Otherwise a value written in shorthand: 'value' and union member tags are ours, not the user's.
    return "".join(parts).lstrip(".")


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{given!r} is not one of {expected}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        field = str(error["loc"][-1])
        return f"is not a known field{did_you_mean(field, _KNOWN_FIELDS)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        sign = {"greater_than_equal": "≥", "less_than_equal": "≤", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()))
        return f"must be {sign} {limit} (got {given!r})"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return (
            f"{given!r} is not a slug: lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not match {ctx.get('pattern')}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer (got {given!r})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {given!r})"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false (got {given!r})"
    if kind == "string_type":
        return f"must be a string (got {given!r})"
    if kind == "list_type":
        return f"must be a list (got {given!r})"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping (got {given!r})"
    message = str(error.get("msg", kind))
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _problems_from(exc: ValidationError, raw: Any) -> list[str]:
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, ProblemsError):
            base = _path(loc, raw)
            for sub, message in inner.items:
                joined = ".".join(p for p in (base, sub) if p).replace(".[", "[")
                lines.append(f"{joined or '(contract)'}: {message}")
        else:
            lines.append(f"{_path(loc, raw) or '(contract)'}: {_message(error)}")
    return lines


def parse_contract(data: Any, *, source: str = "<contract>") -> DataContract:
    """Validate already-parsed data (a dict), naming every problem with its field path."""
    try:
        return DataContract.model_validate(data)
    except ValidationError as exc:
        problems = _problems_from(exc, data)
        problems += [f"{path}: {message}" for path, message in document_problems(data)]
        raise ContractError(source, list(dict.fromkeys(problems))) from None


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key written twice, which plain YAML silently resolves to the last one."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if not isinstance(key, Hashable):  # `? [a, b]`: YAML allows it, a contract has no use for it
            raise yaml.constructor.ConstructorError(None, None, "a key is a list or a mapping", key_node.start_mark)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is written twice", mark)
        seen.add(key)
    return cast(dict[Any, Any], loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_contract(text: str | bytes, *, source: str) -> DataContract:
    """Read a contract written as YAML or JSON; ``source`` names it in error messages."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContractError(source, [f"(contract): byte {exc.start} is not UTF-8"]) from None
    try:
        # JSON first when it looks like JSON: its error messages are clearer than YAML's for it.
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_StrictLoader)
    except json.JSONDecodeError as exc:
        raise ContractError(
            source, [f"(contract): not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
        ) from None
    except RecursionError:
        raise ContractError(source, ["(contract): nested too deeply to read"]) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContractError(source, [f"(contract): not valid YAML: {problem}{where}"]) from None
    except ValueError as exc:  # an integer past Python's digit limit, in JSON or YAML
        raise ContractError(source, [f"(contract): {exc}"]) from None
    if not isinstance(data, Mapping):
        raise ContractError(source, [f"(contract): must be a mapping of fields, got {type(data).__name__}"])
    return parse_contract(data, source=source)
