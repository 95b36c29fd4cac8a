"""Prediction requests: the body's two forms, every problem found by row and field, and the float32
matrix the ONNX model takes, encoded exactly as `mlops.training.features` encodes training data
(a date's parts through the same function, `mlops.serving.date_parts.derive_parts`).

One module past 500 lines on purpose: the fast path that checks and encodes a request's plain number
fields in one numpy step and the per-field path that names every problem must agree on what is
valid, and they stay side by side so a change to one is read against the other."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops.serving.date_parts import ISO_FORMAT, derive_parts, iso_text, parse_iso
from mlops.serving.signature import ServedInput, ServedSignature

MAX_ROWS = 1000
MAX_PROBLEMS = 100  # listed in one answer; the count says how many there were
# Of a name or value the client sent, quoted back in a message: a 3 MB field name quoted twice made an
# answer past Lambda's 6 MB response limit, which the client got as a 502 and the 5xx alarm counted.
QUOTED_CHARACTERS = 100
QUOTED_NAMES = 10
Policy = Literal["reject", "warn"]
_NUMBER_TYPES = (int, float)
_PLAIN_NUMBERS = frozenset(_NUMBER_TYPES)  # type(v): a bool is not one
_TOP_LEVEL = frozenset({"instances", "columns", "data", "request_key", "explain"})
_ABSENT: Any = object()  # a field the row does not have (reported once, as missing_field)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (row, field) and what."""

    code: str
    message: str
    row: int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.row is not None:
            found["row"] = self.row
        if self.field is not None:
            found["field"] = self.field
        return found


POLICY_CODES = frozenset({"out_of_range", "unseen_category"})  # refused by the serving policy, not malformed


@dataclass(frozen=True)
class RefusedRows:
    """The rows of a request the serving policy refused, as capture keeps them: each field's values
    for every row that was well formed (a wrong type or a missing field is the client's bug, not
    traffic), and per row the fields the policy refused with why (`{field: "out_of_range"}`; empty
    for a row that fitted but was refused with its request)."""

    values: dict[str, list[Any]]
    refusals: list[dict[str, str]]
    kept: list[int] | None = None  # the request's rows these are (None: all of them)

    @property
    def rows(self) -> int:
        return len(self.refusals)


class RequestError(Exception):
    """The request cannot be answered: HTTP status, a one-line summary and every problem found.

    `refused` holds the well-formed rows when the serving policy (not a malformed body) refused
    the request, so they can still be captured for drift checks."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[Problem] = (),
        refused: RefusedRows | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.refused = refused

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems:
            error["problems"] = [p.as_dict() for p in self.problems[:MAX_PROBLEMS]]
            error["problem_count"] = len(self.problems)
        return {"error": error}


@dataclass(frozen=True)
class InputPolicy:
    """What a model's config says to do with values the data contract does not allow."""

    out_of_range: Policy = "reject"
    unseen_category: Policy = "reject"

    @classmethod
    def from_record(cls, serving: Mapping[str, Any] | None) -> InputPolicy:
        serving = serving or {}
        return cls(
            out_of_range="warn" if serving.get("out_of_range") == "warn" else "reject",
            unseen_category="warn" if serving.get("unseen_category") == "warn" else "reject",
        )


_LARGEST = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class NumberColumns:
    """A signature's plain number fields (numeric, not bool, without allowed values): a request's
    values for all of them are checked and encoded in one numpy step, not one step per field. Worked
    out once per loaded version (`ServedVersion.number_columns`). A field with allowed values takes
    the per-field path, which checks them."""

    names: tuple[str, ...]
    fields: frozenset[str]
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # a row's values of `names`, in order
    columns: NDArray[np.intp]  # each field's column in the model's input
    # The contract's bounds; where it has none, the largest finite float64, so that one comparison
    # with the bounds also turns away NaN and the infinities.
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    whole: NDArray[np.intp]  # the positions in `names` of int fields, whose values must be whole numbers


def number_columns(signature: ServedSignature) -> NumberColumns:
    plain = [
        i for i in signature.inputs if i.kind == "numeric" and i.source_type != "bool" and i.allowed_numbers is None
    ]
    names = tuple(i.name for i in plain)
    return NumberColumns(
        names=names,
        fields=frozenset(names),
        pick=_picker(names),
        columns=np.array([i.column for i in plain], dtype=np.intp),
        low=np.array([-_LARGEST if i.allowed_min is None else i.allowed_min for i in plain], dtype=np.float64),
        high=np.array([_LARGEST if i.allowed_max is None else i.allowed_max for i in plain], dtype=np.float64),
        whole=np.array([j for j, i in enumerate(plain) if i.source_type == "int"], dtype=np.intp),
    )


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """itemgetter (one C call per row), as a tuple whatever the number of names (it gives a bare
    value for one name)."""
    if len(names) > 1:
        return itemgetter(*names)
    return lambda row: tuple(row[name] for name in names)


