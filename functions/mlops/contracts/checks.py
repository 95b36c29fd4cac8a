"""What each expectation of a contract checks: the table's (columns present, row count, duplicate
rows) and a column's (type, nulls, bounds, allowed values, regex, uniqueness, distributions, the
label's class shares), each over a whole column's typed view at once.

Each check returns its result (`ExpectationResult`); examples are looked up only for a check that
failed. `mlops.contracts.validation` runs them over a frame, column by column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops.contracts.coercion import BoolMask
from mlops.contracts.column_view import ColumnView
from mlops.contracts.duplicates import RowHasher, value_codes
from mlops.contracts.model import (
    BoundExpectation,
    ColumnSpec,
    DataContract,
    DistributionExpectation,
    Expectation,
    PolicyExpectation,
    RowCountExpectation,
    Severity,
    ShareExpectation,
)
from mlops.contracts.report import MAX_EXAMPLES, Example, ExpectationResult, json_safe

_EPSILON = 1e-12


def _meets(unexpected: int, total: int, mostly: float) -> bool:
    """Success when the passing fraction is at least ``mostly`` (an empty check passes)."""
    if unexpected == 0 or total == 0:
        return True
    return (total - unexpected) / total >= mostly - _EPSILON


# -- results ------------------------------------------------------------------------------------------


def result(
    expectation: str,
    column: str | None,
    check: Expectation,
    *,
    unexpected: int,
    total: int,
    observed: Any = None,
    examples: list[Example] | None = None,
    details: dict[str, Any] | None = None,
    severity: Severity | None = None,
) -> ExpectationResult:
    """One expectation's result: met when the passing share reaches the check's ``mostly``."""
    return ExpectationResult(
        expectation=expectation,
        column=column,
        severity=severity or check.severity,
        success=_meets(unexpected, total, check.mostly),
        observed_value=json_safe(observed),
        unexpected_count=unexpected,
        unexpected_percent=round(100.0 * unexpected / total, 6) if total else 0.0,
        mostly=check.mostly,
        examples=examples or [],
        details=json_safe(details or {}),
    )


def _masked(
    expectation: str,
    view: ColumnView,
    spec: ColumnSpec,
    check: Expectation,
    mask: BoolMask,
    *,
    total: int,
    observed: Any = None,
    details: dict[str, Any] | None = None,
) -> ExpectationResult:
    """A row-level check: count the mask, and only when it fails look up the first examples."""
    unexpected = int(np.count_nonzero(mask))
    examples = _examples(view.raw, mask) if unexpected else []
    return result(
        expectation,
        spec.name,
        check,
        unexpected=unexpected,
        total=total,
        observed=observed,
        examples=examples,
        details=details,
    )


# -- table level --------------------------------------------------------------------------------------


def presence(contract: DataContract, names: list[str]) -> list[ExpectationResult]:
    """Required columns present, forbidden ones absent, and the policy on columns the contract lacks."""
    results: list[ExpectationResult] = []
    present = set(names)
    for spec in contract.columns:
        if spec.required.value:
            found = spec.name in present
            results.append(
                result(
                    "column.required",
                    spec.name,
                    spec.required,
                    unexpected=0 if found else 1,
                    total=1,
                    observed=found,
                )
            )
    forbidden = contract.forbidden_columns
    for name in forbidden.value:
        found = name in present
        results.append(result("column.forbidden", name, forbidden, unexpected=int(found), total=1, observed=found))
    extra = contract.extra_columns
    if extra.value != "allow":
        known = set(contract.column_names) | set(forbidden.value)
        extras = [n for n in names if n not in known]
        results.append(
            result(
                "table.extra_columns",
                None,
                extra,
                unexpected=len(extras),
                total=max(len(names), 1),
                observed=extras,
                severity=extra.effective_severity,
                details={"policy": extra.value},
            )
        )
    return results


def row_count(check: RowCountExpectation, rows: int) -> ExpectationResult:
    low = check.min if check.min is not None else 0
    high = check.max if check.max is not None else rows
    ok = low <= rows <= high
    details = {k: v for k, v in (("min", check.min), ("max", check.max)) if v is not None}
    return result("table.row_count", None, check, unexpected=0 if ok else 1, total=1, observed=rows, details=details)


def duplicate_rows(
    check: PolicyExpectation, rows: int, hasher: RowHasher, distinct_column: str | None
) -> ExpectationResult:
    """Rows equal to an earlier row; none at all when some column's values all differ (an id)."""
    if distinct_column is not None:
        return duplicate_rows_result(check, rows, 0, [], distinct_column)
    mask = hasher.repeated()
    hashes = hasher.hash
    unexpected = int(np.count_nonzero(mask))
    firsts = []
    for position in np.flatnonzero(mask)[:MAX_EXAMPLES]:
        first = int(np.argmax(hashes == hashes[position]))
        firsts.append((int(position) + 1, first + 1))
    return duplicate_rows_result(check, rows, unexpected, firsts, None)


