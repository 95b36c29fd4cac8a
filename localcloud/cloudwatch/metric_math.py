"""Metric math for alarms (`100*m1/m2`, `SUM([m1,m2])`, `FILL(m1, 0)`, ...), which moto does not compute.

A recursive-descent parser over + - * / ^, parentheses, [arrays], query ids and the functions METRICS,
SUM, AVG, MIN, MAX, ABS, CEIL, FLOOR and FILL; a result with no value for a period (a division by
zero, a missing operand) is a missing datapoint, as in CloudWatch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class AlarmExpressionError(ValueError):
    """A metric math expression this evaluator cannot compute."""


Series = list[float | None]


@dataclass(frozen=True)
class Array:
    series: tuple[Series, ...]


Value = float | Series | Array
_MATH_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\S))")


class MathParser:
    """Recursive descent over + - * / ^, parentheses, [arrays], ids and a few functions."""

    def __init__(self, text: str, lookup: Callable[[str], Series], all_metrics: Callable[[], list[Series]], width: int):
        self.tokens: list[tuple[str, str]] = []
        for number, name, other in _MATH_TOKEN.findall(text):
            if number:
                self.tokens.append(("num", number))
            elif name:
                self.tokens.append(("name", name))
            elif other:
                self.tokens.append(("op", other))
        self.pos = 0
        self.lookup = lookup
        self.all_metrics = all_metrics
        self.width = width

    def parse(self) -> Value:
        value = self._expr()
        if self.pos != len(self.tokens):
            raise AlarmExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise AlarmExpressionError("unexpected end of expression")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise AlarmExpressionError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def _expr(self) -> Value:
        value = self._term()
        while self._peek() in ("+", "-"):
            op = self._take()[1]
            value = _binary(value, self._term(), (lambda a, b: a + b) if op == "+" else (lambda a, b: a - b))
        return value

    def _term(self) -> Value:
        value = self._unary()
        while self._peek() in ("*", "/"):
            op = self._take()[1]
            if op == "*":
                value = _binary(value, self._unary(), lambda a, b: a * b)
            else:
                value = _binary(value, self._unary(), lambda a, b: a / b if b else None)
        return value

    def _unary(self) -> Value:
        if self._peek() == "-":
            self._take()
            return _binary(-1.0, self._unary(), lambda a, b: a * b)
        if self._peek() == "+":
            self._take()
            return self._unary()
        value = self._atom()
        if self._peek() == "^":
            self._take()
            value = _binary(value, self._unary(), lambda a, b: a**b)
        return value

    def _atom(self) -> Value:
        kind, text = self._take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self._expr()
            self._take(")")
            return value
        if text == "[":
            items = [self._series(self._expr())]
            while self._peek() == ",":
                self._take()
                items.append(self._series(self._expr()))
            self._take("]")
            return Array(tuple(items))
        if kind == "name":
            if self._peek() == "(":
                self._take()
                args: list[Value | str] = []
                while self._peek() != ")":
                    if self._peek() in ("REPEAT", "LINEAR") and self.tokens[self.pos][0] == "name":
                        args.append(self._take()[1])
                    else:
                        args.append(self._expr())
                    if self._peek() == ",":
                        self._take()
                self._take(")")
                return self._call(text.upper(), args)
            return list(self.lookup(text))
        raise AlarmExpressionError(f"unexpected {text!r}")

    def _series(self, value: Value) -> Series:
        if isinstance(value, Array):
            raise AlarmExpressionError("nested arrays are not supported")
        if isinstance(value, float):
            return [value] * self.width
        return value

    def _call(self, name: str, args: list[Value | str]) -> Value:
        if name == "METRICS":
            return Array(tuple(self.all_metrics()))
        if name in ("SUM", "AVG", "MIN", "MAX") and len(args) == 1 and not isinstance(args[0], str):
            return _aggregate(name, args[0])
        if name in ("ABS", "CEIL", "FLOOR") and len(args) == 1 and not isinstance(args[0], str):
            fns: dict[str, Callable[[float], float]] = {
                "ABS": abs,
                "CEIL": lambda v: float(math.ceil(v)),
                "FLOOR": lambda v: float(math.floor(v)),
            }
            fn = fns[name]
            return _binary(args[0], 0.0, lambda a, _b: fn(a))
        if name == "FILL" and len(args) == 2 and not isinstance(args[0], (str, float, Array)):
            return _fill(args[0], args[1])
        raise AlarmExpressionError(f"function {name} with these arguments is not supported locally")


def _binary(left: Value, right: Value, op: Callable[[float, float], float | None]) -> Value:
    if isinstance(left, Array) or isinstance(right, Array):
        raise AlarmExpressionError("arithmetic on arrays of time series is not supported")

    def apply(a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        try:
            value: Any = op(a, b)
        except (ArithmeticError, ValueError):
            return None
        if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
            return None  # e.g. a complex power of a negative number: no datapoint, as in CloudWatch
        return float(value)

    if isinstance(left, float) and isinstance(right, float):
        result = apply(left, right)
        return float("nan") if result is None else result
    width = len(left) if isinstance(left, list) else len(right)  # type: ignore[arg-type]
    lhs = left if isinstance(left, list) else [left] * width
    rhs = right if isinstance(right, list) else [right] * width
    return [apply(a, b) for a, b in zip(lhs, rhs, strict=True)]


def _aggregate(name: str, value: Value) -> Value:
    def combine(values: list[float]) -> float:
        if name == "SUM":
            return sum(values)
        if name == "AVG":
            return sum(values) / len(values)
        return min(values) if name == "MIN" else max(values)

    if isinstance(value, Array):  # across series, per period
        out: Series = []
        for column in zip(*value.series, strict=True):
            present = [v for v in column if v is not None]
            out.append(combine(present) if present else None)
        return out
    if isinstance(value, list):  # one series -> one number
        present = [v for v in value if v is not None]
        return combine(present) if present else float("nan")
    return value


def _fill(series: Series, filler: Value | str) -> Series:
    if filler == "REPEAT":
        out: Series = []
        last = next((v for v in series if v is not None), None)
        for v in series:
            last = v if v is not None else last
            out.append(last)
        return out
    if isinstance(filler, (float, list)):
        fill = filler if isinstance(filler, list) else [filler] * len(series)
        return [v if v is not None else f for v, f in zip(series, fill, strict=True)]
    raise AlarmExpressionError("FILL supports a number, a series or REPEAT locally")
