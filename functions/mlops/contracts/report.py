"""The validation report: stable JSON for machines, and a short summary a data engineer reads first."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops.contracts.model import Severity
from mlops.contracts.profile import ColumnProfile

MAX_EXAMPLES = 20
SUMMARY_EXAMPLES = 3
SHOWN_NAMES = 10  # undeclared columns named in the summary line; the rest counted
SHOWN_CHARACTERS = 200


class Example(BaseModel):
    """One offending cell or row: ``row`` is the 1-based data row (the first row after the header is 1)."""

    model_config = ConfigDict(extra="forbid")

    row: int
    value: Any


class ExpectationResult(BaseModel):
    """The outcome of one expectation; ``expectation`` is a stable id such as ``column.min``."""

    model_config = ConfigDict(extra="forbid")

    expectation: str
    column: str | None = None
    severity: Severity
    success: bool
    observed_value: Any = None
    unexpected_count: int = 0
    unexpected_percent: float = 0.0
    mostly: float = 1.0
    examples: list[Example] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="what was expected, e.g. {'min': 0}")


class FileProblemInfo(BaseModel):
    """Why no row of the file could be checked."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    line: int | None = None
    byte_offset: int | None = None


class ValidationReport(BaseModel):
    """Everything checked about one upload against one contract version."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    contract_version: int
    file_name: str
    rows: int
    columns: int
    column_names: list[str] = Field(default_factory=list)
    accepted: bool
    failed_errors: int
    failed_warnings: int
    results: list[ExpectationResult] = Field(default_factory=list)
    file_problem: FileProblemInfo | None = None
    # Each column's profile for the report page (`profile`); not part of the JSON, whose bytes stay
    # the same for a single file and a partitioned version of it (samples differ between the two).
    profiles: list[ColumnProfile] = Field(default_factory=list, exclude=True)

    @classmethod
    def build(
        cls,
        *,
        dataset: str,
        contract_version: int,
        file_name: str,
        rows: int,
        column_names: list[str],
        results: list[ExpectationResult],
        file_problem: FileProblemInfo | None = None,
        profiles: list[ColumnProfile] | None = None,
    ) -> ValidationReport:
        """Derive acceptance and the counts from the results, so they can never disagree."""
        errors = sum(1 for r in results if not r.success and r.severity == "error")
        warnings = sum(1 for r in results if not r.success and r.severity == "warning")
        return cls(
            dataset=dataset,
            contract_version=contract_version,
            file_name=file_name,
            rows=rows,
            columns=len(column_names),
            column_names=column_names,
            accepted=errors == 0 and file_problem is None,
            failed_errors=errors,
            failed_warnings=warnings,
            results=results,
            file_problem=file_problem,
            profiles=profiles or [],
        )

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def to_json(self) -> str:
        """Sorted keys and no float noise, so two runs on the same file give the same bytes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False)

    def summary(self) -> str:
        return render_summary(self)