class EncodedRequest:
    """The model's input plus what capture keeps: each field's values (NaN / None for null).

    The values of the fields encoded together in one numpy step (`NumberColumns`) are gathered from
    the rows only when asked for: capture samples a tenth of requests, and the rest never need them."""

    def __init__(
        self,
        matrix: NDArray[np.float32],
        values: dict[str, list[Any]],
        warnings: list[Problem] | None = None,
        *,
        rows: Sequence[Mapping[str, Any]] = (),
        gathered: tuple[str, ...] = (),
    ) -> None:
        self.matrix = matrix
        self.warnings = warnings if warnings is not None else []
        self._values = values
        self._rows = rows
        self._gathered = gathered

    @property
    def values(self) -> dict[str, list[Any]]:
        if self._gathered:
            for name in self._gathered:
                self._values[name] = [row[name] for row in self._rows]
            self._gathered = ()
            self._rows = ()
        return self._values

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])


def request_rows(body: Any, *, max_rows: int = MAX_ROWS, model: str = "<model>") -> list[Mapping[str, Any]]:
    """The records of `{"instances": [{...}, ...]}` or `{"columns": [...], "data": [[...], ...]}`;
    `model` names where a request over the row limit is scored instead (batch scoring's prefix)."""
    if not isinstance(body, Mapping):
        raise RequestError(
            400, "invalid_body", 'the body must be a JSON object with "instances" or "columns" and "data"'
        )
    forms = [k for k in ("instances", "columns") if k in body]
    unknown = sorted(body.keys() - _TOP_LEVEL) if len(forms) != len(body) else []
    if unknown:
        raise RequestError(
            400,
            "invalid_body",
            f"unknown top-level keys {_quoted_all(unknown)}: expected instances, or columns and data",
        )
    if len(forms) != 1:
        raise RequestError(400, "invalid_body", 'give exactly one of "instances" or "columns" (with "data")')
    if forms[0] == "instances":
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RequestError(400, "invalid_body", '"instances" must be a list of objects')
        _check_count(len(instances), max_rows, model)
        problems = [
            Problem("invalid_row", f"row {i} must be an object of field: value, got {_json_type(r)}", row=i)
            for i, r in enumerate(instances)
            if type(r) is not dict and not isinstance(r, Mapping)  # JSON objects are dicts: no ABC check
        ]
        if problems:
            raise RequestError(400, "invalid_body", f"{len(problems)} rows are not objects", problems)
        return instances
    columns, data = body["columns"], body.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError(400, "invalid_body", '"columns" must be a list of field names')
    if len(set(columns)) != len(columns):
        # Counted once: list.count per column was quadratic (40,000 columns took 14 s, past the timeout).
        repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
        raise RequestError(400, "invalid_body", f'"columns" names {_quoted_all(repeated)} more than once')
    if not isinstance(data, list):
        raise RequestError(400, "invalid_body", '"data" must be a list of rows, each a list of values')
    _check_count(len(data), max_rows, model)
    problems = [
        Problem("invalid_row", f"row {i} must be a list of {len(columns)} values", row=i)
        for i, r in enumerate(data)
        if not isinstance(r, list) or len(r) != len(columns)
    ]
    if problems:
        raise RequestError(400, "invalid_body", f"{len(problems)} rows do not match the columns", problems)
    return [dict(zip(columns, r, strict=True)) for r in data]


