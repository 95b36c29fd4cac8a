"""Checking a DataFrame against its contract: every expectation at once, vectorized over whole columns.

Each column is turned once into a typed view (numbers, datetimes, Arrow text or category codes, with
masks of null and unparseable cells); every check on it is then a numpy or Arrow kernel over the
whole column, and examples are looked up only for a check that failed. The views are built and
dropped a few columns at a time (one per worker thread), so the extra memory stays a few columns'
worth whatever the width. Within a column, text is parsed and values are hashed a slice at a time,
and strings are checked for uniqueness a part at a time, so no step holds several column-sized
temporaries.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops.contracts.coercion import SLICE_ROWS, BoolMask, as_arrow_strings, parse_strings
from mlops.contracts.model import (
    BoundExpectation,
    ColumnSpec,
    DataContract,
    DistributionExpectation,
    Expectation,
    Severity,
)
from mlops.contracts.reading import FileProblem, read_table, system_memory_pool
from mlops.contracts.report import (
    MAX_EXAMPLES,
    Example,
    ExpectationResult,
    FileProblemInfo,
    ValidationReport,
    json_safe,
)

_EPSILON = 1e-12
_MAX_WORKERS = 4
_PART_ROWS = 1 << 16  # rows per part when a text column's uniqueness is checked in parts
_MAX_PARTS = 64


@dataclass
class _View:
    """One column as the checks need it; ``valid`` marks cells that hold a value of the declared type."""

    raw: pd.Series
    null: BoolMask
    bad: BoolMask | None = None
    numbers: npt.NDArray[Any] | None = None  # int64, float64, bool or datetime64[us]
    text: pa.ChunkedArray | None = None
    text_is_raw: bool = False  # text holds the column's own strings (not a rendering of other values)
    codes: npt.NDArray[np.integer[Any]] | None = None  # categorical codes, -1 for null
    categories: pd.Index | None = None
    _valid: BoolMask | None = field(default=None, repr=False)

    @property
    def valid(self) -> BoolMask:
        if self._valid is None:
            self._valid = ~self.null if self.bad is None else ~(self.null | self.bad)
        return self._valid

    @property
    def valid_count(self) -> int:
        return int(np.count_nonzero(self.valid))


def validate(frame: pd.DataFrame, contract: DataContract, *, file_name: str = "<frame>") -> ValidationReport:
    """Check every expectation of ``contract`` on ``frame``; row numbers in examples are 1-based positions."""
    with system_memory_pool():
        return _Validator(frame, contract).run(file_name)


def check_file(data: bytes, *, filename: str, contract: DataContract) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Read and validate an upload; a file problem becomes a rejected report instead of an exception."""
    try:
        frame = read_table(data, filename=filename, contract=contract)
    except FileProblem as problem:
        info = FileProblemInfo(
            code=problem.code, message=problem.message, line=problem.line, byte_offset=problem.byte_offset
        )
        report = ValidationReport.build(
            dataset=contract.dataset,
            contract_version=contract.version,
            file_name=filename,
            rows=0,
            column_names=[],
            results=[],
            file_problem=info,
        )
        return report, None
    return validate(frame, contract, file_name=filename), frame


def _meets(unexpected: int, total: int, mostly: float) -> bool:
    """Success when the passing fraction is at least ``mostly`` (an empty check passes)."""
    if unexpected == 0 or total == 0:
        return True
    return (total - unexpected) / total >= mostly - _EPSILON


_Part: TypeAlias = npt.NDArray[np.uint64] | pd.Series  # a column's share of the row hash, or text to fold in later
_Done: TypeAlias = tuple[list[ExpectationResult], _Part | None, bool]  # results, hash part, all values distinct


