"""Checking a DataFrame against its contract: every expectation at once, vectorized over whole columns.

Each column is turned once into a typed view (`column_view`); every check on it (`checks`) is then a
numpy or Arrow kernel over the whole column. The views are built and dropped a few columns at a time
(one per worker thread), so the extra memory stays a few columns' worth whatever the width. Within
a column, text is parsed and values are hashed a slice at a time, and strings are checked for
uniqueness a part at a time (`duplicates`), so no step holds several column-sized temporaries.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeAlias

import pandas as pd

from mlops.contracts.checks import class_share, column_checks, distribution, duplicate_rows, presence, row_count
from mlops.contracts.column_view import column_view
from mlops.contracts.duplicates import HashPart, RowHasher
from mlops.contracts.model import DataContract, DistributionExpectation
from mlops.contracts.profile import ColumnProfile, profile_undeclared, profile_view
from mlops.contracts.reading import FileProblem, read_table, system_memory_pool
from mlops.contracts.report import ExpectationResult, FileProblemInfo, ValidationReport

_MAX_WORKERS = 4

# results, hash part, all values distinct, the column's profile
_Done: TypeAlias = tuple[list[ExpectationResult], HashPart | None, bool, ColumnProfile]


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


class _Validator:
    """One frame's checks: the table's, then each column's in column order, then the rows'."""

    def __init__(self, frame: pd.DataFrame, contract: DataContract) -> None:
        self.frame = frame
        self.contract = contract
        self.rows = len(frame)
        self.names = [str(c) for c in frame.columns]
        self.results: list[ExpectationResult] = []
        self.profiles: list[ColumnProfile] = []
        self.distinct_column: str | None = None  # the first column whose values are all set and different
        self.distinct_seen = False  # some job found such a column: the others need not hash theirs
        self.distributions: dict[str, list[DistributionExpectation]] = {}
        for item in contract.distributions:
            self.distributions.setdefault(item.column, []).append(item)

    def run(self, file_name: str) -> ValidationReport:
        self.results.extend(presence(self.contract, self.names))
        hasher = RowHasher(self.rows) if self.contract.duplicate_rows.value != "allow" else None
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
        if self.contract.row_count is not None:
            self.results.append(row_count(self.contract.row_count, self.rows))
        if hasher is not None:
            self.results.append(duplicate_rows(self.contract.duplicate_rows, self.rows, hasher, self.distinct_column))
        return ValidationReport.build(
            dataset=self.contract.dataset,
            contract_version=self.contract.version,
            file_name=file_name,
            rows=self.rows,
            column_names=self.names,
            results=self.results,
            profiles=self.profiles,
        )

    def _consume(self, name: str, job: Future[_Done], hasher: RowHasher | None) -> None:
        results, part, distinct, profile = job.result()
        self.results.extend(results)
        self.profiles.append(profile)
        if distinct and self.distinct_column is None:
            self.distinct_column = name  # in column order, whichever job finished first
        if hasher is not None and part is not None and self.distinct_column is None:
            hasher.add(part)

    def _column_job(self, name: str, series: pd.Series, hashing: bool) -> _Done:
        """Every check of one column; jobs share no mutable state but the `distinct_seen` flag."""
        spec = self.contract.column(name)
        if spec is None:
            part = RowHasher.series_part(series) if hashing and not self.distinct_seen else None
            return [], part, False, profile_undeclared(name, series)
        view = column_view(series, spec)
        profile = profile_view(name, spec.type.value, view)
        results, codes = column_checks(spec, view, self.rows)
        results += [distribution(item, view) for item in self.distributions.get(name, [])]
        share = self.contract.label_min_class_share
        if name == self.contract.label and share is not None:
            results.append(class_share(share, name, view))
        distinct = bool(
            hashing and codes is not None and codes.size and codes.min() == 0 and codes.max() == codes.size - 1
        )
        if distinct:
            # Every row has its own value here (an id column): no two rows can be equal, so the
            # other columns need not be hashed at all.
            self.distinct_seen = True
        if not hashing or self.distinct_seen:
            return results, None, distinct, profile
        return results, RowHasher.view_part(view, codes), distinct, profile