def _check_count(rows: int, max_rows: int, model: str) -> None:
    if rows > max_rows:
        raise RequestError(
            413,
            "too_many_rows",
            f"{rows} rows in one request; the limit is {max_rows}. Score more rows with batch scoring: upload "
            f"them as a CSV, gzip CSV or JSON Lines file to the raw bucket under batch/{model}/; the predictions "
            f"land in batch/{model}/<file name without extension>.predictions/",
        )
    if rows == 0:
        raise RequestError(400, "invalid_body", "the request has no rows")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def encode_request(
    rows: Sequence[Mapping[str, Any]],
    signature: ServedSignature,
    policy: InputPolicy,
    numbers: NumberColumns | None = None,
) -> EncodedRequest:
    """Check every row against the signature and encode them; raise with all problems at once.
    `numbers`: the signature's `number_columns`, when the caller keeps them (the predict path)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    known = signature.field_names
    for i, row in enumerate(rows):
        keys = row.keys()
        if len(keys) != len(known) or keys != known:
            for name in sorted(k for k in keys if k not in known):
                problems.append(
                    Problem("unknown_field", f"{quoted(name)} is not an input of this model", i, bounded(str(name)))
                )
            for name in sorted(known - set(keys)):
                # Null is an answer only for a field the contract lets be missing.
                nullable = signature.field(name).nullable
                hint = "send null if it is unknown" if nullable else "it does not accept null either"
                problems.append(Problem("missing_field", f"{name!r} is required ({hint})", i, name))
    matrix = np.zeros((len(rows), signature.n_features), dtype=np.float32)
    values: dict[str, list[Any]] = {}
    numbers = numbers if numbers is not None else number_columns(signature)
    together = not problems and _encode_numbers(matrix, numbers, rows)
    for spec in signature.inputs:
        if together and spec.name in numbers.fields:
            values[spec.name] = []  # encoded above; its values are gathered from the rows if capture asks
            continue
        column = [row.get(spec.name, _ABSENT) for row in rows]
        if spec.kind == "numeric":
            values[spec.name] = _numeric(matrix, spec, column, policy, problems, warnings)
        elif spec.kind == "datetime":
            values.update(_datetime(matrix, spec, column, problems))
        else:
            values[spec.name] = _categorical(matrix, spec, column, policy, problems, warnings)
    if problems:
        if together:
            values.update({name: [row[name] for row in rows] for name in numbers.names})
        problems.sort(key=lambda p: (p.row if p.row is not None else -1, p.field or ""))
        raise RequestError(
            400, "invalid_input", _summary(problems, policy), problems, _refused_rows(len(rows), values, problems)
        )
    if together:
        return EncodedRequest(matrix, values, warnings, rows=rows, gathered=numbers.names)
    return EncodedRequest(matrix, values, warnings)


def _encode_numbers(matrix: NDArray[np.float32], numbers: NumberColumns, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Every plain number field of every row in one numpy step, when each value is an int or a float,
    finite, within the contract's bounds and whole for an int field (the common case); False leaves
    the matrix untouched, and the fields are then checked one by one, which names each problem by row
    and field."""
    if not numbers.names:
        return False
    table = list(map(numbers.pick, rows))  # each row's values, in one call per row
    if not set(map(type, chain.from_iterable(table))) <= _PLAIN_NUMBERS:
        return False
    try:
        block = np.array(table, dtype=np.float64)
    except OverflowError:  # an integer too large for a float
        return False
    # NaN and the infinities fail these comparisons too: the bounds are finite (see NumberColumns).
    if not np.logical_and(block >= numbers.low, block <= numbers.high).all():
        return False
    if numbers.whole.size and not _whole(block[:, numbers.whole]).all():
        return False
    matrix[:, numbers.columns] = block
    return True


def _refused_rows(count: int, values: dict[str, list[Any]], problems: Sequence[Problem]) -> RefusedRows | None:
    """The well-formed rows of a request the policy refused; None when the policy refused nothing."""
    if not any(p.code in POLICY_CODES for p in problems):
        return None
    malformed = {p.row for p in problems if p.code not in POLICY_CODES}
    kept = [i for i in range(count) if i not in malformed]
    refusals: dict[int, dict[str, str]] = {}
    for p in problems:
        if p.code in POLICY_CODES and p.row is not None and p.row not in malformed and p.field is not None:
            refusals.setdefault(p.row, {})[p.field] = p.code
    return RefusedRows(
        values={name: [column[i] for i in kept] for name, column in values.items()},
        refusals=[refusals.get(i, {}) for i in kept],
        kept=kept,
    )


def _summary(problems: Sequence[Problem], policy: InputPolicy | None = None) -> str:
    rows = {p.row for p in problems if p.row is not None}
    summary = (
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(rows)} row{'s' if len(rows) != 1 else ''}"
    )
    refused = sorted({p.code for p in problems if p.code in POLICY_CODES})
    if refused and policy is not None:
        summary += (
            f"; {' and '.join(refused)} values are refused by the model's serving policy "
            f"({', '.join(f'{code}: reject' for code in refused)}): send values the data contract allows, "
            "or ask the model's owner to set the policy to warn"
        )
    return summary


