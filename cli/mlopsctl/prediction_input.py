"""The rows `mlops predict` sends, read from the file a user has: JSON (the API's own body, or a
list of rows), JSON Lines (one row object a line) or CSV (a header, then rows).

CSV cells are text; the model's signature (`GET /v1/models/{name}/signature`) says which fields are
numbers, booleans or text, so `7` becomes 7 for a numeric field and stays "7" for a category, and
an empty cell becomes null. Columns the model does not take (the label, an id) are left out and
named, rather than refused row by row as unknown fields; the id field the model's labels may name
rows by (`monitoring.performance.id_field`) is kept, as text. Standard library only: `mlops predict`
starts without pandas.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

InputForm = Literal["json", "jsonl", "csv"]
FORMS: tuple[InputForm, ...] = ("json", "jsonl", "csv")
NUMERIC_TYPES = frozenset({"int", "float"})
TRUE, FALSE = frozenset({"true", "1", "yes", "t", "y"}), frozenset({"false", "0", "no", "f", "n"})


class PredictionInputError(ValueError):
    """The file cannot be read as prediction rows; the message says where."""


@dataclass(frozen=True)
class PredictionInput:
    """The request body, and the columns left out because the model does not take them."""

    body: dict[str, Any]
    left_out: list[str] = field(default_factory=list)
    # The file line each row starts on (CSV, JSON Lines): the API numbers rows from 0, a user's editor
    # and `mlops contract check` by line, so a problem names both.
    lines: list[int] = field(default_factory=list)


def input_form(path: str | None, text: str) -> InputForm:
    """The form by the file's extension; for stdin or another name, by its first characters."""
    name = (path or "").lower().removesuffix(".txt")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    start = text.lstrip()
    if start.startswith("["):
        return "json"
    if start.startswith("{"):
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            return "jsonl" if error.msg == "Extra data" else "json"
        return "json"
    return "csv"


def read_prediction_input(text: str, form: InputForm, field_types: Mapping[str, str] | None = None) -> PredictionInput:
    """The body for POST /v1/models/{name}/predict; `field_types` (name -> contract type, from the
    signature) types CSV cells and decides which columns to leave out."""
    if form == "json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise PredictionInputError(f"not JSON: {error}") from None
        return PredictionInput(body if isinstance(body, dict) else {"instances": body})
    if form == "jsonl":
        rows, lines = _json_lines(text)
        return PredictionInput({"instances": rows}, lines=lines)
    return _csv_rows(text, field_types)


def _json_lines(text: str) -> tuple[list[Any], list[int]]:
    rows, lines = [], []
    # Lines end at \n, \r\n or \r, as batch scoring reads them (mlops.serving.batch.reading): not
    # str.splitlines, which also ends one at U+2028, U+2029 and U+0085, which a JSON string may hold raw:
    # a valid file was refused.
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise PredictionInputError(f"line {number} is not JSON: {error}") from None
        lines.append(number)
    return rows, lines


def _csv_rows(text: str, field_types: Mapping[str, str] | None) -> PredictionInput:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise PredictionInputError("the CSV is empty: it needs a header line naming the fields, then rows")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise PredictionInputError(f"the CSV header names {', '.join(map(repr, repeated))} more than once")
    keep = [i for i, name in enumerate(header) if field_types is None or name in field_types]
    left_out = [name for i, name in enumerate(header) if i not in keep]
    columns = [header[i] for i in keep]
    data, lines = [], []
    ended = reader.line_num  # a quoted cell may span lines: a row starts after the last one ended
    for row in reader:
        number, ended = ended + 1, reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise PredictionInputError(f"CSV line {number} has {len(row)} cells; the header has {len(header)}")
        data.append([cell(row[i], (field_types or {}).get(header[i])) for i in keep])
        lines.append(number)
    return PredictionInput({"columns": columns, "data": data}, left_out, lines)


def cell(text: str, kind: str | None) -> Any:
    """One CSV cell as the field's type needs it: empty is null; a number for a numeric field (or,
    without a signature, for anything that reads as a finite number); text otherwise."""
    if text == "":
        return None
    if kind == "bool":
        lowered = text.strip().lower()
        return True if lowered in TRUE else False if lowered in FALSE else text
    if kind in NUMERIC_TYPES or kind is None:
        number = _number(text)
        if number is not None or kind is not None:
            return number if number is not None else text  # not a number: the API names the problem
    return text


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def field_types(signature: Mapping[str, Any]) -> dict[str, str]:
    """name -> contract type of every input of the versions that answer now (a canary's too), and
    the id field labels may name rows by (`labels.id_field`), kept as text as it was written."""
    found: dict[str, str] = {}
    for described in [signature, *(signature.get("versions") or [])]:
        for spec in described.get("inputs") or []:
            found.setdefault(str(spec["name"]), str(spec.get("type")))
    id_field = (signature.get("labels") or {}).get("id_field")
    if isinstance(id_field, str) and id_field:
        found.setdefault(id_field, "string")
    return found


def problem_lines(problems: Sequence[Mapping[str, Any]], count: int | None = None) -> list[str]:
    """The API's per-row, per-field problems, one line each (`row 3 (line 5) mean_radius: ...`)."""
    lines = []
    for p in problems:
        row = f"row {p['row']}" + (f" (line {p['line']})" if "line" in p else "") if "row" in p else None
        where = " ".join(str(x) for x in (row, p.get("field")) if x)
        lines.append(f"  {where or 'request'}: {p.get('message')} [{p.get('code')}]")
    if count is not None and count > len(problems):
        lines.append(f"  … and {count - len(problems)} more (the API lists the first {len(problems)})")
    return lines