def json_safe(value: Any) -> Any:
    """A cell or statistic as plain JSON: numpy scalars unwrapped, NaN and NaT as null, times as ISO text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else (value if math.isfinite(value) else str(value))
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _percent(value: float) -> str:
    if value == 0:
        return "0 %"
    if value >= 10:
        return f"{value:.0f} %"
    if value >= 0.1:
        return f"{value:.1f} %"
    return f"{value:.2g} %"


def _examples(result: ExpectationResult) -> str:
    if not result.examples:
        return ""
    shown = ", ".join(f"row {e.row}: {_cell(e.value)}" for e in result.examples[:SUMMARY_EXAMPLES])
    return f", e.g. {shown}"


def _cell(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return shortened(repr(value))
    return _number(value)


def shortened(text: str) -> str:
    """A value from the upload cut to SHOWN_CHARACTERS for the summary and the mail (the page cuts
    its cells the same way): a 500-character cell, or 3,000 column names, made lines nobody reads."""
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


def _range(details: dict[str, Any]) -> str:
    low, high = details.get("min"), details.get("max")
    if low is not None and high is not None:
        return f"in [{_number(low)}, {_number(high)}]"
    return f"≥ {_number(low)}" if low is not None else f"≤ {_number(high)}"


def expectation_text(result: ExpectationResult) -> str:
    """The expectation as the contract states it, e.g. ``column 'age' min ≥ 0``."""
    d = result.details
    column = f"column '{result.column}'"
    kind = result.expectation
    if kind == "column.required":
        return f"{column} is required"
    if kind == "column.forbidden":
        return f"{column} is forbidden"
    if kind == "table.extra_columns":
        return "no undeclared columns"
    if kind == "column.type":
        return f"{column} type {d.get('type')}"
    if kind == "column.not_null":
        return f"{column} not null"
    if kind == "column.min":
        return f"{column} min ≥ {_number(d.get('min'))}"
    if kind == "column.max":
        return f"{column} max ≤ {_number(d.get('max'))}"
    if kind == "column.allowed_values":
        values = d.get("allowed_values") or []
        shown = ", ".join(str(v) for v in values[:8]) + (", …" if len(values) > 8 else "")
        return f"{column} in {{{shown}}}"
    if kind == "column.regex":
        return f"{column} matches /{d.get('regex')}/"
    if kind == "column.unique":
        return f"{column} unique"
    if kind == "table.row_count":
        return f"row count {_range(d)}"
    if kind == "table.duplicate_rows":
        return "no duplicate rows"
    if kind == "label.class_share":
        return f"label '{result.column}' class share ≥ {_number(d.get('min_share'))}"
    if kind.startswith("distribution."):
        stat = kind.removeprefix("distribution.")
        if stat == "quantile":
            stat = f"quantile {_number(d.get('q'))}"
        return f"{column} {stat} {_range(d)}"
    return f"{kind}{' ' + column if result.column else ''}"


_FAILURE_WORDS = {
    "column.type": "not parseable",
    "column.not_null": "null",
    "column.min": "below",
    "column.max": "above",
    "column.allowed_values": "not allowed",
    "column.regex": "not matching",
    "column.unique": "repeated",
    "table.duplicate_rows": "duplicates",
}


def _outcome(result: ExpectationResult, rows: int) -> str:
    kind = result.expectation
    if kind == "column.required":
        return "missing from the file"
    if kind == "column.forbidden":
        return "present in the file"
    if kind == "table.extra_columns":
        found = list(result.observed_value or [])
        shown = ", ".join(repr(c) for c in found[:SHOWN_NAMES])
        return f"found {shown}" + (f" and {len(found) - SHOWN_NAMES:,} more" if len(found) > SHOWN_NAMES else "")
    if kind == "table.row_count":
        return f"{rows:,} rows"
    if kind == "label.class_share":
        shares = result.details.get("below") or {}
        shown = ", ".join(f"{k!s}: {v:.3g}" for k, v in list(shares.items())[:5])
        return f"{result.unexpected_count} class(es) below ({shown})"
    if kind.startswith("distribution."):
        if result.observed_value is None:
            return "no values to compute it from"
        return f"observed {_number(result.observed_value)}"
    word = _FAILURE_WORDS.get(kind, "unexpected")
    noun = "rows" if result.unexpected_count != 1 else "row"
    tolerance = f", {_percent(100 * (1 - result.mostly))} tolerated" if result.mostly < 1 else ""
    count = f"{result.unexpected_count:,} {noun} ({_percent(result.unexpected_percent)}) {word}{tolerance}"
    return count + _examples(result)


def render_summary(report: ValidationReport) -> str:
    """Accepted or rejected and why, then each failed check as one line: errors first, then warnings."""
    verdict = "ACCEPTED" if report.accepted else "REJECTED"
    # A name with a line break in it (S3 keys may hold one) would start a line of its own text.
    name = report.file_name if report.file_name.isprintable() else repr(report.file_name)
    lines = [
        f"{verdict} {name} for dataset '{report.dataset}' (contract v{report.contract_version}): "
        f"{report.rows:,} rows, {report.columns} columns",
    ]
    if report.file_problem is not None:
        lines.append(f"✗ file   {report.file_problem.code}: {report.file_problem.message}")
        return "\n".join(lines)
    passed = sum(1 for r in report.results if r.success)
    lines.append(
        f"{passed} of {len(report.results)} checks passed; "
        f"{report.failed_errors} error(s), {report.failed_warnings} warning(s)"
    )
    for severity, mark in (("error", "✗ error  "), ("warning", "⚠ warning")):
        for result in report.results:
            if not result.success and result.severity == severity:
                lines.append(f"{mark} {expectation_text(result)}: {_outcome(result, report.rows)}")
    return "\n".join(lines)
