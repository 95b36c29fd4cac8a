"""The small query language over training runs, one parser for every place that takes it:
`mlops runs --filter status=failed`, `mlops runs search --metric roc_auc>0.9 --param max_depth=6
--sort roc_auc` and `GET /v1/runs?metric=...&param=...&sort=...`.

An expression is NAME OP VALUE (`= != > >= < <=`); a value compares as a number against a number,
as true/false against a boolean, as text otherwise. A metric's `=` and `!=` compare at the precision
`mlops runs compare` prints (PRINTED_DIGITS significant digits), so a figure copied from it matches;
an ordering operator (`> >= < <=`) takes only a finite number. Sorting puts the best first for a metric (by
its direction), the newest or longest first for times, and a leading `-` flips it. Plain data and
the standard library: the CLI and the registry API's function both load it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from mlops.training.metric_names import METRIC_DIRECTIONS

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
ORDERING = (">", ">=", "<", "<=")
PRINTED_DIGITS = 6  # significant digits of a metric as `mlops runs compare` prints it (`.6g`)
_NOTHING = ("null", "none")  # how a parameter left unset (max_depth: null) is written in an expression

Row = TypeVar("Row")


class RunsQueryError(ValueError):
    """An expression or sort the runs cannot be queried with; the message names it and says why."""


@dataclass(frozen=True)
class RunFilter:
    """`status=failed`, `roc_auc>=0.95`, `max_depth=6`: a name, an operator and a value."""

    column: str
    op: str
    value: str
    digits: int | None = None  # `=`/`!=` on a number compare at this many significant digits (a metric's)

    @classmethod
    def parse(
        cls, text: str, *, flag: str = "--filter", name: str = "COLUMN", example: str = "status=failed or roc_auc>=0.95"
    ) -> Self:
        """The expression in `text`; `flag`, `name` and `example` word the error for the place it came from."""
        matched = _EXPRESSION.match(text)
        if matched is None:
            raise RunsQueryError(
                f"{flag} {text!r}: write {name} OP VALUE, e.g. {example} (operators: {', '.join(OPERATORS)})"
            )
        column, op, value = matched.groups()
        if not value:
            raise RunsQueryError(f"{flag} {text!r}: no value after {op!r}")
        return cls(column, op, value)

    def holds(self, value: Any, *, present: bool = True) -> bool:
        """Whether a run's `value` satisfies the expression. A value the run does not have at all
        (`present` False: a parameter its estimator lacks) satisfies only `!=`; None (a metric not
        computed, a parameter left unset) also satisfies `=null`."""
        if not present:
            return self.op == "!="
        if value is None:
            unset = self.value.lower() in _NOTHING
            return unset == (self.op == "=") if self.op in ("=", "!=") else False
        if isinstance(value, bool):
            if self.op not in ("=", "!="):
                raise RunsQueryError(f"{self.column}: {self.op} does not order true and false (use = or !=)")
            return (str(value).lower() == self.value.lower()) == (self.op == "=")
        if isinstance(value, int | float):
            if self.digits is not None and self.op in ("=", "!="):
                return (_rounded(value, self.digits) == _rounded(self.number(), self.digits)) == (self.op == "=")
            return bool(OPERATORS[self.op](value, self.number()))
        if self.op not in ("=", "!="):
            return bool(OPERATORS[self.op](str(value), self.value))
        return (str(value) == self.value) == (self.op == "=")

    def number(self) -> float:
        try:
            return float(self.value.removeprefix("v"))
        except ValueError:
            raise RunsQueryError(f"{self.column}{self.op}{self.value}: {self.value!r} is not a number") from None


def metric_filter(text: str, *, flag: str = "--metric") -> RunFilter:
    """A metric expression checked whole before any run is read: a metric the platform computes,
    matched whatever its case (`ROC_AUC` is roc_auc; a near miss is named: `auc` -> roc_auc), and a
    finite number to compare it with (nan matches nothing and inf everything or nothing: refused)."""
    found = RunFilter.parse(text, flag=flag, name="METRIC", example="roc_auc>0.9")
    column = found.column.lower()
    if column not in METRIC_DIRECTIONS:
        raise RunsQueryError(f"{flag} {text!r}: {unknown_metric(found.column)}")
    _finite_number(found, text, flag)
    return dataclasses.replace(found, column=column, digits=PRINTED_DIGITS)


def param_filter(text: str, *, flag: str = "--param") -> RunFilter:
    """A hyperparameter expression: any parameter name (estimators differ in theirs). An ordering
    operator needs a finite number, refused here rather than when the first run is compared."""
    found = RunFilter.parse(text, flag=flag, name="PARAM", example="max_depth=6 or C<=1")
    if found.op in ORDERING:
        _finite_number(found, text, flag, why=f" ({found.op} orders numbers; use = or != for text)")
    return found


def _finite_number(found: RunFilter, text: str, flag: str, *, why: str = "") -> None:
    try:
        number = found.number()
    except RunsQueryError:
        raise RunsQueryError(f"{flag} {text!r}: {found.value!r} is not a number{why}") from None
    if not math.isfinite(number):
        raise RunsQueryError(f"{flag} {text!r}: {found.value!r} is not a finite number")


def _rounded(number: float, digits: int) -> float:
    return float(f"{number:.{digits}g}")


def unknown_metric(name: str) -> str:
    """`no metric 'auc' (did you mean roc_auc?); the metrics are ...`."""
    lowered = name.lower()
    close = difflib.get_close_matches(lowered, list(METRIC_DIRECTIONS), n=1, cutoff=0.5)
    close += [m for m in METRIC_DIRECTIONS if lowered and lowered in m and m not in close]
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"no metric {name!r}{hint}; the metrics are {', '.join(sorted(METRIC_DIRECTIONS))}"


def sort_key(text: str) -> tuple[str, bool]:
    """`roc_auc` -> ('roc_auc', False); `-roc_auc` -> ('roc_auc', True): the column and whether the
    leading `-` asks for the other way round."""
    return (text[1:], True) if text.startswith("-") else (text, False)


def sorted_rows(
    rows: Sequence[Row],
    column: str,
    value: Callable[[Row, str], Any],
    *,
    descending: bool,
) -> list[Row]:
    """Rows ordered by `value(row, column)` (numbers before text), those without it last either way."""
    present = [r for r in rows if value(r, column) is not None]
    missing = [r for r in rows if value(r, column) is None]
    present.sort(key=lambda r: _sortable(value(r, column)), reverse=descending)
    return present + missing


def best_first(metric: str) -> bool:
    """Whether a metric sorts descending to put the best first (unknown names: as a score)."""
    return METRIC_DIRECTIONS.get(metric, "max") == "max"


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