class _Validator:
    def __init__(self, frame: pd.DataFrame, contract: DataContract) -> None:
        self.frame = frame
        self.contract = contract
        self.rows = len(frame)
        self.names = [str(c) for c in frame.columns]
        self.results: list[ExpectationResult] = []
        self.codes: dict[str, npt.NDArray[np.intp]] = {}
        self.distinct_column: str | None = None  # the first column whose values are all set and different
        self.distinct_seen = False  # some job found such a column: the others need not hash theirs
        self.distributions: dict[str, list[DistributionExpectation]] = {}
        for item in contract.distributions:
            self.distributions.setdefault(item.column, []).append(item)

    def run(self, file_name: str) -> ValidationReport:
        self._presence()
        hasher = _RowHasher(self.rows) if self.contract.duplicate_rows.value != "allow" else None
        series = [self.frame.iloc[:, position] for position in range(len(self.names))]
        jobs = [(name, column, hasher is not None) for name, column in zip(self.names, series, strict=True)]
        del series
        # Columns are independent and their kernels (numpy, Arrow) release the GIL: a few at a time in
        # threads, consumed in column order, so results and the row hash do not depend on timing.
        workers = max(1, min(len(jobs), os.cpu_count() or 1, _MAX_WORKERS))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[tuple[str, Future[_Done]]] = deque()
            for job in jobs:
                pending.append((job[0], pool.submit(self._column_job, *job)))
                if len(pending) >= workers:
                    self._consume(*pending.popleft(), hasher)
            while pending:
                self._consume(*pending.popleft(), hasher)
        self._row_count()
        if hasher is not None:
            self._duplicates(hasher)
        return ValidationReport.build(
            dataset=self.contract.dataset,
            contract_version=self.contract.version,
            file_name=file_name,
            rows=self.rows,
            column_names=self.names,
            results=self.results,
        )

    def _consume(self, name: str, job: Future[_Done], hasher: _RowHasher | None) -> None:
        results, part, distinct = job.result()
        self.results.extend(results)
        if distinct and self.distinct_column is None:
            self.distinct_column = name  # in column order, whichever job finished first
        if hasher is not None and part is not None and self.distinct_column is None:
            hasher.add(part)

    def _column_job(self, name: str, series: pd.Series, hashing: bool) -> _Done:
        """Every check of one column, in a validator of its own so that jobs share no mutable state."""
        spec = self.contract.column(name)
        if spec is None:
            return [], _RowHasher.series_part(series) if hashing and not self.distinct_seen else None, False
        job = _Validator(self.frame, self.contract)
        view = _view(series, spec)
        job._column(spec, view)
        for item in self.distributions.get(name, []):
            job._distribution(item, view)
        if name == self.contract.label and self.contract.label_min_class_share is not None:
            job._class_share(name, view)
        codes = job.codes.get(name)
        distinct = bool(
            hashing and codes is not None and codes.size and codes.min() == 0 and codes.max() == codes.size - 1
        )
        if distinct:
            # Every row has its own value here (an id column): no two rows can be equal, so the
            # other columns need not be hashed at all.
            self.distinct_seen = True
        if not hashing or self.distinct_seen:
            return job.results, None, distinct
        return job.results, _RowHasher.view_part(view, codes), distinct

    # -- results ------------------------------------------------------------------------------------

    def _add(
        self,
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
    ) -> None:
        self.results.append(
            ExpectationResult(
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
        )

    def _masked(
        self,
        expectation: str,
        view: _View,
        spec: ColumnSpec,
        check: Expectation,
        mask: BoolMask,
        *,
        total: int,
        observed: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """A row-level check: count the mask, and only when it fails look up the first examples."""
        unexpected = int(np.count_nonzero(mask))
        examples = _examples(view.raw, mask) if unexpected else []
        self._add(
            expectation,
            spec.name,
            check,
            unexpected=unexpected,
            total=total,
            observed=observed,
            examples=examples,
            details=details,
        )

    # -- table level --------------------------------------------------------------------------------

    def _presence(self) -> None:
        present = set(self.names)
        for spec in self.contract.columns:
            if spec.required.value:
                found = spec.name in present
                self._add(
                    "column.required",
                    spec.name,
                    spec.required,
                    unexpected=0 if found else 1,
                    total=1,
                    observed=found,
                )
        forbidden = self.contract.forbidden_columns
        for name in forbidden.value:
            found = name in present
            self._add("column.forbidden", name, forbidden, unexpected=int(found), total=1, observed=found)
        extra = self.contract.extra_columns
        if extra.value != "allow":
            known = set(self.contract.column_names) | set(forbidden.value)
            extras = [n for n in self.names if n not in known]
            self._add(
                "table.extra_columns",
                None,
                extra,
                unexpected=len(extras),
                total=max(len(self.names), 1),
                observed=extras,
                severity=extra.effective_severity,
                details={"policy": extra.value},
            )

    def _row_count(self) -> None:
        check = self.contract.row_count
        if check is None:
            return
        low = check.min if check.min is not None else 0
        high = check.max if check.max is not None else self.rows
        ok = low <= self.rows <= high
        details = {k: v for k, v in (("min", check.min), ("max", check.max)) if v is not None}
        self._add(
            "table.row_count", None, check, unexpected=0 if ok else 1, total=1, observed=self.rows, details=details
        )

    def _duplicates(self, hasher: _RowHasher) -> None:
        check = self.contract.duplicate_rows
        if self.distinct_column is not None:
            details = {"policy": check.value, "distinct_column": self.distinct_column}
            severity = check.effective_severity
            self._add(
                "table.duplicate_rows",
                None,
                check,
                unexpected=0,
                total=self.rows,
                observed=0,
                details=details,
                severity=severity,
            )
            return
        mask = hasher.repeated()
        hashes = hasher.hash
        unexpected = int(np.count_nonzero(mask))
        examples = []
        for position in np.flatnonzero(mask)[:MAX_EXAMPLES]:
            first = int(np.argmax(hashes == hashes[position]))
            examples.append(Example(row=int(position) + 1, value=f"same as row {first + 1}"))
        self._add(
            "table.duplicate_rows",
            None,
            check,
            unexpected=unexpected,
            total=self.rows,
            observed=unexpected,
            examples=examples,
            severity=check.effective_severity,
            details={"policy": check.value},
        )

    # -- per column ---------------------------------------------------------------------------------

    def _column(self, spec: ColumnSpec, view: _View) -> None:
        kind = spec.type.value
        non_null = self.rows - int(np.count_nonzero(view.null))
        type_details = {"type": kind}
        if view.bad is not None:
            self._masked("column.type", view, spec, spec.type, view.bad, total=non_null, details=type_details)
        else:
            self._add("column.type", spec.name, spec.type, unexpected=0, total=non_null, details=type_details)
        if not spec.nullable.value:
            nulls = self.rows - non_null
            self._masked("column.not_null", view, spec, spec.nullable, view.null, total=self.rows, observed=nulls)
        valid_count = view.valid_count
        for name, bound in (("min", spec.min), ("max", spec.max)):
            if bound is not None:
                self._bound(name, view, spec, bound, valid_count)
        if spec.allowed_values is not None:
            allowed = spec.allowed_values.value
            self._masked(
                "column.allowed_values",
                view,
                spec,
                spec.allowed_values,
                _not_allowed(view, allowed),
                total=valid_count,
                details={"allowed_values": allowed},
            )
        if spec.regex is not None:
            pattern = spec.regex.value
            mask = _not_matching(view, pattern)
            self._masked("column.regex", view, spec, spec.regex, mask, total=valid_count, details={"regex": pattern})
        if spec.unique is not None and spec.unique.value:
            codes, mask = self._factorized(spec.name, view)
            distinct = int(codes.max(initial=-1)) + 1
            self._masked("column.unique", view, spec, spec.unique, mask, total=valid_count, observed=distinct)

    def _factorized(self, name: str, view: _View) -> tuple[npt.NDArray[np.intp], BoolMask]:
        """Codes of equal values (-1 for null or unparseable cells) and the rows that repeat an earlier one.

        Codes are kept for the row hash when every cell parsed. Strings are compared as strings, other
        values as pandas compares them (0.0 equals -0.0, whose texts differ).
        """
        if view.text is not None and view.text_is_raw and view.bad is None:
            codes, repeated = _text_codes(view.text)
            self.codes[name] = codes
            return codes, repeated
        codes = np.asarray(pd.factorize(view.raw, use_na_sentinel=True)[0], dtype=np.intp)
        if view.bad is None:
            self.codes[name] = codes
            return codes, _repeats(codes)
        # Every cell of an unparseable value is unparseable, so dropping them keeps first-appearance order.
        codes = np.where(view.bad, -1, codes)
        return codes, _repeats(codes)

    def _bound(self, name: str, view: _View, spec: ColumnSpec, bound: BoundExpectation, total: int) -> None:
        details = {name: bound.value}
        if view.numbers is None:
            self._add(f"column.{name}", spec.name, bound, unexpected=0, total=0, details=details)
            return
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
        self._add(
            f"column.{name}",
            spec.name,
            bound,
            unexpected=unexpected,
            total=total,
            observed=observed,
            examples=_examples_of_values(view.numbers, mask) if unexpected else [],
            details=details,
        )

    def _distribution(self, item: DistributionExpectation, view: _View) -> None:
        details: dict[str, Any] = {"statistic": item.statistic}
        details |= {k: v for k, v in (("q", item.q), ("min", item.min), ("max", item.max)) if v is not None}
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
        ok = (
            observed is not None
            and (item.min is None or observed >= item.min)
            and (item.max is None or observed <= item.max)
        )
        self._add(
            f"distribution.{item.statistic}",
            item.column,
            item,
            unexpected=0 if ok else 1,
            total=1,
            observed=observed,
            details=details,
        )

    def _class_share(self, name: str, view: _View) -> None:
        check = self.contract.label_min_class_share
        assert check is not None
        codes, uniques = pd.factorize(view.raw, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.intp)
        if view.bad is not None:
            codes = np.where(view.bad, -1, codes)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        labelled = int(counts.sum())
        shares = {
            str(json_safe(u)): (float(c) / labelled, code)
            for code, (u, c) in enumerate(zip(uniques, counts, strict=True))
            if c > 0
        }
        below = {k: share for k, (share, _) in shares.items() if share < check.value}
        examples = [
            Example(row=int(np.argmax(codes == code)) + 1, value=key)
            for key, (_, code) in shares.items()
            if key in below
        ][:MAX_EXAMPLES]
        self._add(
            "label.class_share",
            name,
            check,
            unexpected=len(below),
            total=len(shares),
            observed=min((share for share, _ in shares.values()), default=None),
            examples=examples,
            details={"min_share": check.value, "shares": {k: v for k, (v, _) in shares.items()}, "below": below},
        )


# -- views -------------------------------------------------------------------------------------------


def parsed_column(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    """A column as its checks saw it: the values validation parsed, in a plain dtype, to be stored.

    An int, float, bool or datetime column comes back as int64 (float64 with NaN when some cell is
    missing), float64, nullable boolean or datetime64[us] (UTC, NaT when missing). A cell that is null,
    or that did not parse as the declared type (allowed when the type check has `mostly` below 1),
    is missing. Other kinds, and columns already in such a dtype, are returned unchanged.
    """
    kind = spec.type.value
    dtype = series.dtype
    if kind not in ("int", "float", "bool", "datetime"):
        return series
    plain = isinstance(dtype, np.dtype) and (
        (kind == "int" and dtype.kind in "iu")
        or (kind == "float" and dtype.kind == "f")
        or (kind == "bool" and dtype.kind == "b")
        or (kind == "datetime" and dtype.kind == "M")
    )
    if plain:
        return series
    view = _view(series, spec)
    missing = ~view.valid
    rows = len(series)
    if kind == "datetime":
        stamps = np.full(rows, np.datetime64("NaT"), dtype="datetime64[us]")
        if view.numbers is not None:
            stamps[~missing] = np.asarray(view.numbers, dtype="datetime64[us]")[~missing]
        return pd.Series(stamps, index=series.index, name=series.name, copy=False)
    if kind == "bool":
        flags = np.zeros(rows, dtype=np.bool_)
        if view.numbers is not None:
            flags[~missing] = np.asarray(view.numbers, dtype=np.bool_)[~missing]
        values = pd.arrays.BooleanArray(flags, missing.copy())
        return pd.Series(values, index=series.index, name=series.name, copy=False)
    if kind == "int" and not missing.any() and view.numbers is not None:
        return pd.Series(np.asarray(view.numbers, dtype=np.int64), index=series.index, name=series.name, copy=False)
    numbers = np.full(rows, np.nan, dtype=np.float64)
    if view.numbers is not None:
        numbers[~missing] = np.asarray(view.numbers, dtype=np.float64)[~missing]
    return pd.Series(numbers, index=series.index, name=series.name, copy=False)


def _view(series: pd.Series, spec: ColumnSpec) -> _View:
    kind = spec.type.value
    if isinstance(series.dtype, pd.CategoricalDtype) and kind not in ("string", "category"):
        series = pd.Series(np.asarray(series), name=series.name, copy=False)  # the categories' own values
    if kind in ("int", "float"):
        return _numeric_view(series, kind)
    if kind == "bool":
        return _bool_view(series)
    if kind == "datetime":
        return _datetime_view(series, spec.format)
    return _text_view(series, kind)


def _nulls(series: pd.Series) -> BoolMask:
    return np.asarray(series.isna().to_numpy(), dtype=np.bool_)


def _from_text(series: pd.Series, kind: str, fmt: str | None = None) -> _View | None:
    """A text column of a typed kind: convert vectorized, keeping which cells did not parse.

    Null tokens ("NA", "") count as null even in a frame that did not come from the reader.
    """
    text = as_arrow_strings(series)
    if text is None:
        return None
    parsed = parse_strings(text, kind, fmt)
    return _View(raw=series, null=parsed.null, bad=parsed.bad, numbers=parsed.numbers)


def _all_bad(series: pd.Series) -> _View:
    null = _nulls(series)
    return _View(raw=series, null=null, bad=~null)


def _numeric_view(series: pd.Series, kind: str) -> _View:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        values = series.to_numpy()
        return _View(raw=series, null=np.zeros(len(series), dtype=np.bool_), numbers=values)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        null = np.isnan(values)
        bad = None
        if kind == "int":
            with np.errstate(invalid="ignore"):
                bad_mask = ~null & ~(np.isfinite(values) & (values == np.trunc(values)))
            bad = bad_mask if bad_mask.any() else None
        return _View(raw=series, null=null, bad=bad, numbers=values)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        # Nullable extension arrays (Int64, Float64, boolean, Arrow numerics).
        null = _nulls(series)
        target = np.float64 if pd.api.types.is_float_dtype(dtype) else np.int64
        values = series.to_numpy(dtype=target, na_value=0)
        bad = None
        if kind == "int" and target is np.float64:
            with np.errstate(invalid="ignore"):
                bad_mask = ~null & ~(np.isfinite(values) & (values == np.trunc(values)))
            bad = bad_mask if bad_mask.any() else None
        return _View(raw=series, null=null, bad=bad, numbers=values)
    view = _from_text(series, kind)
    if view is not None:
        return view
    if pd.api.types.is_object_dtype(dtype):
        # Mixed Python objects: the one path that converts in Python; readers never produce it.
        numbers = pd.to_numeric(series, errors="coerce")
        null = _nulls(series)
        bad = ~null & np.asarray(numbers.isna().to_numpy(), dtype=np.bool_)
        values = numbers.to_numpy(dtype=np.float64, na_value=0.0)
        return _View(raw=series, null=null, bad=bad if bad.any() else None, numbers=values)
    return _all_bad(series)


def _bool_view(series: pd.Series) -> _View:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        null = _nulls(series)
        values = series.to_numpy(dtype=np.bool_, na_value=False)
        return _View(raw=series, null=null, numbers=values)
    if pd.api.types.is_numeric_dtype(dtype):
        null = _nulls(series)
        values = series.to_numpy(dtype=np.float64, na_value=0.0)
        bad_mask = ~null & (values != 0) & (values != 1)
        return _View(raw=series, null=null, bad=bad_mask if bad_mask.any() else None, numbers=values == 1)
    view = _from_text(series, "bool")
    return view if view is not None else _all_bad(series)


def _datetime_view(series: pd.Series, fmt: str | None) -> _View:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return _View(raw=series, null=_nulls(series), numbers=utc.to_numpy(dtype="datetime64[us]"))
    if pd.api.types.is_datetime64_dtype(dtype):
        return _View(raw=series, null=_nulls(series), numbers=series.to_numpy(dtype="datetime64[us]"))
    view = _from_text(series, "datetime", fmt)
    if view is not None:
        return view
    if pd.api.types.is_object_dtype(dtype):
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        null = _nulls(series)
        bad = ~null & np.asarray(parsed.isna().to_numpy(), dtype=np.bool_)
        numbers = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        return _View(raw=series, null=null, bad=bad if bad.any() else None, numbers=numbers)
    return _all_bad(series)


def _text_view(series: pd.Series, kind: str) -> _View:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes.to_numpy())
        return _View(raw=series, null=codes < 0, codes=codes, categories=series.cat.categories)
    text = as_arrow_strings(series)
    if text is not None:
        null = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=np.bool_)
        return _View(raw=series, null=null, text=text, text_is_raw=True)
    if kind == "category" or not pd.api.types.is_object_dtype(dtype):
        # A category of numbers is checked through its text; a string column of numbers is not text.
        if kind == "string":
            return _all_bad(series)
        null = _nulls(series)
        text = pa.chunked_array([pa.array(series.astype("str").to_numpy(), pa.string(), mask=null)])
        return _View(raw=series, null=null, text=text)
    # Mixed Python objects: flag the cells that are not strings (a Python pass; readers never produce it).
    null = _nulls(series)
    is_text = np.fromiter((isinstance(v, str) for v in series.to_numpy()), dtype=np.bool_, count=len(series))
    bad = ~null & ~is_text
    text = pa.chunked_array([pa.array(np.where(is_text, series.to_numpy(), None), pa.string())])
    return _View(raw=series, null=null, bad=bad if bad.any() else None, text=text)


# -- checks --------------------------------------------------------------------------------------------


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


def _not_allowed(view: _View, allowed: list[Any]) -> BoolMask:
    if view.codes is not None and view.categories is not None:
        ok = view.categories.astype("str").isin([str(v) for v in allowed])
        return _by_code(view.codes, np.asarray(ok, dtype=np.bool_))
    if view.text is not None:
        found = pc.is_in(view.text, value_set=pa.array([str(v) for v in allowed], pa.string()))
        return ~_arrow_mask(found) & view.valid
    if view.numbers is not None:
        return ~np.isin(view.numbers, np.asarray(allowed)) & view.valid
    return np.zeros(len(view.raw), dtype=np.bool_)


def _not_matching(view: _View, pattern: str) -> BoolMask:
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


def _text_codes(text: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], BoolMask]:
    """Codes of equal strings (0 to distinct - 1, -1 for null) and the rows that repeat an earlier one.

    One hash table over a million distinct strings (``pd.factorize``, Arrow's ``dictionary_encode``)
    peaks at 70 to 90 MB. Equal strings have the same length and the same last characters, so rows
    are split into parts by those, and each part is encoded on its own: the tables are a part's size.
    Within a part the rows keep their order, so "repeats an earlier row" is decided there exactly.
    """
    rows = len(text)
    parts = min(_MAX_PARTS, -(-rows // _PART_ROWS))
    key = _part_keys(text, parts) if parts > 1 else None
    if key is None:
        return _encoded_codes(text)
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=parts))))
    del key
    codes = np.empty(rows, dtype=np.intp)
    repeated = np.empty(rows, dtype=np.bool_)
    distinct = 0
    for part in range(parts):
        positions = order[bounds[part] : bounds[part + 1]]
        if positions.size == 0:
            continue
        part_codes, part_repeated = _encoded_codes(text.take(positions))
        codes[positions] = np.where(part_codes >= 0, part_codes + distinct, -1)
        repeated[positions] = part_repeated
        distinct += int(part_codes.max(initial=-1)) + 1
    return codes, repeated