def duplicate_rows_result(
    check: PolicyExpectation, rows: int, unexpected: int, firsts: list[tuple[int, int]], distinct_column: str | None
) -> ExpectationResult:
    """The duplicate-rows result from its counts: `firsts` pairs a repeated row with the first row it
    equals (both 1-based); a partitioned version's merge builds it the same way."""
    details: dict[str, Any] = {"policy": check.value}
    if distinct_column is not None:
        details["distinct_column"] = distinct_column
    examples = [Example(row=row, value=f"same as row {first}") for row, first in firsts[:MAX_EXAMPLES]]
    return result(
        "table.duplicate_rows",
        None,
        check,
        unexpected=unexpected,
        total=rows,
        observed=unexpected,
        examples=examples,
        severity=check.effective_severity,
        details=details,
    )


# -- per column ---------------------------------------------------------------------------------------


def column_checks(
    spec: ColumnSpec, view: ColumnView, rows: int, *, repeats: bool = True
) -> tuple[list[ExpectationResult], npt.NDArray[np.intp] | None]:
    """Every expectation of one declared column, and its value codes when the row hash can reuse them
    (a `unique` check ran and every cell parsed).

    `repeats=False`: a `unique` check's repeats are found by the caller (across a partitioned
    version's parts), so its result here is only its shape: no repeats counted, no codes.
    """
    results: list[ExpectationResult] = []
    kept_codes: npt.NDArray[np.intp] | None = None
    kind = spec.type.value
    non_null = rows - int(np.count_nonzero(view.null))
    type_details = {"type": kind}
    if view.bad is not None:
        results.append(_masked("column.type", view, spec, spec.type, view.bad, total=non_null, details=type_details))
    else:
        results.append(result("column.type", spec.name, spec.type, unexpected=0, total=non_null, details=type_details))
    if not spec.nullable.value:
        nulls = rows - non_null
        results.append(_masked("column.not_null", view, spec, spec.nullable, view.null, total=rows, observed=nulls))
    valid_count = view.valid_count
    for name, bound in (("min", spec.min), ("max", spec.max)):
        if bound is not None:
            results.append(_bound(name, view, spec, bound, valid_count))
    if spec.allowed_values is not None:
        allowed = spec.allowed_values.value
        results.append(
            _masked(
                "column.allowed_values",
                view,
                spec,
                spec.allowed_values,
                _not_allowed(view, allowed),
                total=valid_count,
                details={"allowed_values": allowed},
            )
        )
    if spec.regex is not None:
        pattern = spec.regex.value
        mask = _not_matching(view, pattern)
        results.append(
            _masked("column.regex", view, spec, spec.regex, mask, total=valid_count, details={"regex": pattern})
        )
    if spec.unique is not None and spec.unique.value and not repeats:
        results.append(result("column.unique", spec.name, spec.unique, unexpected=0, total=valid_count))
    elif spec.unique is not None and spec.unique.value:
        codes, mask = value_codes(view)
        if view.bad is None:
            kept_codes = codes
        distinct = int(codes.max(initial=-1)) + 1
        results.append(_masked("column.unique", view, spec, spec.unique, mask, total=valid_count, observed=distinct))
    return results, kept_codes


def _bound(name: str, view: ColumnView, spec: ColumnSpec, bound: BoundExpectation, total: int) -> ExpectationResult:
    details = {name: bound.value}
    if view.numbers is None:
        return result(f"column.{name}", spec.name, bound, unexpected=0, total=0, details=details)
    limit = _limit(bound.value, view.numbers.dtype)
    valid = view.valid
    if name == "min":
        mask = (view.numbers < limit) & valid
        observed = _reduce(np.min, view.numbers, valid)
    else:
        mask = (view.numbers > limit) & valid
        observed = _reduce(np.max, view.numbers, valid)
    unexpected = int(np.count_nonzero(mask))
    # Examples show the parsed value (-3, not the text '-3'): that is what was compared.
    return result(
        f"column.{name}",
        spec.name,
        bound,
        unexpected=unexpected,
        total=total,
        observed=observed,
        examples=_examples_of_values(view.numbers, mask) if unexpected else [],
        details=details,
    )


def distribution(item: DistributionExpectation, view: ColumnView) -> ExpectationResult:
    observed: float | None = None
    if view.numbers is not None and view.numbers.dtype.kind in "iufb":
        values = view.numbers[view.valid].astype(np.float64, copy=False)
        if values.size:
            if item.statistic == "mean":
                observed = float(np.mean(values))
            elif item.statistic == "std":
                observed = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
            else:
                observed = float(np.quantile(values, item.q if item.q is not None else 0.5))
    return distribution_result(item, observed)


def distribution_result(item: DistributionExpectation, observed: float | None) -> ExpectationResult:
    """A distribution check's result from its observed statistic (None: no value to compute it from)."""
    details: dict[str, Any] = {"statistic": item.statistic}
    details |= {k: v for k, v in (("q", item.q), ("min", item.min), ("max", item.max)) if v is not None}
    ok = (
        observed is not None
        and (item.min is None or observed >= item.min)
        and (item.max is None or observed <= item.max)
    )
    return result(
        f"distribution.{item.statistic}",
        item.column,
        item,
        unexpected=0 if ok else 1,
        total=1,
        observed=observed,
        details=details,
    )