def _numeric(
    matrix: NDArray[np.float32],
    spec: ServedInput,
    column: list[Any],
    policy: InputPolicy,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[Any]:
    """Numbers go through numpy in one step when every value is a plain int or float (the common case)."""
    boolean = spec.source_type == "bool"
    if not boolean and all(type(v) in _NUMBER_TYPES for v in column):
        try:
            numbers = np.array(column, dtype=np.float64)
        except OverflowError:  # an integer too large for a float: the loop below reports it
            numbers = np.array([math.nan])
        if np.isfinite(numbers).all() and not _outside(numbers, spec).any() and _fits(numbers, spec).all():
            matrix[:, spec.column] = numbers
            return column
    converted: list[float] = []
    for i, value in enumerate(column):
        if value is _ABSENT:
            converted.append(math.nan)
            continue
        number = _number(value, spec, boolean)
        if isinstance(number, Problem):
            problems.append(Problem(number.code, number.message, i, spec.name))
            converted.append(math.nan)
            continue
        if number is None:
            if not spec.nullable:
                problems.append(Problem("null", f"{spec.name!r} may not be null", i, spec.name))
            converted.append(math.nan)
            matrix[i, spec.column] = spec.impute
            continue
        bound = _bound_problem(number, spec)
        if bound is not None:
            found = Problem("out_of_range", bound, i, spec.name)
            (problems if policy.out_of_range == "reject" else warnings).append(found)
        elif spec.allowed_numbers is not None and number not in spec.allowed_numbers:
            # The README's code for a value outside the contract's allowed values, whatever its type.
            listed = ", ".join(f"{v:g}" for v in sorted(spec.allowed_numbers)[:10])
            found = Problem(
                "unseen_category",
                f"{number:g} is not among the data contract's allowed values ({listed})",
                i,
                spec.name,
            )
            (problems if policy.unseen_category == "reject" else warnings).append(found)
        converted.append(number)
        matrix[i, spec.column] = number
    return converted


def _number(value: Any, spec: ServedInput, boolean: bool) -> float | Problem | None:
    if value is None:
        return None
    if boolean:
        if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
            return float(value)
        return Problem("wrong_type", f"expected true or false, got {_shown(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Problem("wrong_type", f"expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # JSON integers have no size limit; a float does
        digits = int(int(value).bit_length() * math.log10(2)) + 1  # str() of a huge int is itself refused past 4,300
        return Problem(
            "not_finite",
            f"expected a number a 64-bit float can hold (up to about 1.8e308), got an integer of about {digits} digits",
        )
    if not math.isfinite(number):
        return Problem("not_finite", f"expected a finite number, got {number}{_missing_hint(spec)}")
    if spec.source_type == "int" and not number.is_integer():  # 2.0 is whole: JSON does not tell 2 from 2.0
        return Problem("wrong_type", f"expected a whole number (an int field), got {_shown(value)}")
    return number


def _missing_hint(spec: ServedInput) -> str:
    """NaN is how pandas' to_dict('records') spells a missing value; JSON's is null."""
    if spec.nullable:
        return "; for a missing value send null (this field accepts null)"
    return "; this field needs a value (it does not accept null either)"


def _outside(numbers: NDArray[np.float64], spec: ServedInput) -> NDArray[np.bool_]:
    outside = np.zeros(numbers.shape, dtype=bool)
    if spec.allowed_min is not None:
        outside |= numbers < spec.allowed_min
    if spec.allowed_max is not None:
        outside |= numbers > spec.allowed_max
    return outside


def _whole(numbers: NDArray[np.float64]) -> NDArray[np.bool_]:
    whole: NDArray[np.bool_] = np.floor(numbers) == numbers
    return whole


def _fits(numbers: NDArray[np.float64], spec: ServedInput) -> NDArray[np.bool_]:
    """Which values the field takes as they are: whole for an int field, and among the contract's
    allowed values when it lists them (the per-field loop names the rest)."""
    fits = _whole(numbers) if spec.source_type == "int" else np.ones(numbers.shape, dtype=bool)
    if spec.allowed_numbers is not None:
        fits &= np.isin(numbers, np.array(sorted(spec.allowed_numbers), dtype=np.float64))
    return fits


def _bound_problem(number: float, spec: ServedInput) -> str | None:
    if spec.allowed_min is not None and number < spec.allowed_min:
        return f"{number:g} is below the data contract's minimum {spec.allowed_min:g}"
    if spec.allowed_max is not None and number > spec.allowed_max:
        return f"{number:g} is above the data contract's maximum {spec.allowed_max:g}"
    return None


def _datetime(
    matrix: NDArray[np.float32], spec: ServedInput, column: list[Any], problems: list[Problem]
) -> dict[str, list[Any]]:
    """ISO 8601 text to UTC instants, then to the parts the model was trained on (missing: each
    part's training value). Returns what capture keeps: the instants as ISO text, and the parts."""
    moments: list[np.datetime64] = []
    for i, value in enumerate(column):
        moment = None
        if value is None and not spec.nullable:
            problems.append(Problem("null", f"{spec.name!r} may not be null", i, spec.name))
        elif value is not None and value is not _ABSENT:
            moment = parse_iso(value) if isinstance(value, str) else None
            if moment is None:
                problems.append(Problem("wrong_format", f"expected an {ISO_FORMAT}; got {_shown(value)}", i, spec.name))
        moments.append(np.datetime64("NaT", "us") if moment is None else moment)
    stamps = np.array(moments, dtype="datetime64[us]")
    derived = derive_parts(stamps, spec.parts, spec.reference, spec.part_impute)
    matrix[:, spec.column : spec.column + spec.width] = derived
    missing = np.isnat(stamps)
    captured: dict[str, list[Any]] = {spec.name: [None if np.isnat(m) else iso_text(m) for m in stamps]}
    for j, name in enumerate(spec.part_names):  # drift counts a missing date as missing, not as its imputed parts
        captured[name] = np.where(missing, np.nan, derived[:, j]).tolist()
    return captured


def _categorical(
    matrix: NDArray[np.float32],
    spec: ServedInput,
    column: list[Any],
    policy: InputPolicy,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[Any]:
    positions = {c: spec.column + j for j, c in enumerate(spec.categories)}
    other = spec.column + len(spec.categories) if spec.other else None
    texts: list[Any] = []
    for i, value in enumerate(column):
        if value is _ABSENT:
            texts.append(None)
            continue
        if value is None:
            if not spec.nullable:
                problems.append(Problem("null", f"{spec.name!r} may not be null", i, spec.name))
            texts.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            problems.append(Problem("wrong_type", f"expected a string, got {_shown(value)}", i, spec.name))
            texts.append(None)
            continue
        text = str(value)
        texts.append(text)
        position = positions.get(text)
        if position is not None:
            matrix[i, position] = 1.0
            continue
        unseen = _unseen(text, spec)
        if unseen is not None:
            found = Problem("unseen_category", unseen, i, spec.name)
            (problems if policy.unseen_category == "reject" else warnings).append(found)
        if other is not None:
            matrix[i, other] = 1.0
    return texts


def _unseen(text: str, spec: ServedInput) -> str | None:
    """Why a value outside the training categories is suspect, or None when it is a known rare value.

    With the contract's allowed values the answer is exact. Without them, a model that folded rare
    training values into `__other__` cannot tell a rare value from a new one: it warns only."""
    if spec.allowed_values is not None:
        if text in spec.allowed_values:
            return None
        return f"{quoted(text)} is not among the data contract's allowed values"
    if spec.other:
        return None
    return f"{quoted(text)} was never seen in training (known: {', '.join(spec.categories[:10])})"


def bounded(text: str) -> str:
    """A name the client sent, as an answer's `field` names it: whole when short, else its start."""
    return text if len(text) <= QUOTED_CHARACTERS else text[:QUOTED_CHARACTERS] + "…"


def quoted(text: str) -> str:
    """A name or value the client sent, as a message quotes it: whole when short, else its start and length."""
    if len(text) <= QUOTED_CHARACTERS:
        return repr(text)
    return f"{text[:QUOTED_CHARACTERS]!r}… ({len(text):,} characters)"


def _quoted_all(texts: Sequence[str]) -> str:
    """Names the client sent, as a list: as Python lists them when few and short, else bounded."""
    if len(texts) <= QUOTED_NAMES and all(len(t) <= QUOTED_CHARACTERS for t in texts):
        return str(list(texts))
    more = f", and {len(texts) - QUOTED_NAMES:,} more" if len(texts) > QUOTED_NAMES else ""
    return "[" + ", ".join(quoted(t) for t in texts[:QUOTED_NAMES]) + more + "]"


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{_json_type(value)} {text[:40]}{'…' if len(text) > 40 else ''}"