def _part_keys(text: pa.ChunkedArray, parts: int) -> npt.NDArray[np.uint8] | None:
    """A part for each row from its string's length and last three bytes (read from the Arrow buffers,
    a slice at a time); None when that does not split the rows (most would land in one part)."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    key = np.empty(len(text), dtype=np.uint8)
    start = 0
    for chunk in text.chunks:
        size = len(chunk)
        if size == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[chunk.offset : chunk.offset + size + 1]
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
        data = data if data.size else np.zeros(1, dtype=np.uint8)
        for low in range(0, size, SLICE_ROWS):
            high = min(low + SLICE_ROWS, size)
            ends = offsets[low + 1 : high + 1].astype(np.int64)
            lengths = ends - offsets[low:high].astype(np.int64)
            mixed = lengths.copy()
            for back in (1, 2, 3):  # only the string's own bytes: a shorter one reads no neighbour's
                byte = data[np.clip(ends - back, 0, data.size - 1)]
                mixed = mixed * 31 + np.where(lengths >= back, byte, 0)
            key[start + low : start + high] = mixed % parts
        start += size
    if np.bincount(key, minlength=parts).max() > len(key) // 2:
        return None
    return key


def _encoded_codes(text: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], BoolMask]:
    """Codes by first appearance (-1 for null) of Arrow strings, and the rows that repeat an earlier one.

    The chunks of an encoded chunked array share one dictionary, so their indices are the codes.
    """
    codes = np.empty(len(text), dtype=np.intp)
    start = 0
    for chunk in pc.dictionary_encode(text).chunks:
        codes[start : start + len(chunk)] = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
        start += len(chunk)
    return codes, _repeats(codes)


def _repeats(codes: npt.NDArray[np.integer[Any]]) -> BoolMask:
    """Rows whose value appeared before: factorize numbers values by first appearance, so a row repeats
    exactly when its code is not above every code before it."""
    if codes.size == 0:
        return np.zeros(0, dtype=np.bool_)
    running = np.maximum.accumulate(codes)
    previous = np.empty_like(running)
    previous[0] = -1
    previous[1:] = running[:-1]
    return (codes >= 0) & (codes <= previous)


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


class _RowHasher:
    """A 64-bit hash per row, folded column by column, to find duplicate rows without comparing rows.

    Typed columns are hashed from their parsed values (so "1.0" and "1" are the same value). Text is
    costly to hash, so it is folded in last and only for the rows that the other columns leave tied:
    with one numeric or time column that varies, that is few rows or none. With 64 bits, a false
    duplicate among a million rows has a probability of about 3e-8.
    """

    _NULL = np.uint64(0x9E3779B97F4A7C15)
    _BAD = np.uint64(0xC2B2AE3D27D4EB4F)

    def __init__(self, rows: int) -> None:
        self.hash = np.full(rows, 0x345678, dtype=np.uint64)
        self.multiplier = 1000003
        self.deferred: list[pd.Series] = []

    @staticmethod
    def series_part(series: pd.Series) -> _Part:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return _hash_codes(np.asarray(series.cat.codes.to_numpy()))
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iufbM":
            values = series.to_numpy()
            return _hash_values(values)
        return series

    @staticmethod
    def view_part(view: _View, codes: npt.NDArray[np.intp] | None) -> _Part:
        if view.codes is not None:
            return _hash_codes(view.codes)
        if codes is not None:  # already computed for a uniqueness check: as cheap as a number
            return _hash_codes(codes)
        if view.numbers is None:
            return view.raw
        column = _hash_values(view.numbers)
        column[view.null] = _RowHasher._NULL
        if view.bad is not None:
            bad_codes, _ = pd.factorize(view.raw[view.bad], use_na_sentinel=True)
            column[view.bad] = _hash_codes(bad_codes) ^ _RowHasher._BAD
        return column

    def add(self, part: _Part) -> None:
        if isinstance(part, pd.Series):
            self.deferred.append(part)
        else:
            self._fold(self.hash, part)

    def _fold(self, target: npt.NDArray[np.uint64], column: npt.NDArray[np.uint64]) -> None:
        with np.errstate(over="ignore"):
            target ^= column
            target *= np.uint64(self.multiplier)
        self.multiplier = (self.multiplier * 3 + 82520) % (1 << 63)

    def repeated(self) -> BoolMask:
        """Rows equal to an earlier row. Only rows tied on the cheap columns get their text hashed."""
        found = _sorted_repeats(self.hash)
        if found is None:
            return np.zeros(self.hash.size, dtype=np.bool_)
        repeated, tied = found
        if not self.deferred:
            return repeated
        del repeated
        rows = np.flatnonzero(tied)
        del tied
        subset = self.hash[rows]
        for series in self.deferred:
            text_codes, _ = pd.factorize(series.iloc[rows], use_na_sentinel=True)
            self._fold(subset, _hash_codes(text_codes))
        self.hash[rows] = subset
        self.deferred = []
        mask = np.zeros(self.hash.size, dtype=np.bool_)
        found = _sorted_repeats(subset)
        if found is not None:
            mask[rows] = found[0]  # rows are in file order, so "earlier" is kept
        return mask


def _sorted_repeats(values: npt.NDArray[Any]) -> tuple[BoolMask, BoolMask] | None:
    """Rows equal to an earlier row, and rows equal to any other; None when all values differ.

    A stable sort puts equal values side by side in row order, so every one after the first of a run
    repeats an earlier row. It needs two arrays of the values' size where a hash table of a million
    64-bit hashes (``pd.factorize``) peaks at about 60 MB, and takes about as long.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    same = ordered[1:] == ordered[:-1]
    del ordered
    if not same.any():
        return None
    repeated = np.zeros(values.size, dtype=np.bool_)
    repeated[order[1:][same]] = True
    tied = repeated.copy()
    tied[order[:-1][same]] = True
    return repeated, tied


def _hash_values(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """``pd.util.hash_array`` (an elementwise hash) a slice at a time, so its temporaries stay small."""
    data = values.view(np.int64) if values.dtype.kind == "M" else values
    out = np.empty(data.size, dtype=np.uint64)
    for start in range(0, data.size, SLICE_ROWS):
        out[start : start + SLICE_ROWS] = pd.util.hash_array(data[start : start + SLICE_ROWS])
    return out


def _hash_codes(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint64]:
    out = np.empty(codes.size, dtype=np.uint64)
    for start in range(0, codes.size, SLICE_ROWS):
        out[start : start + SLICE_ROWS] = pd.util.hash_array(np.asarray(codes[start : start + SLICE_ROWS], np.int64))
    return out