def class_share(check: ShareExpectation, name: str, view: ColumnView) -> ExpectationResult:
    return class_share_result(check, name, class_counts(view))


def class_counts(view: ColumnView) -> list[tuple[str, int, int]]:
    """Each label class (its JSON text) with its count and its first row (1-based), in order of
    first appearance; unparseable cells count for no class."""
    codes, uniques = pd.factorize(view.raw, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.intp)
    if view.bad is not None:
        codes = np.where(view.bad, -1, codes)
    counted = codes >= 0
    counts = np.bincount(codes[counted], minlength=len(uniques))
    first = np.full(len(uniques), -1, dtype=np.intp)
    positions = np.flatnonzero(counted)
    # The first row of each code: written in reverse so the earliest row is written last.
    first[codes[positions[::-1]]] = positions[::-1]
    return [(str(json_safe(u)), int(c), int(f) + 1) for u, c, f in zip(uniques, counts, first, strict=True) if c > 0]


def class_share_result(check: ShareExpectation, name: str, classes: list[tuple[str, int, int]]) -> ExpectationResult:
    """The class-share result from each class's (text, count, first row) in order of first appearance."""
    labelled = sum(count for _, count, _ in classes)
    shares = {key: (float(count) / labelled, first) for key, count, first in classes}
    below = {k: share for k, (share, _) in shares.items() if share < check.value}
    examples = [Example(row=first, value=key) for key, (_, first) in shares.items() if key in below][:MAX_EXAMPLES]
    return result(
        "label.class_share",
        name,
        check,
        unexpected=len(below),
        total=len(shares),
        observed=min((share for share, _ in shares.values()), default=None),
        examples=examples,
        details={"min_share": check.value, "shares": {k: v for k, (v, _) in shares.items()}, "below": below},
    )


# -- value checks -------------------------------------------------------------------------------------


def _limit(value: int | float | datetime, dtype: np.dtype[Any]) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(value, "us")
    return value


def _reduce(function: Any, values: npt.NDArray[Any], valid: BoolMask) -> Any:
    if not valid.any():
        return None
    if values.dtype.kind == "M":
        return function(values[valid])
    initial = np.inf if function is np.min else -np.inf
    if values.dtype.kind in "iub":
        info = np.iinfo(np.int64)
        initial = info.max if function is np.min else info.min
        values = values.astype(np.int64, copy=False)
    return function(values, where=valid, initial=initial)


def _arrow_mask(array: pa.ChunkedArray | pa.Array) -> BoolMask:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _not_allowed(view: ColumnView, allowed: list[Any]) -> BoolMask:
    if view.codes is not None and view.categories is not None:
        ok = view.categories.astype("str").isin([str(v) for v in allowed])
        return _by_code(view.codes, np.asarray(ok, dtype=np.bool_))
    if view.text is not None:
        found = pc.is_in(view.text, value_set=pa.array([str(v) for v in allowed], pa.string()))
        return ~_arrow_mask(found) & view.valid
    if view.numbers is not None:
        return ~np.isin(view.numbers, np.asarray(allowed)) & view.valid
    return np.zeros(len(view.raw), dtype=np.bool_)


def _not_matching(view: ColumnView, pattern: str) -> BoolMask:
    anchored = f"^(?:{pattern})$"
    if view.codes is not None and view.categories is not None:
        labels = pa.array(view.categories.astype("str").to_numpy(), pa.string())
        ok = _arrow_mask(pc.match_substring_regex(labels, pattern=anchored))
        return _by_code(view.codes, ok)
    if view.text is not None:
        return ~_arrow_mask(pc.match_substring_regex(view.text, pattern=anchored)) & view.valid
    return np.zeros(len(view.raw), dtype=np.bool_)


def _by_code(codes: npt.NDArray[np.integer[Any]], ok: BoolMask) -> BoolMask:
    """Per-category verdicts spread to rows: one lookup per row, and null (-1) always passes."""
    lookup = np.append(~ok, False)
    return np.asarray(lookup[codes], dtype=np.bool_)


def _examples_of_values(values: npt.NDArray[Any], mask: BoolMask) -> list[Example]:
    positions = np.flatnonzero(mask)[:MAX_EXAMPLES]
    picked = values[positions]
    if picked.dtype.kind == "M":
        return [
            Example(row=int(p) + 1, value=json_safe(pd.Timestamp(v))) for p, v in zip(positions, picked, strict=True)
        ]
    return [Example(row=int(p) + 1, value=json_safe(v)) for p, v in zip(positions, picked.tolist(), strict=True)]


def _examples(raw: pd.Series, mask: BoolMask) -> list[Example]:
    positions = np.flatnonzero(mask)[:MAX_EXAMPLES]
    values = raw.iloc[positions].tolist()
    return [Example(row=int(p) + 1, value=json_safe(v)) for p, v in zip(positions, values, strict=True)]
